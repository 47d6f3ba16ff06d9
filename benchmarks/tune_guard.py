#!/usr/bin/env python
"""Score settings of vfi-small's failure guard on real footage, from one network pass per sample.

    python benchmarks/tune_guard.py --split val --frames 20 --threads 1 --json runs/guard-val.json

For every sample of the opencv-doc footage's ``--split`` (``inter4k evaluate --task vfi --data videos
--mode 30to60 --frames K --split S``: val, the samples between the benchmarks' test samples, to
choose; test to report) the bundled ``vfi-small`` runs once with its guard map replaced by zeros, so
its output is the network's own frame; the maps the guard reads (the inputs, the two warped inputs,
the two flows) are kept, and each setting of the grid is applied to them exactly as the model applies
it: ``out + g (average - out)``. So every row is what the model would output with that setting.

Per setting: the mean PSNR-Y over frames, the mean over videos, and the worst frame minus frame
averaging on the same frame (issue 14's "no frame more than 1 dB below averaging"). ``--choose``
applies the rule written before the val figures existed: the best mean among the settings whose worst
frame is no lower than the default's, and only if it beats the default by at least 0.02 dB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _machine import run_line  # noqa: E402

RATIOS, RESIDUALS, FLOWS = (1.0, 1.5, 2.5, 4.0), (0.05, 0.1, 0.2), (2.0, 4.0, 8.0)
#: The least gain over the default setting that replaces it (dB), fixed with the grid.
MIN_GAIN = 0.02


def settings(model) -> dict[str, dict]:
    """The grid, the default (the bundled config's own values) first, and the guard off."""
    c = model.config
    default = dict(ratio=c["guard_ratio"], residual=c["guard_residual"], flow=c["guard_flow"])
    grid = {"default": default, "off": None}
    for ratio, residual, flow in itertools.product(RATIOS, RESIDUALS, FLOWS):
        grid.setdefault(f"ratio={ratio} residual={residual} flow={flow}",
                        dict(ratio=ratio, residual=residual, flow=flow))
    return grid


def network_pass(model, frame0: torch.Tensor, frame1: torch.Tensor, t: float):
    """The network's frame (guard map zero) and the guard's inputs, from one forward."""
    import inter4k.models.vfi as vfi

    kept = {}
    real = vfi.flow_guard

    def capture(x0, x1, w0, w1, f0, f1, tt, *thresholds):  # the thresholds: each setting brings its own
        kept.update(x0=x0, x1=x1, w0=w0, w1=w1, f0=f0, f1=f1, tt=tt)
        return torch.zeros_like(x0[:, :1])

    vfi.flow_guard = capture
    try:
        model.set_guard("always")
        with torch.inference_mode():
            out = model(frame0, frame1, t)
    finally:
        vfi.flow_guard = real
    return out, kept


def guarded(out: torch.Tensor, kept: dict, setting: dict, noise: float, temperature: float, window: int):
    from inter4k.models.vfi import flow_guard

    h, w = out.shape[-2:]
    g = flow_guard(kept["x0"], kept["x1"], kept["w0"], kept["w1"], kept["f0"], kept["f1"], kept["tt"],
                   setting["residual"], setting["ratio"], noise, setting["flow"], temperature, window)[..., :h, :w]
    tt = kept["tt"]
    average = (1 - tt) * kept["x0"][..., :h, :w] + tt * kept["x1"][..., :h, :w]
    return out + g * (average - out)


def choose(rows: dict) -> str:
    """The rule: the best mean among settings whose worst frame is no lower than the default's, if it
    beats the default by at least MIN_GAIN; else "default"."""
    base = rows["default"]
    fair = {k: r for k, r in rows.items() if r["worst_minus_average"] >= base["worst_minus_average"]}
    best = max(fair, key=lambda k: fair[k]["mean_over_frames"])
    return best if fair[best]["mean_over_frames"] >= base["mean_over_frames"] + MIN_GAIN else "default"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--frames", type=int, default=20, help="samples per video (K of the test split's parts)")
    ap.add_argument("--model", default="vfi-small")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--choose", action="store_true", help="apply the rule (see above) and print the choice")
    ap.add_argument("--json", type=Path, help="write every row here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inter4k.evaluate.vfi_data import open_vfi_data
    from inter4k.metrics import psnr
    from inter4k.models.weights import load_model
    from rich.progress import Progress

    model = load_model(args.model).eval()
    c = model.config
    grid = settings(model)
    data = open_vfi_data("videos", split=args.split, mode="30to60", frames=args.frames)
    scores: dict[str, list[tuple[str, float]]] = {k: [] for k in grid}
    averages: list[float] = []
    with Progress(transient=True) as bar:
        task = bar.add_task(f"{args.split} frames", total=data.total)
        for sample in data:
            f0, f1 = sample.frame(0)[None], sample.frame(sample.span)[None]
            for k in range(1, sample.span):
                t = k / sample.span
                target = sample.frame(k)[None]
                out, kept = network_pass(model, f0, f1, t)
                averages.append(float(psnr(((1 - t) * f0 + t * f1), target)))
                for name, setting in grid.items():
                    pred = out if setting is None else guarded(out, kept, setting, c["guard_noise"],
                                                               c["guard_temperature"], c["guard_window"])
                    scores[name].append((f"{sample.clip}#{sample.start + k}", float(psnr(pred.clamp(0, 1), target))))
                bar.advance(task)
    rows = {}
    for name, values in scores.items():
        per_video: dict[str, list[float]] = {}
        for frame, v in values:
            per_video.setdefault(frame.split("#")[0], []).append(v)
        diffs = [v - a for (_, v), a in zip(values, averages)]
        worst = min(range(len(diffs)), key=diffs.__getitem__)
        rows[name] = {"setting": grid[name], "mean_over_frames": sum(v for _, v in values) / len(values),
                      "mean_over_videos": sum(sum(v) / len(v) for v in per_video.values()) / len(per_video),
                      "per_video": {k: sum(v) / len(v) for k, v in per_video.items()},
                      "worst_minus_average": diffs[worst], "worst_frame": values[worst][0]}
    rows["averaging"] = {"setting": None, "mean_over_frames": sum(averages) / len(averages),
                         "mean_over_videos": None, "per_video": {}, "worst_minus_average": 0.0, "worst_frame": None}
    ranked = sorted((k for k in rows if k != "averaging"), key=lambda k: -rows[k]["mean_over_frames"])
    print(f"{args.split} samples of the footage, {len(averages)} frames, {args.model}\n")
    print("| setting | mean over frames | mean over videos | worst frame minus averaging |")
    print("|---|---:|---:|---:|")
    for k in ranked[:8] + [k for k in ("default", "off") if k not in ranked[:8]] + ["averaging"]:
        r = rows[k]
        mov = "-" if r["mean_over_videos"] is None else f"{r['mean_over_videos']:.3f}"
        worst = f"{r['worst_minus_average']:+.2f} ({r['worst_frame']})" if r["worst_frame"] else "+0.00"
        print(f"| {k} | {r['mean_over_frames']:.3f} | {mov} | {worst} |")
    print(f"\n{run_line(args.threads)}")
    report = {"split": args.split, "frames": len(averages), "rows": rows}
    if args.choose:
        report["choice"] = choose({k: v for k, v in rows.items() if k != "averaging"})
        print(f"\nchoice by the rule: {report['choice']} {grid[report['choice']]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
