#!/usr/bin/env python
"""Ship a finished train-vsr run as bundled weights, with its recipe and held-out figures beside it.

    python benchmarks/bundle_vsr.py runs/vsr-x4 --deadzone 0.25

Selection rule (fixed before the run started): the **final** checkpoint of the run's fixed schedule
(``last.pt`` at ``step == steps``); the script refuses a run that has not reached its last step.
With ``--video-val`` it replaces bundled weights only when the run is better on real footage: its mean
PSNR-Y gain over the per-frame model on the opencv-doc footage's **val** clips (the clips between the
test clips) must beat the bundled weights' on the same clips, and its last validation must be at
least ``--min-val-gain`` dB above the per-frame model's; otherwise nothing is written to
``data/weights`` and the figures are still reported.
``--deadzone`` sets the per-frame network's do-no-harm threshold (8-bit levels), as the bundled
``sr-lr-small`` weights have it.

Writes ``data/weights/<model>_x<scale>.pt`` (``inter4k-model/1``: name, config, weights, the run's
config as meta) and ``data/weights/<model>_x<scale>.json``: the recipe, the command that reproduces
it, the run's last validation, and the held-out figures of :mod:`benchmarks.vsr` (clips over the photo
corpus's test photographs, and the opencv-doc footage), computed here once.
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
    parts = ["inter4k train-vsr", f"--model {cfg['model']}", f"--data {cfg['data']}", f"--scale {cfg['scale']}",
             f"--frames {cfg['frames']}", f"--steps {cfg['steps']}", f"--batch {cfg['batch']}", f"--lr {cfg['lr']}",
             f"--val-clips {cfg['val_clips']}", f"--frame-init {cfg.get('frame_init') or 'none'}",
             f"--seed {cfg['seed']}"]
    if cfg.get("patch"):
        parts.append(f"--patch {cfg['patch']}")
    if cfg.get("init"):
        parts.append(f"--init {cfg['init']}")
    return " ".join(parts)


def last_validation(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if r.get("type") == "val"]
    return vals[-1] if vals else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished train-vsr run folder (holds last.pt and metrics.jsonl)")
    ap.add_argument("--deadzone", type=float, default=0.25, help="the per-frame network's do-no-harm threshold")
    ap.add_argument("--photos-clips", type=int, default=24)
    ap.add_argument("--video-clips", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--video-val", action="store_true",
                    help="ship only if the run beats the bundled weights on the footage's val clips (see above)")
    ap.add_argument("--min-val-gain", type=float, default=0.05,
                    help="with --video-val: the last validation's least gain over the per-frame model, dB")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from inter4k.models.layers import count_macs
    from inter4k.models.weights import save_model, weights_path
    from bundle_sr import finished_run, with_deadzone
    import vsr

    cfg, trained = finished_run(args.run, "vsr")
    name, scale = trained.model_name, int(cfg["scale"])
    model = with_deadzone(trained, args.deadzone)
    meta = {"run": cfg, "command": command_of(cfg), "select": "last"}
    last = last_validation(args.run)
    decision = None
    if args.video_val:
        candidate = save_model(model, args.run / f"{name}_x{scale}.pt", meta=meta)
        val = {"run": vsr.run_set("videos", str(candidate), scale, None, cfg["frames"], split="val"),
               "bundled": vsr.run_set("videos", name, scale, None, cfg["frames"], split="val")}
        gains = {k: next(iter(v["methods"].values()))["gain_mean"] for k, v in val.items()}
        trainer_gain = last["psnr_y"] - last["baseline_psnr_y"]
        ship = gains["run"] > gains["bundled"] and trainer_gain >= args.min_val_gain
        decision = {"ship": ship, "video_val_gain": gains, "trainer_val_gain": trainer_gain,
                    "min_val_gain": args.min_val_gain, "video_val": val}
        print(f"video val gain over per-frame: run {gains['run']:+.3f} dB, bundled {gains['bundled']:+.3f} dB; "
              f"last validation {trainer_gain:+.3f} dB -> {'ship' if ship else 'keep the bundled weights'}",
              flush=True)
    ship = decision is None or decision["ship"]
    out = save_model(model, weights_path(name, scale), meta=meta) if ship else candidate
    source = name if ship else str(candidate)   # the file just written, or the run's candidate

    sets = {}
    if args.photos_clips:
        sets["photos"] = vsr.run_set("photos", source, scale, args.photos_clips, cfg["frames"])
    if args.video_clips:
        sets["videos"] = vsr.run_set("videos", source, scale, args.video_clips, cfg["frames"])
    clip = torch.rand(1, 8, 3, 32, 32)
    report = {"model": name, "scale": scale, "config": model.config, "select": "last (the final step of the schedule)",
              "command": meta["command"], "params": sum(p.numel() for p in model.parameters()),
              "macs_per_lr_pixel": count_macs(model, clip) / (8 * 32 * 32), "steps": cfg["steps"],
              "validation": last, "decision": decision, "test": sets}
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{out}\n\n{vsr.markdown(sets, scale)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
