#!/usr/bin/env python
"""How much motion a VFI model invents where there is none: its flows on pairs of two identical frames.

    python benchmarks/still_flow.py --model vfi-small --split val --frames 20 --threads 2

For every sample of the opencv-doc footage's ``--split`` (the samples of ``inter4k evaluate --task vfi
--data videos --mode 30to60 --frames K --split S``) the model gets ``(frame0, frame0, 1/2)``: a still
scene, whose true flow is zero everywhere. Per model: the mean length of ``F_t->0`` over the pixels
(pixels), the mean vector (x, y: a direction the model prefers when it knows nothing), and the PSNR-Y of
its frame against ``frame0`` (which is what the right answer is; any loss is blur from warping by the
invented flow, or the residual). Several ``--model`` values are measured on the same pairs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _machine import run_line  # noqa: E402


def invented_motion(model, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the model's frame, its F_t->0) for the still pair (frame, frame) at t = 1/2."""
    with torch.inference_mode():
        out, flows = model(frame, frame, 0.5, return_flows=True)
    return out, flows[:, 0:2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="model name or weights file (repeatable; default vfi-small)")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--frames", type=int, default=20, help="samples per video (K of the test split's parts)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inter4k.evaluate.vfi_data import open_vfi_data
    from inter4k.metrics import psnr
    from inter4k.models.weights import load_model

    names = args.model or ["vfi-small"]
    models = {name: load_model(name).eval() for name in names}
    sums = {name: {"length": 0.0, "x": 0.0, "y": 0.0, "psnr": 0.0} for name in names}
    count = 0
    for sample in open_vfi_data("videos", split=args.split, mode="30to60", frames=args.frames):
        frame = sample.frame(0)[None]
        count += 1
        for name, model in models.items():
            out, flow = invented_motion(model, frame)
            s = sums[name]
            s["length"] += float(torch.hypot(flow[:, 0], flow[:, 1]).mean())
            s["x"] += float(flow[:, 0].mean())
            s["y"] += float(flow[:, 1].mean())
            s["psnr"] += float(psnr(out.clamp(0, 1), frame))
    rows = {name: {k: v / count for k, v in s.items()} for name, s in sums.items()}
    print("| model | mean flow length (px) | mean flow x, y (px) | PSNR-Y of the frame against the input (dB) |")
    print("|---|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['length']:.3f} | {r['x']:+.3f}, {r['y']:+.3f} | {r['psnr']:.2f} |")
    print(f"\n{count} still pairs (frame0 twice) of the footage's {args.split} split. {run_line(args.threads)}")
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "pairs": count, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
