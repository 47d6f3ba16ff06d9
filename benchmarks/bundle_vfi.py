#!/usr/bin/env python
"""Ship a finished train-vfi run as the bundled ``vfi-small`` weights, if it passes the ship rule.

    python benchmarks/bundle_vfi.py runs/vfi-shards --margin 0.1

Selection and ship rule (fixed before the run started): the **final** checkpoint of the run's fixed
schedule (the script refuses a run that has not reached its last step) is shipped only if its mean
PSNR-Y on the photo corpus's **val** clips with realistic motion (``inter4k evaluate --task vfi --data
photos --split val --mode 15to60``, guard on, as the model runs) beats the bundled weights' on the same
clips by at least ``--margin`` dB (``--bundled-val`` reuses a figure of the bundled weights measured
with that command). The opencv-doc videos are test only: the run is scored there (``--data videos
--mode 30to60 --frames 20``) after the decision and reported either way.

Writes, when the rule passes, ``data/weights/vfi-small.pt`` (``inter4k-model/1``) and
``data/weights/vfi-small.json`` (the recipe, the command, the val figures of both, the test figures);
otherwise only prints the figures. ``--json FILE`` keeps them either way.
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
    parts = ["inter4k train-vfi", f"--mode {cfg['mode']}", f"--data {cfg['data']}", f"--model {cfg['model']}",
             f"--steps {cfg['steps']}", f"--batch {cfg['batch']}", f"--patch {cfg['patch']}", f"--lr {cfg['lr']}",
             f"--flow-loss {cfg['flow_loss']}", f"--seed {cfg['seed']}"]
    if cfg.get("init"):
        parts.append(f"--init {cfg['init']}")
    return " ".join(parts)


def scores(model, data: str, **kw) -> dict:
    """The model's mean PSNR-Y over frames, per t and per clip, its worst frame against averaging, and
    every method's mean (the model, averaging, nearest, minterpolate)."""
    from inter4k.api import evaluate

    r = evaluate(task="vfi", data=data, model=model, metrics=("psnr",), **kw)
    average = next(m for m in r.methods if m.name == "vfi-average")
    diffs = [(f.values["psnr_y"] - a.values["psnr_y"], f.clip) for f, a in zip(r.primary.frames, average.frames)]
    worst = min(diffs)
    return {"psnr_y": r.primary.mean_over_frames["psnr_y"],
            "per_t": {f"{row['t']:.3f}": row["psnr_y"] for row in r.primary.per_t},
            "clips": {c.name: c.means["psnr_y"] for c in r.primary.clips},
            "worst_minus_average": {"db": worst[0], "clip": worst[1]},
            "methods": {m.name: m.mean_over_frames["psnr_y"] for m in r.methods}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished train-vfi run folder (holds last.pt)")
    ap.add_argument("--margin", type=float, default=0.1, help="dB over the bundled weights on val needed to ship")
    ap.add_argument("--bundled-val", type=float, help="the bundled weights' val PSNR-Y if already measured with "
                    "the same command (default: measure it here)")
    ap.add_argument("--video-frames", type=int, default=20, help="target frames per opencv-doc video (test)")
    ap.add_argument("--limit", type=int, help="val clips (default: all 32; fewer only to try the script out)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from bundle_sr import finished_run
    from inter4k.models.weights import load_model, save_model, weights_path

    cfg, trained = finished_run(args.run, "vfi")
    val = {"run": scores(trained, "photos", split="val", vfi_mode="15to60", limit=args.limit)}
    if args.bundled_val is None:
        val["bundled"] = scores(load_model("vfi-small"), "photos", split="val", vfi_mode="15to60", limit=args.limit)
    run_val = val["run"]["psnr_y"]
    bundled_val = val["bundled"]["psnr_y"] if args.bundled_val is None else args.bundled_val
    ship = run_val >= bundled_val + args.margin
    test = {"run": scores(trained, "videos", vfi_mode="30to60", frames=args.video_frames)}
    report = {"model": "vfi-small", "select": "last (the final step of the schedule)", "command": command_of(cfg),
              "steps": cfg["steps"], "rule": f"ship iff val PSNR-Y >= bundled + {args.margin} dB",
              "val_psnr_y": {"run": run_val, "bundled": bundled_val}, "shipped": ship, "val": val, "test": test}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if ship:
        out = save_model(trained.eval(), weights_path("vfi-small"), meta={"run": cfg, "command": command_of(cfg),
                                                                          "select": "last"})
        out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        print(out)
    print(json.dumps({"val": report["val_psnr_y"], "shipped": ship, "test": test}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
