#!/usr/bin/env python
"""Ship a finished train-sr run as bundled weights, with its recipe and held-out figures beside it.

    python benchmarks/bundle_sr.py runs/photos-x4-sr-lr-small
    python benchmarks/bundle_sr.py data/weights/sr-lr-small_x4.pt --deadzone 0.25   # ship again, new setting

Selection rule (fixed before any test figure of the photo corpus was seen): the **final** checkpoint of
the run's fixed schedule (``last.pt`` at ``step == steps``). The validation curve is logged for
monitoring only. The script refuses a run that has not reached its last step.

Writes ``data/weights/<model>_x<scale>.pt`` (``inter4k-model/1``: name, config, weights, and the run's
config as meta) and ``data/weights/<model>_x<scale>.json``: the recipe, the command that reproduces it,
and the held-out test figures of :mod:`benchmarks.sr_photos` (PSNR-Y, SSIM-Y and grid value per image,
against MATLAB bicubic), computed here once.
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


def command_of(cfg: dict) -> str:
    parts = ["inter4k train-sr", f"--model {cfg['model']}", f"--data {cfg['data']}", f"--scale {cfg['scale']}",
             f"--steps {cfg['steps']}", f"--batch {cfg['batch']}", f"--patch {cfg['patch']}", f"--lr {cfg['lr']}",
             f"--blur-prob {cfg.get('blur_prob', 0.0)}", f"--smooth-prob {cfg.get('smooth_prob', 0.0)}",
             "--quantize-lr" if cfg.get("quantize_lr") else "--float-lr", f"--seed {cfg['seed']}"]
    if cfg.get("init"):
        parts.append(f"--init {cfg['init']}")
    return " ".join(parts)


def finished_run(run: Path, task: str):
    """``(config, model)`` of ``run``'s final checkpoint (``last.pt``); SystemExit unless it is a ``task``
    run that reached the last step of its schedule (the selection rule of both bundling scripts)."""
    from inter4k.models.weights import load_model

    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    if ckpt.get("task") != task:
        raise SystemExit(f"{run}/last.pt is a {ckpt.get('task')!r} run, not a {task!r} one")
    if int(ckpt["step"]) != int(ckpt["steps"]):
        raise SystemExit(f"{run}/last.pt is at step {ckpt['step']} of {ckpt['steps']}: the run has not finished")
    return ckpt["config"], load_model(run / "last.pt")


def with_deadzone(model, deadzone: float):
    """The same weights in a model built with the do-no-harm ``deadzone`` (8-bit levels), in eval mode."""
    from inter4k.models.registry import create_model

    shipped = create_model(model.model_name, **{**model.config, "deadzone": deadzone})
    shipped.load_state_dict(model.state_dict())
    return shipped.eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="a finished train-sr run folder (holds last.pt), or a model file "
                    "(e.g. a bundled one) to ship again with its recipe kept")
    ap.add_argument("--deadzone", type=float, help="the model's do-no-harm threshold in 8-bit levels "
                    "(LowResSRNet's deadzone; default: keep the model's)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inter4k.models.registry import create_model
    from inter4k.models.weights import load_model, save_model, weights_path
    from inter4k.models.layers import macs_per_pixel
    import sr_photos

    if args.source.is_file():  # a model file: its meta holds the recipe it was trained with
        meta = dict(torch.load(args.source, map_location="cpu", weights_only=True).get("meta") or {})
        if "run" not in meta:
            raise SystemExit(f"{args.source} has no training recipe in its meta (not shipped by this script)")
        cfg = meta["run"]
        model = load_model(args.source)
    else:
        cfg, model = finished_run(args.source, "sr")
        meta = {"run": cfg, "command": command_of(cfg), "select": "last"}
        if cfg.get("init"):  # a fine-tuning run: record the run it started from too
            first = Path(cfg["init"])
            if first.is_file():
                parent = torch.load(first, map_location="cpu", weights_only=True).get("config")
                if isinstance(parent, dict):
                    meta["init_run"] = {"config": parent, "command": command_of(parent)}
    name, scale = model.model_name, int(cfg["scale"])
    if args.deadzone is not None:
        model = with_deadzone(model, args.deadzone)
    out = save_model(model, weights_path(name, scale), meta=meta)

    methods = [sr_photos.TorchMethod("bicubic", create_model("bicubic", scale=scale)), sr_photos.TorchMethod(name, model)]
    rows = sr_photos.quality(methods, scale, "test")
    summary = sr_photos.summarise(rows, ["bicubic", name])
    report = {"model": name, "scale": scale, "config": model.config, "select": "last (the final step of the schedule)",
              "command": meta["command"], "init_command": meta.get("init_run", {}).get("command"),
              "params": sum(p.numel() for p in model.parameters()),
              "macs_per_lr_pixel": macs_per_pixel(model, 3), "steps": cfg["steps"],
              "test": {"split": "photos test (data/splits/photos.json)", "summary": summary, "images": rows}}
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    s = summary[name]
    print(f"{out}: x{scale} test mean gain {s['gain_mean']:+.2f} dB, worst {s['gain_worst']:+.2f} dB "
          f"({s['worst_image']}), grid excess {s['grid_excess']:+.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
