"""vsr-small's cost per frame against sr-lr-small's: parameters, conv multiply-adds per LR pixel, CPU time.

    python benchmarks/vsr_cost.py --size 216x384 --frames 8 --repeat 3

Rows: ``sr-lr-small`` (frame by frame, as ``upscale --batch 1`` runs it), ``vsr-small`` (bidirectional, the
clip at once) and
``vsr-small`` with ``bidirectional=False``, untrained (the cost does not depend on the weights).
Multiply-adds: :func:`inter4k.models.layers.count_macs` on a real forward (convolutions; adaPool, the
guided unpooling, warps and the bicubic skip are not counted) divided by the LR pixels of all frames.
Time: the median of ``--repeat`` interleaved runs after one warm-up, under ``no_grad``, per frame.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import run_line  # noqa: E402
from inter4k.models import create_model  # noqa: E402
from inter4k.models.layers import count_macs  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="216x384", help="LR HxW (default: the bundled sample clips' size)")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--scales", default="2,4")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    t = args.frames
    clip = torch.rand(1, t, 3, h, w)
    print(f"| model | scale | parameters | conv MACs / LR pixel | s / frame | x sr-lr-small |\n|---|---:|---:|---:|---:|---:|")
    for scale in (int(s) for s in args.scales.split(",")):
        single = create_model("sr-lr-small", scale=scale).eval()
        vsr = create_model("vsr-small", scale=scale).eval()
        forward_only = create_model("vsr-small", scale=scale, bidirectional=False).eval()
        # name: (model, the input its multiply-adds are counted on, one run over the T frames)
        rows = {"sr-lr-small": (single, clip[0, :1], lambda: [single(frame[None]) for frame in clip[0]]),
                "vsr-small": (vsr, clip, lambda: vsr(clip)),
                "vsr-small (forward only)": (forward_only, clip, lambda: forward_only(clip))}
        times: dict[str, list[float]] = {name: [] for name in rows}
        with torch.no_grad():
            for rep in range(args.repeat + 1):
                for name, (_, _, run) in rows.items():
                    start = time.perf_counter()
                    run()
                    if rep:  # the first round warms up
                        times[name].append((time.perf_counter() - start) / t)
        base = statistics.median(times["sr-lr-small"])
        for name, (model, x, _) in rows.items():
            macs = count_macs(model, x) / (x.shape[-4] * h * w)
            params = sum(q.numel() for q in model.parameters())
            sec = statistics.median(times[name])
            print(f"| {name} | x{scale} | {params:,} | {macs / 1e3:.0f}k | {sec:.3f} | {sec / base:.2f} |")
    print("\n" + run_line(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
