"""InceptionConv2d's time against nn.Conv2d and against a loop over output channels (CPU, 1 thread by default).

    python benchmarks/ic_conv_speed.py --size 4x64x64x64 --pairs 2

Rows: ``nn.Conv2d`` 3x3; InceptionConv2d with ``default_dilations(C, D)`` (contiguous runs, concatenated)
and with the same pairs shuffled over the channels (written with ``index_copy_``); the issue's
per-channel definition as a Python loop (one ``F.conv2d`` per output channel, forward only). Median of
``--repeat`` runs after one warm-up, forward under ``no_grad`` and forward + backward.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import run_line  # noqa: E402
from inter4k.models.layers import InceptionConv2d, default_dilations  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="4x64x64x64", help="NxCxHxW (C in = C out)")
    p.add_argument("--pairs", type=int, default=2, help="D: the pairs are (dy, dx) in 1..D")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n, c, h, w = (int(v) for v in args.size.split("x"))
    x = torch.randn(n, c, h, w)
    conv = torch.nn.Conv2d(c, c, 3, padding=1)
    pairs = default_dilations(c, args.pairs)
    shuffled = pairs[:]
    random.Random(0).shuffle(shuffled)
    layers = {"nn.Conv2d 3x3": conv, f"InceptionConv2d, {args.pairs ** 2} pairs in runs": InceptionConv2d(c, c, pairs),
              f"InceptionConv2d, {args.pairs ** 2} pairs shuffled": InceptionConv2d(c, c, shuffled)}
    loop_layer = layers[f"InceptionConv2d, {args.pairs ** 2} pairs shuffled"]

    def loop():
        return torch.cat([F.conv2d(x, loop_layer.weight[o:o + 1], loop_layer.bias[o:o + 1], padding=d, dilation=d)
                          for o, d in enumerate(loop_layer.dilations)], 1)

    print(f"| layer ({args.size}) | forward (ms) | forward + backward (ms) |\n|---|---:|---:|")
    for name, layer in layers.items():
        with torch.no_grad():
            fwd = median_ms(lambda: layer(x), args.repeat)
        xg = x.clone().requires_grad_()
        both = median_ms(lambda: layer(xg).sum().backward(), args.repeat)
        print(f"| {name} | {fwd:.2f} | {both:.2f} |")
    with torch.no_grad():
        print(f"| per-channel loop ({c} F.conv2d calls) | {median_ms(loop, max(1, args.repeat // 5)):.2f} | - |")
    print("\n" + run_line(args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
