"""The upsampler ablation: the same SR network with each upsampler, at equal parameters and steps.

    python benchmarks/ablate_upsamplers.py --scale 4 --steps 1000 --markdown

Each run is ``benchmarks/train_bundled.py``'s recipe (the same training images, seed, batch, patch,
learning rate and schedule; the final checkpoint is evaluated) with ``--upsampler U --match-params``:
every variant's width is chosen so that its parameter count is the closest to the adaunpool
variant's (``create_model(..., match_params=True)``). The test images are train_bundled's held-out
ones; PSNR-Y / SSIM-Y per docs/EVALUATE.md#metrics. Results: ``<workdir>/ablation-x<scale>.json`` and a markdown
table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_bundled import train_and_evaluate  # noqa: E402

UPSAMPLERS = ["adaunpool", "pixelshuffle", "transposed", "bilinear", "nearest"]


def table(rows: list[dict]) -> str:
    lines = ["| upsampler | params | channels | PSNR-Y (dB) | gain over bicubic (dB) | SSIM-Y | train s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r["test"]
        lines.append(f"| {r['upsampler']} | {r['params']:,} | {r['channels']} | {t['mean_model']:.3f} | "
                     f"{t['mean_gain']:+.3f} | {t['mean_ssim_model']:.4f} | {r['train_seconds']} |")
    t = rows[0]["test"]
    lines.append(f"| (bicubic) | 0 | - | {t['mean_bicubic']:.3f} | 0 | {t['mean_ssim_bicubic']:.4f} | - |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--model", default="sr-small")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--upsamplers", default=",".join(UPSAMPLERS))
    p.add_argument("--workdir", default="runs/ablation")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--eval-only", action="store_true", help="do not train; evaluate the runs' final checkpoints")
    args = p.parse_args()

    rows = []
    out = Path(args.workdir) / f"ablation-x{args.scale}.json"
    names = args.upsamplers.split(",")
    common = dict(scale=args.scale, model=args.model, match_params=True, steps=args.steps,
                  workdir=args.workdir, select="last", command="python " + " ".join(sys.argv))
    for name in [] if args.eval_only else names:  # train every variant first, then evaluate them all
        train_and_evaluate(upsampler=name, train_only=True, **common)
        print(f"{name}: trained", flush=True)
    for name in names:
        report, net = train_and_evaluate(upsampler=name, eval_only=True, **common)
        report["channels"] = net.config["channels"]
        rows.append(report)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")  # after each run: a stopped ablation keeps its rows
        print(f"{name}: {report['test']['mean_gain']:+.3f} dB, {report['params']} params", flush=True)
    if args.markdown:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
