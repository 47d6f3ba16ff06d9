#!/usr/bin/env python
"""The SR ablations: output stages (upsamplers) and bodies of the LR-grid network, at equal multiply-adds, over seeds.

    python benchmarks/ablate_sr.py --scale 4 --seeds 0,1,2 --markdown
    python benchmarks/ablate_sr.py --variants ds,ds2 --seeds 0 --threads 1      # a share of the runs

Each variant is ``sr-lr-small`` (48 channels, 4 residual blocks, adaUnPool output stage) with one
thing changed; its width is set so that its multiply-adds per LR pixel are the closest to the
reference's (:func:`inter4k.models.layers.count_macs`):

==============  ================================================================================
adaunpool       the reference: the default preset as it is
pixelshuffle    the ESPCN output stage (conv3x3 -> PixelShuffle) instead of the adaUnPool one
chain           ``sr-lr-plain``: a chain of conv3x3 + PReLU without skips, pixel shuffle (the
                plain LR-grid network of issue 13)
chain-adaunpool the same chain with the adaUnPool output stage
ds / ds2        DSNet dense weighted normalised shortcuts instead of identity ones (DS2: also
                around each block's second conv)
ic-edo          IC-Convs with EDO-searched dilations: a supernet (every body conv 5x5) is trained
                for ``--search-steps`` (seed 0), EDO picks each output channel's (dy, dx) in 1..2
                on 8 batches of training LR patches, then the searched network is trained from
                scratch with the same recipe and seeds as every other variant (the search is run
                once, as an architecture is searched once; its steps come on top)
==============  ================================================================================

The recipe (the same for every variant and seed; ``inter4k train-sr`` through :func:`inter4k.api.train_sr`):
the photo corpus's train split, ``--steps`` steps of batch 16, HR patches of ``--patch``, AdamW with
peak learning rate 5e-4 (warm-up, cosine), 25 % motion-blurred and 25 % synthetic smooth samples, LR
rounded to 8 bits; no validation during training; the **final** checkpoint is evaluated (a rule
fixed before any figure was seen). Evaluation: the photo corpus's held-out test split, as in
``benchmarks/sr_photos.py`` (PSNR-Y gain over MATLAB bicubic per image, its mean and worst image).
The seed sets the initial weights and the order and crops of the samples.

Runs are kept under ``--workdir`` (``<variant>-x<scale>-s<seed>/``), each with its test figures in
``test.json``; a second call reuses finished runs and resumes unfinished ones, so the runs can be
shared out over several processes (``--variants`` / ``--seeds``) and the table made at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _machine import cpu_model  # noqa: E402

REFERENCE = "adaunpool"
#: variant -> (model name, model keyword arguments); "ic-edo" adds the search stage.
VARIANTS: dict[str, tuple[str, dict]] = {
    "adaunpool": ("sr-lr-small", {}),
    "pixelshuffle": ("sr-lr-small", {"upsampler": "pixelshuffle"}),
    "chain": ("sr-lr-plain", {}),
    "chain-adaunpool": ("sr-lr-plain", {"upsampler": "adaunpool"}),
    "ds": ("sr-lr-small", {"body": "ds"}),
    "ds2": ("sr-lr-small", {"body": "ds2"}),
    "ic-edo": ("sr-lr-small", {"body": "ic"}),
}
MAX_DILATION = 2


def macs(model_name: str, kwargs: dict, scale: int) -> float:
    from inter4k.models.layers import count_macs
    from inter4k.models.registry import create_model

    net = create_model(model_name, scale=scale, **kwargs)
    return count_macs(net, torch.zeros(1, 3, 16, 16)) / 256


def matched_kwargs(variant: str, scale: int) -> dict:
    """The variant's keyword arguments with ``channels`` set to match the reference's multiply-adds."""
    name, kw = VARIANTS[variant]
    target = macs(*VARIANTS[REFERENCE], scale)
    best = min(range(24, 97), key=lambda c: abs(macs(name, {**kw, "channels": c}, scale) - target))
    return {**kw, "channels": best}


def recipe(args) -> dict:
    return dict(data="photos", scale=args.scale, steps=args.steps, batch=16, patch=args.patch, lr=5e-4,
                blur_prob=0.25, smooth_prob=0.25, quantize_lr=True, val_every=0, ckpt_every=250,
                log_every=50, workers=args.workers)


def train(model: str, kwargs: dict, out: Path, seed: int, args, steps=None):
    """Train (or resume, or reuse) one run; returns the path of its final checkpoint."""
    from inter4k import api

    last = out / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=True)
        if int(ck["step"]) == int(ck["steps"]):
            return last
    cfg = {**recipe(args), "model": model, "model_kwargs": kwargs, "seed": seed, "out": str(out),
           "resume": last.exists()}
    if steps is not None:
        cfg["steps"] = steps
    api.train_sr(**cfg)
    return last


def search_patterns(variant_kwargs: dict, args, seed: int = 0) -> dict:
    """Train the supernet, then EDO: the dilation patterns of the "ic" body, by body conv name."""
    from inter4k.data.datasets import bicubic_lr
    from inter4k.data.images import list_images, read_rgb
    from inter4k.data.photos import build_photo_corpus
    from inter4k.models.layers import edo_convert
    from inter4k.models.weights import load_model

    out = Path(args.workdir) / f"ic-supernet-x{args.scale}-s{seed}"
    patterns_file = out / "patterns.json"
    if patterns_file.exists():
        return json.loads(patterns_file.read_text())
    kw = {k: v for k, v in variant_kwargs.items() if k != "body"}
    last = train("sr-lr-small", {**kw, "body": "supernet", "body_options": {"max_dilation": MAX_DILATION}},
                 out, seed, args, steps=args.search_steps)
    supernet = load_model(last)
    # the layers' real inputs: LR patches of the training photographs (8 batches of 16)
    rng = np.random.default_rng(seed)
    folder = build_photo_corpus() / "train"
    names = list_images(folder)
    lr_side = args.patch // args.scale
    batches = []
    for _ in range(8):
        crops = []
        for _ in range(16):
            img = read_rgb(folder / names[rng.integers(len(names))])
            y = rng.integers(img.shape[0] - args.patch + 1)
            x = rng.integers(img.shape[1] - args.patch + 1)
            hr = torch.from_numpy(np.ascontiguousarray(img[y:y + args.patch, x:x + args.patch])).permute(2, 0, 1)
            crops.append(hr.float() / 255.0)
        hr = torch.stack(crops)
        lr = bicubic_lr(hr, args.scale, quantize=True)
        assert lr.shape[-1] == lr_side
        batches.append(lr)
    with torch.no_grad():
        _, found = edo_convert(supernet, batches, MAX_DILATION)
    patterns = {name.removeprefix("body."): [list(p) for p in pairs] for name, pairs in found.items()}
    patterns_file.write_text(json.dumps(patterns))
    return patterns


def evaluate(last: Path, scale: int) -> dict:
    """Held-out test figures of a checkpoint (cached beside it as test.json)."""
    import sr_photos
    from inter4k.models.weights import load_model

    cache = last.parent / "test.json"
    if cache.exists():
        return json.loads(cache.read_text())
    from inter4k.models.registry import create_model

    methods = [sr_photos.TorchMethod("bicubic", create_model("bicubic", scale=scale)),
               sr_photos.TorchMethod("model", load_model(last))]
    rows = sr_photos.quality(methods, scale, "test")
    result = sr_photos.summarise(rows, ["model"])["model"]
    result["gains"] = {k: r["model"]["psnr_y"] - r["bicubic"]["psnr_y"] for k, r in rows.items()}
    cache.write_text(json.dumps(result, indent=1))
    return result


def run_variant(variant: str, seed: int, args) -> dict:
    model, _ = VARIANTS[variant]
    kw = matched_kwargs(variant, args.scale)
    t0 = time.time()
    if variant == "ic-edo":
        kw["body_options"] = {"dilations": search_patterns(kw, args)}
    out = Path(args.workdir) / f"{variant}-x{args.scale}-s{seed}"
    last = train(model, kw, out, seed, args)
    res = evaluate(last, args.scale)
    from inter4k.models.weights import load_model

    net = load_model(last)
    res.update(variant=variant, seed=seed, channels=kw["channels"], params=sum(p.numel() for p in net.parameters()),
               macs_per_lr_pixel=macs(model, kw, args.scale), seconds=round(time.time() - t0))
    return res


def table(results: list[dict]) -> str:
    by: dict[str, list[dict]] = {}
    for r in results:
        by.setdefault(r["variant"], []).append(r)
    lines = ["| variant | channels | params | MACs / LR px | seeds | gain over bicubic, mean (per seed) | "
             "worst image gain (per seed) | grid excess, max |", "|---|---:|---:|---:|---:|---|---|---:|"]
    for v, rs in by.items():
        rs.sort(key=lambda r: r["seed"])
        g = [r["gain_mean"] for r in rs]
        w = [r["gain_worst"] for r in rs]
        lines.append(f"| {v} | {rs[0]['channels']} | {rs[0]['params']:,} | {rs[0]['macs_per_lr_pixel']:,.0f} | {len(rs)} | "
                     f"**{np.mean(g):+.3f}** ± {np.std(g):.3f} ({', '.join(f'{x:+.2f}' for x in g)}) | "
                     f"**{np.mean(w):+.3f}** ({', '.join(f'{x:+.2f}' for x in w)}) | "
                     f"{max(r['grid_excess'] for r in rs):+.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--search-steps", type=int, default=500, help="supernet steps before the EDO search (ic-edo)")
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--workdir", default="runs/ablate-sr")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for v in variants:
            r = run_variant(v, seed, args)
            print(f"{v} seed {seed}: {r['gain_mean']:+.3f} dB mean, {r['gain_worst']:+.3f} worst", flush=True)
            results.append(r)
    out = Path(args.workdir) / f"ablate-sr-x{args.scale}.json"
    out.write_text(json.dumps({"command": "python benchmarks/ablate_sr.py " + " ".join(sys.argv[1:]),
                               "date": str(datetime.date.today()), "cpu": cpu_model(), "results": results}, indent=1))
    if args.markdown:
        print(f"`python benchmarks/ablate_sr.py {' '.join(sys.argv[1:])}`, {datetime.date.today()}, {cpu_model()}; "
              f"x{args.scale}, {args.steps} steps, patch {args.patch}, held-out test of the photo corpus.\n")
        print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
