#!/usr/bin/env python
"""What tiling costs a clip model: ``vsr-small`` streamed over real footage in tiles against whole frames.

    python benchmarks/vsr_tiles.py --scale 4 --tile 96 --overlap 32 --markdown

A clip model's flows and propagated state see the whole tile, so a tiled run
(:class:`~inter4k.infer.clip_stream.ClipStreamer` with ``tile``) is close to, not equal to, the untiled
one. This measures how close, on the opencv-doc clips of ``benchmarks/vsr.py`` (whole frames, 5 frames
per clip, LR = MATLAB bicubic rounded to 8 bits, PSNR-Y with ``scale`` border pixels cropped): per clip,
the PSNR-Y of the tiled and the untiled streams (the same chunk and lookahead as ``inter4k upscale``)
and of the per-frame default model; the mean and worst tiled-minus-untiled difference. The footage's
LR frames are small (192x144 at x4), so a tile of 96 puts a seam through every clip: this is the
worst case of what ``upscale``'s large tiles (1080p -> three tiles of 662x1080) do.
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


def stream(model, lr: torch.Tensor, tile, overlap: int) -> torch.Tensor:
    """``lr`` (T, 3, h, w) float in [0, 1] through a ClipStreamer -> (T, 3, sh, sw) float, 8-bit levels."""
    from inter4k.infer.clip_stream import ClipStreamer

    frames = (lr * 255).round().to(torch.uint8)
    s = ClipStreamer(model, torch.device("cpu"), torch.float32, tile=tile, overlap=overlap, scene_threshold=0)
    y, _ = s.push(frames, [None] * len(frames))
    rest = s.flush()
    if rest is not None:
        y = torch.cat([y, rest[0]]) if y.shape[0] else rest[0]
    return y.permute(0, 3, 1, 2).float() / 255


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--model", default="vsr-small")
    ap.add_argument("--tile", type=int, default=96, help="square tile side in LR pixels")
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inter4k.data.videos import VideoClipsVSR
    from inter4k.metrics.psnr import psnr
    from inter4k.models import resolve
    from inter4k.models.weights import default_sr_model

    model, name = resolve(args.model, task="sr", scale=args.scale)
    frame_model, frame_name = resolve(default_sr_model(args.scale), task="sr", scale=args.scale)
    frame_model.eval()
    clips = VideoClipsVSR(frames=5, scale=args.scale, limit=args.clips)
    rows = []
    for i in range(len(clips)):
        lr, hr = clips[i]
        lr = (lr * 255).round() / 255
        with torch.no_grad():
            per_frame = (frame_model(lr).clamp(0, 1) * 255).round() / 255

        def score(y):
            return float(psnr(y, hr, crop_border=args.scale).mean())

        rows.append({"clip": clips.names[i], "untiled": score(stream(model, lr, None, args.overlap)),
                     "tiled": score(stream(model, lr, args.tile, args.overlap)), "per_frame": score(per_frame)})
        print(f"{i + 1}/{len(clips)} {rows[-1]}", file=sys.stderr)
    diffs = {r["clip"]: r["tiled"] - r["untiled"] for r in rows}
    worst = min(diffs, key=diffs.get)
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("untiled", "tiled", "per_frame")}
    out = {"model": name, "per_frame_model": frame_name, "scale": args.scale, "tile": args.tile,
           "overlap": args.overlap, "lr_size": list(clips[0][0].shape[-2:]), "clips": len(rows), "mean_psnr_y": mean,
           "diff_mean": sum(diffs.values()) / len(diffs), "diff_worst": diffs[worst], "worst_clip": worst,
           "rows": rows, "run": run_line(args.threads)}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    if args.markdown:
        h, w = out["lr_size"]
        print(f"{name} x{args.scale} on {len(rows)} opencv-doc clips ({w}x{h} LR), tile {args.tile}, "
              f"overlap {args.overlap}\n")
        print("| run | PSNR-Y | gain over per-frame |\n|---|---:|---:|")
        for k, label in (("untiled", "whole frames"), ("tiled", f"tiles of {args.tile}"),
                         ("per_frame", frame_name)):
            print(f"| {label} | {mean[k]:.3f} | {mean[k] - mean['per_frame']:+.3f} |")
        print(f"\ntiled minus untiled: mean {out['diff_mean']:+.3f} dB, worst {out['diff_worst']:+.3f} dB "
              f"({worst})\n\n{out['run']}")
    else:
        print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
