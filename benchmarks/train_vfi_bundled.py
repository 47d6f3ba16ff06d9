"""Train the bundled VFI weights (``data/weights/vfi-small.pt``) and evaluate them on held-out clips.

    python benchmarks/train_vfi_bundled.py --steps 3000 --workdir runs/vfi-bundled --save

Data: :class:`inter4k.data.motion.SyntheticMotionVFI`, clips with real motion (pans, zooms, rotations
and moving objects) rendered at exact times from scikit-image's photographs, nothing downloaded:
train on ``TRAIN_PHOTOS``, val (logged only) on ``VAL_PHOTOS``, **test on ``TEST_PHOTOS``** (astronaut,
coffee, stereo_motorcycle, clock, text; never trained on, the same photographs the SR weights hold out).
Training mode ``--mode`` (default 15to60: targets at t = 1/4, 1/2, 3/4, so the one model serves
``interpolate --factor 2`` and ``--factor 4``); evaluation on the test clips of ``--eval-modes``
(default 30to60 and 15to60), ``--eval-samples`` clips (photograph i % 5) at ``--eval-patch`` pixels, PSNR-Y /
PSNR-RGB / SSIM-Y (docs/EVALUATE.md#metrics, no border crop) of the model, of frame averaging ((1-t) I0 + t I1) and of
the nearest frame. The shipped weights are the final checkpoint of the fixed schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@torch.no_grad()
def evaluate(model, mode: str, samples: int, patch: int) -> dict:
    """Mean metrics over every target frame of the held-out test clips, per method and per t."""
    from inter4k.data.motion import SyntheticMotionVFI
    from inter4k.metrics import psnr, ssim
    from inter4k.models import create_model

    ds = SyntheticMotionVFI(mode=mode, patch_size=patch, split="test", samples=samples, seed=0)
    methods = {"model": model.eval(), "average": create_model("vfi-average"), "nearest": create_model("vfi-nearest")}
    rows: dict[str, dict[str, list]] = {m: {"psnr_y": [], "psnr_rgb": [], "ssim_y": [], "t": []} for m in methods}
    for i in range(len(ds)):
        inputs, targets, ts = ds[i]
        n = targets.shape[0]
        f0, f1 = inputs[0:1].expand(n, -1, -1, -1), inputs[1:2].expand(n, -1, -1, -1)
        for name, m in methods.items():
            out = m(f0, f1, ts).clamp(0, 1)
            r = rows[name]
            r["psnr_y"] += psnr(out, targets).tolist()
            r["psnr_rgb"] += psnr(out, targets, y_channel=False).tolist()
            r["ssim_y"] += ssim(out, targets).tolist()
            r["t"] += ts.tolist()
    out = {"mode": mode, "clips": len(ds), "frames": len(rows["model"]["t"]), "patch": patch}
    for name, r in rows.items():
        cap = [min(v, 100.0) for v in r["psnr_y"]]  # an exactly reproduced frame counts as 100 dB
        out[name] = {"psnr_y": float(np.mean(cap)), "psnr_rgb": float(np.mean([min(v, 100.0) for v in r["psnr_rgb"]])),
                     "ssim_y": float(np.mean(r["ssim_y"])),
                     "psnr_y_by_t": {f"{t:.3f}": float(np.mean([p for p, tt in zip(cap, r["t"]) if tt == t]))
                                     for t in sorted(set(r["t"]))}}
    out["gain_over_average_db"] = out["model"]["psnr_y"] - out["average"]["psnr_y"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", default="15to60")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--flow-loss", type=float, default=0.0,
                   help="weight of the supervision of the flows by the true motion (train_vfi flow_loss; 0: off)")
    p.add_argument("--upsampler", default="adaunpool", help="adaunpool, or bilinear (the ablation)")
    p.add_argument("--workdir", default="runs/vfi-bundled")
    p.add_argument("--eval-modes", default="30to60,15to60")
    p.add_argument("--eval-samples", type=int, default=20, help="test clips (over the five test photographs in turn)")
    p.add_argument("--eval-patch", type=int, default=256)
    p.add_argument("--eval-only", action="store_true", help="do not train; evaluate the run's last.pt")
    p.add_argument("--save", action="store_true", help="write data/weights/vfi-small.pt and its .json report")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    from inter4k.models.weights import load_model, save_model
    from inter4k.train.vfi import train_vfi

    run = Path(args.workdir) / f"vfi-small-{args.upsampler}-{args.mode}"
    seconds = None
    if not args.eval_only:
        t0 = time.time()
        train_vfi(data="synthetic", mode=args.mode, model="vfi-small", model_kwargs={"upsampler": args.upsampler},
                  steps=args.steps, batch=args.batch, patch=args.patch, lr=args.lr, flow_loss=args.flow_loss,
                  val_every=max(args.steps // 10, 1), ckpt_every=max(args.steps // 10, 1), out=str(run),
                  resume=args.resume, workers=0, seed=0)
        seconds = round(time.time() - t0, 1)
        (run / "train_seconds.json").write_text(json.dumps({"train_seconds": seconds}) + "\n")
    elif (run / "train_seconds.json").exists():
        seconds = json.loads((run / "train_seconds.json").read_text())["train_seconds"]
    net = load_model(str(run / "last.pt")).eval()
    from inter4k.data.motion import PHOTO_SPLITS

    report = {
        "model": "vfi-small", "upsampler": args.upsampler, "mode": args.mode, "steps": args.steps,
        "batch": args.batch, "patch": args.patch, "lr": args.lr, "flow_loss": args.flow_loss, "select": "last",
        "train_seconds": seconds,
        "threads": torch.get_num_threads(), "params": sum(q.numel() for q in net.parameters()),
        "data": "inter4k.data.motion.SyntheticMotionVFI (scikit-image photographs)",
        "photos": {k: list(v) for k, v in PHOTO_SPLITS.items()},
        "test": [evaluate(net, m, args.eval_samples, args.eval_patch) for m in args.eval_modes.split(",")],
        "command": "python " + " ".join(sys.argv),
    }
    (run / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if args.save:
        dest = ROOT / "data" / "weights" / "vfi-small.pt"
        save_model(net, dest, meta=report)
        dest.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"saved {dest} ({os.path.getsize(dest)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
