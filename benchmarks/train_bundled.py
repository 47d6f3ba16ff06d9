"""Train the bundled SR weights (``data/weights/sr-small_x<scale>.pt``) and evaluate them on held-out images.

    python benchmarks/train_bundled.py --scale 4 --steps 3000 --workdir runs/bundled

Data (all from the scikit-image package, nothing downloaded):
- train: the RGB photographs chelsea, immunohistochemistry, hubble_deep_field, retina, and the
  greyscale photographs camera, brick, grass, gravel, coins, moon, page (as RGB, R = G = B);
- val (checkpoint selection): rocket;
- test (held out: never trained on, never used for selection): astronaut, coffee.
The LR input is the MATLAB-bicubic (antialiased) downscale of the HR image; PSNR-Y is measured per
SPEC §5 (BT.601 Y, ``scale`` pixels cropped from each border) on whole images, against bicubic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRAIN_RGB = ["chelsea", "immunohistochemistry", "hubble_deep_field", "retina"]
TRAIN_GREY = ["camera", "brick", "grass", "gravel", "coins", "moon", "page"]
VAL = ["rocket"]
TEST = ["astronaut", "coffee"]


def write_images(folder: Path, names: list[str]) -> None:
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / f"{name}.png"
        if path.exists():
            continue
        img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2BGR))


def evaluate(model, scale: int, names: list[str]) -> dict:
    """PSNR-Y of the model and of bicubic on whole images (cropped to a multiple of scale)."""
    import skimage.data

    from inter4k.data.resize import imresize
    from inter4k.metrics import psnr

    out = {}
    for name in names:
        img = np.asarray(getattr(skimage.data, name)())[..., :3]
        h, w = (img.shape[0] // scale) * scale, (img.shape[1] // scale) * scale
        hr = torch.from_numpy(img[:h, :w]).permute(2, 0, 1)[None].float() / 255
        lr = imresize(hr, 1 / scale).clamp(0, 1)
        lr = (lr * 255).round() / 255  # an 8-bit LR image, as a user would give
        with torch.no_grad():
            sr = model(lr).clamp(0, 1)
        bic = imresize(lr, scale).clamp(0, 1)
        out[name] = {
            "model": float(psnr(sr, hr, crop_border=scale)),
            "bicubic": float(psnr(bic, hr, crop_border=scale)),
        }
        out[name]["gain"] = out[name]["model"] - out[name]["bicubic"]
    out["mean_gain"] = float(np.mean([v["gain"] for k, v in out.items() if isinstance(v, dict)]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--model", default="sr-small")
    p.add_argument("--upsampler", default=None)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=None, help="HR patch side (default 32 x scale)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--workdir", default="runs/bundled")
    p.add_argument("--save", action="store_true", help="write data/weights/<model>_x<scale>.pt")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    from inter4k.models.weights import save_model
    from inter4k.train.sr import train_sr

    work = Path(args.workdir)
    data = work / "images"
    write_images(data / "train", TRAIN_RGB + TRAIN_GREY)
    write_images(data / "val", VAL)
    run = work / f"{args.model}{'-' + args.upsampler if args.upsampler else ''}-x{args.scale}"
    t0 = time.time()
    result = train_sr(data=f"images:{data}", scale=args.scale, model=args.model, upsampler=args.upsampler,
                      steps=args.steps, batch=args.batch, patch=args.patch or 32 * args.scale, lr=args.lr,
                      val_every=max(args.steps // 10, 1), ckpt_every=max(args.steps // 10, 1), out=str(run),
                      resume=args.resume, workers=0, seed=0)
    seconds = time.time() - t0
    from inter4k.models.weights import load_model

    best = load_model(str(result.best or result.last))
    report = {
        "model": args.model, "upsampler": args.upsampler or "adaunpool", "scale": args.scale,
        "steps": args.steps, "batch": args.batch, "patch": args.patch or 32 * args.scale, "lr": args.lr,
        "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in best.parameters()),
        "train_images": TRAIN_RGB + TRAIN_GREY, "val_images": VAL, "test_images": TEST,
        "checkpoint": str(result.best or result.last),
        "test": evaluate(best, args.scale, TEST),
        "command": "python " + " ".join(sys.argv),
    }
    (run / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if args.save:
        dest = ROOT / "data" / "weights" / f"{args.model}_x{args.scale}.pt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        save_model(best, dest, meta={k: v for k, v in report.items() if k != "checkpoint"})
        print(f"saved {dest} ({os.path.getsize(dest)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
