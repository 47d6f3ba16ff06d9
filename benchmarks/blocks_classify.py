"""A small classification check of the drop-in blocks outside SR: texture patches, 3 seeds, 1 CPU thread.

    python benchmarks/blocks_classify.py --markdown

Data (ships offline): scikit-image's bundled texture photos ``brick``, ``grass`` and ``gravel`` (512x512,
grey), one class each. Training patches are cut from the top half of each photo, test patches from the
bottom half (disjoint pixels); every patch is standardised (zero mean, unit variance), so brightness
and contrast tell nothing and the network has to use texture. The patches are the same for every seed;
a seed sets the initialisation and the batch order.

Network: stem conv3x3 1 -> C, ReLU, body(C, 2 blocks), MaxPool2d(2), body(C, 2 blocks), MaxPool2d(2),
global average, Linear(C, 3). The variants change one thing each:

* ``plain``: the bodies are ResBlocks (conv3x3 - ReLU - conv3x3 + identity; ``make_body("plain")``);
* ``adapool``: plain, then ``adaunpool.replace_pooling`` (the max pools become AdaPool2d);
* ``ic-edo``: plain, its 3x3 convs made 5x5 supernet convs (``make_supernet``, D = 2), trained the same
  number of steps, then ``edo_convert`` on the training patches picks each channel's pair, and a fresh
  plain network gets those pairs (``replace_conv(net, patterns)``) and is trained (IC-Conv's recipe);
* ``ic-fixed``: plain with ``replace_conv(net, default_dilations(C, 2))``: the four pairs of 1..2
  on equal runs of channels, no search (what the search adds over a fixed mix);
* ``ds`` / ``ds2``: the bodies are ``make_body("ds")`` / ``make_body("ds2")`` (dense weighted normalised
  shortcuts, ChannelNorm).

Every variant trains with the same steps, batch, Adam learning rate and cosine schedule; the test
accuracy is measured once, after the last step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import adaunpool as au  # noqa: E402
from _machine import cpu_model, loadavg  # noqa: E402
from inter4k.models.layers import (InceptionConv2d, count_macs, default_dilations, edo_convert,  # noqa: E402
                                   make_body, make_supernet, replace_conv)

TEXTURES = ("brick", "grass", "gravel")
VARIANTS = ("plain", "adapool", "ic-edo", "ic-fixed", "ds", "ds2")


def patches(patch: int, train_per_class: int, test_per_class: int, seed: int = 0):
    """(x_train, y_train, x_test, y_test): standardised (N, 1, patch, patch) float32 patches and labels."""
    import skimage.data

    rng = np.random.default_rng(seed)
    sets = {"train": ([], []), "test": ([], [])}
    for label, name in enumerate(TEXTURES):
        img = getattr(skimage.data, name)().astype(np.float32)
        half = img.shape[0] // 2
        for split, rows, n in (("train", (0, half), train_per_class), ("test", (half, img.shape[0]), test_per_class)):
            ys = rng.integers(rows[0], rows[1] - patch + 1, n)
            xs = rng.integers(0, img.shape[1] - patch + 1, n)
            for y, x in zip(ys, xs):
                p = img[y:y + patch, x:x + patch]
                sets[split][0].append((p - p.mean()) / (p.std() + 1e-6))
                sets[split][1].append(label)
    out = []
    for split in ("train", "test"):
        out.append(torch.from_numpy(np.stack(sets[split][0]))[:, None])
        out.append(torch.tensor(sets[split][1]))
    return out


class Classifier(nn.Module):
    def __init__(self, channels: int, body: str, blocks: int = 2, classes: int = len(TEXTURES)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU())
        self.stage1 = make_body(body, channels, blocks)
        self.pool1 = nn.MaxPool2d(2)
        self.stage2 = make_body(body, channels, blocks)
        self.pool2 = nn.MaxPool2d(2)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.pool2(self.stage2(self.pool1(self.stage1(self.stem(x)))))
        return self.head(f.mean((2, 3)))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int, lr: float, seed: int) -> float:
    """Adam + cosine schedule, cross-entropy; returns the seconds it took."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb = x[idx]
        # flips and quarter turns: a texture's class does not change with them
        k = int(torch.randint(0, 4, (1,), generator=gen))
        xb = torch.rot90(xb, k, (2, 3))
        if torch.rand(1, generator=gen).item() < 0.5:
            xb = xb.flip(3)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    right = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x.split(256), y.split(256)))
    return right / len(x)


def build(variant: str, channels: int, seed: int, data, args) -> tuple[nn.Module, dict]:
    """The variant's network, ready to train, and what was done to get it (EDO's search time and pairs)."""
    info: dict = {}
    torch.manual_seed(seed)
    if variant in ("ds", "ds2"):
        return Classifier(channels, variant), info
    net = Classifier(channels, "plain")
    if variant == "adapool":
        au.replace_pooling(net)
    elif variant == "ic-fixed":
        replace_conv(net, default_dilations(channels, 2))
    elif variant == "ic-edo":
        supernet = make_supernet(Classifier(channels, "plain"), 2)
        x_train, y_train = data[0], data[1]
        info["supernet_seconds"] = round(train(supernet, x_train, y_train, args.steps, args.batch, args.lr, seed), 1)
        info["supernet_accuracy"] = accuracy(supernet, data[2], data[3])
        start = time.perf_counter()
        _, patterns = edo_convert(supernet, x_train.split(256), 2)
        info["search_seconds"] = round(time.perf_counter() - start, 2)
        counts: dict[str, int] = {}
        for pairs in patterns.values():
            for d in pairs:
                counts[f"{d[0]}x{d[1]}"] = counts.get(f"{d[0]}x{d[1]}", 0) + 1
        info["pairs"] = dict(sorted(counts.items()))
        replace_conv(net, patterns)
    return net, info


def table(rows: list[dict], seeds: list[int]) -> str:
    lines = ["| variant | params | MACs / image | test accuracy, mean ± sd (%) | per seed (%) | train s / run |",
             "|---|---:|---:|---:|---|---:|"]
    for r in rows:
        accs = [100 * a for a in r["accuracy"]]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"| {r['variant']} | {r['params']:,} | {r['macs']:,} | {statistics.mean(accs):.2f} ± {sd:.2f} | "
                     f"{' / '.join(f'{a:.2f}' for a in accs)} | {statistics.mean(r['seconds']):.1f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--train-per-class", type=int, default=150)
    p.add_argument("--test-per-class", type=int, default=500)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    data = patches(args.patch, args.train_per_class, args.test_per_class)
    print(f"{len(data[0])} training / {len(data[2])} test patches of {args.patch}x{args.patch}; "
          f"adaunpool backend: {au.backend_info()['backend']}", flush=True)

    rows = []
    for variant in variants:
        row = {"variant": variant, "accuracy": [], "seconds": [], "info": []}
        for seed in seeds:
            net, info = build(variant, args.channels, seed, data, args)
            row["seconds"].append(train(net, data[0], data[1], args.steps, args.batch, args.lr, seed))
            row["accuracy"].append(accuracy(net, data[2], data[3]))
            row["info"].append(info)
            print(f"{variant} seed {seed}: {100 * row['accuracy'][-1]:.2f}% {info or ''}", flush=True)
        row["params"] = sum(p.numel() for p in net.parameters())
        row["macs"] = count_macs(net, torch.zeros(1, 1, args.patch, args.patch))
        row["ic_layers"] = sum(isinstance(m, InceptionConv2d) for m in net.modules())
        rows.append(row)

    meta = {"command": "python " + " ".join(sys.argv), "torch": torch.__version__, "cpu": cpu_model(),
            "threads": args.threads, "load": loadavg(), "date": time.strftime("%Y-%m-%d")}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.{time.time_ns()}.tmp")
        tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        tmp.replace(args.json)
    if args.markdown:
        print(table(rows, seeds))
        print(f"\n`{meta['command']}`: torch {meta['torch']}, {meta['cpu']}, {meta['threads']} thread(s), "
              f"load {meta['load']}, {meta['date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
