#!/usr/bin/env python
"""Peak memory of streaming a clip model over a video: bounded by the chunk, not by the video's length.

    python benchmarks/vsr_memory.py --size 216x384 --scale 4 --chunk 8 --lookahead 4 --lengths 12,80

Each length runs in a fresh Python process (so peaks do not carry over): ``length`` random 8-bit LR
frames go one at a time through :class:`inter4k.infer.clip_stream.ClipStreamer` (the streamer that
``inter4k upscale`` uses for clip models; scene-cut detection on, as there), the outputs are dropped
as they come, and the process's peak resident memory (``VmHWM``, Linux) is read at the end, beside the
same figure after only building the model (the baseline). The frames are a smooth random texture
panning a pixel a frame (no scene cut, so every chunk is full). Lengths: one chunk with its lookahead, and
10x the chunk. Untrained weights: the cost does not depend on them. ``--tile`` is the streamer's
(default ``auto``, as ``upscale``: whole frames up to 1280x720 LR, the fewest tiles above; ``0``: whole
frames whatever their size).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

_CHILD = r"""
import json, sys, torch
sys.path.insert(0, {root!r})
from inter4k.models import create_model
from inter4k.infer.clip_stream import ClipStreamer

def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0

torch.set_num_threads({threads})
h, w, n = {h}, {w}, {length}
model = create_model({model!r}, scale={scale})
streamer = ClipStreamer(model, torch.device("cpu"), torch.float32, chunk={chunk}, lookahead={lookahead}, tile={tile!r})
base = peak_mib()
g = torch.Generator().manual_seed(0)
# a smooth random texture panning a pixel a frame: no scene cut, so every chunk is a full one
texture = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w),
                                          mode="bilinear")
out = 0
with torch.no_grad():
    for i in range(n):
        frame = (torch.roll(texture, i, dims=3) * 255).round().to(torch.uint8)
        y, _ = streamer.push(frame, [(i, None, None)])
        out += y.shape[0]
    y, _ = streamer.flush() or (torch.empty(0), [])
    out += y.shape[0]
print(json.dumps({{"frames": n, "out": out, "tile": streamer.tile, "cuts": len(streamer.cuts), "baseline_mib": base, "peak_mib": peak_mib()}}))
"""


def main(argv=None) -> int:
    from _machine import run_line

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vsr-small")
    ap.add_argument("--size", default="216x384", help="LR HxW")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--lookahead", type=int, default=4)
    ap.add_argument("--lengths", default=None, help="comma-separated clip lengths (default: chunk + lookahead, 10 x chunk)")
    ap.add_argument("--tile", default="auto", help="'auto', 0 (whole frames) or a square tile side in LR pixels")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    tile = None if args.tile in ("0", "none") else ("auto" if args.tile == "auto" else int(args.tile))
    h, w = (int(v) for v in args.size.split("x"))
    lengths = ([int(v) for v in args.lengths.split(",")] if args.lengths
               else [args.chunk + args.lookahead, 10 * args.chunk])
    rows = []
    for n in lengths:
        code = _CHILD.format(root=str(ROOT), threads=args.threads, h=h, w=w, length=n, model=args.model,
                             scale=args.scale, chunk=args.chunk, lookahead=args.lookahead, tile=tile)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the {n}-frame run failed:\n{done.stderr[-2000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if row["out"] != n:
            raise SystemExit(f"{n} frames in, {row['out']} out")
        if row["cuts"]:
            raise SystemExit(f"the detector found {row['cuts']} scene cuts in the panning texture")
        rows.append(row)
    print(run_line(args.threads))
    tiles = rows[0]["tile"]
    tiles = "whole frames" if tiles is None else f"tiles of {tiles[1]}x{tiles[0]}"
    print(f"\n{args.model} x{args.scale}, LR {w}x{h} ({tiles}), chunk {args.chunk}, lookahead {args.lookahead}\n")
    print("| frames | peak RSS (MiB) | after building the model (MiB) | streaming adds (MiB) |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['frames']} | {r['peak_mib']:.0f} | {r['baseline_mib']:.0f} | {r['peak_mib'] - r['baseline_mib']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
