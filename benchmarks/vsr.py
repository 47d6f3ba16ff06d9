#!/usr/bin/env python
"""Video SR quality on held-out clips: a clip model against the per-frame default SR model and bicubic.

    python benchmarks/vsr.py --scale 4 --model vsr-small --markdown
    python benchmarks/vsr.py --scale 2 --model runs/vsr-x2/last.pt --photos-clips 12 --video-clips 24

Two sets of held-out clips, each scored by ``inter4k evaluate --task vsr`` (:func:`inter4k.api.evaluate`;
PSNR-Y BT.601 with ``scale`` border pixels cropped, the error flicker and the warping error of
:mod:`inter4k.metrics.temporal`), 5 frames per clip, LR = MATLAB bicubic rounded to 8 bits:

- ``photos``: fixed clips rendered with realistic scene motion over the photo corpus's **test**
  photographs (256-pixel frames; no training or validation run ever sees them);
- ``videos``: real footage, whole frames of the opencv-doc videos (:class:`~inter4k.data.videos.VideoClipsVSR`,
  clips with no cut inside, evenly spaced); nothing is trained on them.

Per set and method: the mean PSNR-Y over frames, the gain over the per-frame model (mean over clips,
and the worst clip with its name), and the mean error flicker and warping error (8-bit Y levels, lower
is steadier). The machine line says where it ran.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _machine import run_line  # noqa: E402


def summarise(result) -> dict:
    """Per method: PSNR-Y over frames, flicker / warp over clips, and the clip gains over the per-frame
    model (the second method; the first is the clip model, the last bicubic)."""
    methods = result.methods
    per_frame = methods[1] if len(methods) > 2 else None
    rows = {}
    for m in methods:
        clips = {c.name: c.means for c in m.clips}
        row = {"psnr_y": m.mean_over_frames["psnr_y"], "flicker_y": m.mean_over_clips["flicker_y"],
               "warp_y": m.mean_over_clips["warp_y"], "clips": len(clips)}
        if per_frame is not None:
            base = {c.name: c.means["psnr_y"] for c in per_frame.clips}
            gains = {name: v["psnr_y"] - base[name] for name, v in clips.items()}
            worst = min(gains, key=gains.get)
            row.update(gain_mean=sum(gains.values()) / len(gains), gain_worst=gains[worst], worst_clip=worst,
                       clip_gains=gains)
        rows[m.name] = row
    return rows


def run_set(data: str, model: str, scale: int, limit: Optional[int], frames: int, split: str = "test") -> dict:
    from inter4k.api import evaluate

    t0 = time.perf_counter()
    result = evaluate(task="vsr", data=data, model=model, scale=scale, limit=limit, frames=frames, split=split,
                      metrics=("psnr",))
    return {"data": data, "seconds": round(time.perf_counter() - t0, 1), "warnings": result.warnings,
            "methods": summarise(result)}


def markdown(sets: dict, scale: int) -> str:
    lines = []
    for name, s in sets.items():
        lines += [f"**{name}** (x{scale}, {next(iter(s['methods'].values()))['clips']} clips, {s['seconds']} s)", "",
                  "| method | PSNR-Y | gain over per-frame (mean / worst clip) | flicker-Y | warp-Y |",
                  "|---|---:|---|---:|---:|"]
        for method, r in s["methods"].items():
            gain = (f"{r['gain_mean']:+.3f} / {r['gain_worst']:+.3f} ({r['worst_clip']})"
                    if "gain_mean" in r else "-")
            lines.append(f"| {method} | {r['psnr_y']:.3f} | {gain} | {r['flicker_y']:.3f} | {r['warp_y']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--model", default="vsr-small", help="a clip model: a name (bundled weights) or a checkpoint")
    ap.add_argument("--photos-clips", type=int, default=24, help="clips over the test photographs (0: none)")
    ap.add_argument("--video-clips", type=int, default=24, help="clips of the opencv-doc videos (0: none)")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables instead of JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sets = {}
    if args.photos_clips:
        sets["photos (test photographs)"] = run_set("photos", args.model, args.scale, args.photos_clips, args.frames)
    if args.video_clips:
        sets["videos (opencv-doc footage)"] = run_set("videos", args.model, args.scale, args.video_clips, args.frames)
    out = {"machine": run_line(args.threads), "scale": args.scale, "model": args.model, "sets": sets}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    print(f"{out['machine']}\n\n{markdown(sets, args.scale)}" if args.markdown else json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
