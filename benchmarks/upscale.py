#!/usr/bin/env python
"""Upscaling benchmark: end-to-end video fps of ``inter4k upscale`` against the model alone.

    python benchmarks/upscale.py                         # 640x360 -> 2560x1440 (x4), sr-small, CPU
    python benchmarks/upscale.py --frames 6 --quick      # a smoke test
    python benchmarks/upscale.py --device cuda --frames 240 --batch 4

What it measures, on one synthetic clip (``make_sample``: H.264 CRF 12, 60 fps, stereo AAC) of
``--frames`` frames at ``--size``:

1. **Model only**: the clip's frames are decoded into memory first; then the same
   :class:`inter4k.infer.tiling.TileRunner` the command uses (same tile, batch, dtype, device) runs
   on them, uint8 frames in and uint8 frames out, as in the pipeline (conversion, tiling and the
   device round trip included; no decoding, colour conversion or encoding).
2. **End to end**: :func:`inter4k.infer.upscale.upscale` on the file (decode thread, the model,
   encode thread with x264 at ``--preset``/``--crf``, audio copied, the output renamed into place),
   timed from the call to its return, with the already loaded model passed in.
3. **Pipeline alone**: the same end-to-end run with the "nearest" model, i.e. what decoding, RGB
   conversion, encoding and muxing cost without a real model (the ceiling the pipeline allows).

Runs are interleaved: model only, end to end, model only, ... (``--rounds`` end-to-end runs), and
the best time of each kind is reported, because on a shared machine other processes only ever make
a run slower. The figure of merit is end-to-end fps / model-only fps, best against best (the
issue's target: >= 80 %); the per-round ratios (each end-to-end run against the mean of the
model-only runs either side of it) show how much the load moved. A model with
bundled weights is loaded from them; otherwise (``sr-small`` before training) its untrained weights
are used, which run at exactly the same speed. A warm-up call on one frame precedes the timings.
Prints a markdown report (command, date, CPU, threads, load) for ``docs/BENCHMARKS.md``;
``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, loadavg as load  # noqa: E402

from inter4k.data.sample import make_sample  # noqa: E402
from inter4k.infer.tiling import TileRunner, parse_tile  # noqa: E402
from inter4k.infer.upscale import parse_dtype, resolve_device, upscale  # noqa: E402
from inter4k.video import iter_frames  # noqa: E402






def get_model(name: str, scale: int):
    """(module, label): bundled weights when they exist, else the untrained model (same speed)."""
    from inter4k.models import create_model
    from inter4k.models.weights import load_model

    try:
        return load_model(name, scale, "cpu"), f"{name} (bundled weights)"
    except FileNotFoundError:
        m = create_model(name, scale=scale)
        m.model_name = name
        return m.eval(), f"{name} (untrained weights; same speed as trained)"


def decode_batches(path: Path, batch: int) -> list[torch.Tensor]:
    frames = list(iter_frames(path))
    return [torch.from_numpy(np.stack(frames[i:i + batch])).permute(0, 3, 1, 2) for i in range(0, len(frames), batch)]


def time_model(runner: TileRunner, batches: list[torch.Tensor], device: torch.device) -> float:
    t = time.perf_counter()
    for x in batches:
        runner(x, channels_last=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=12, help="frames in the clip (60 fps)")
    ap.add_argument("--size", default="640x360", help="input WxH")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--model", default="sr-small")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tile", default="auto")
    ap.add_argument("--tile-overlap", type=int, default=32)
    ap.add_argument("--device", default=None)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--rounds", type=int, default=2, help="end-to-end runs, each between two model-only runs")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--no-pipeline-only", action="store_true", help="skip the 'nearest' pipeline-alone run")
    ap.add_argument("--quick", action="store_true", help="smoke test: 160x90 input")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.quick:
        w, h = 160, 90
    device = resolve_device(args.device)
    dtype = parse_dtype(args.dtype)
    tile = parse_tile(args.tile)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="inter4k-bench-upscale-"))
    load_start = load()

    clip = make_sample(work / f"clip-{w}x{h}-{args.frames}", clips=1, seconds=args.frames / 60, size=(w, h))[0]
    model, label = get_model(args.model, args.scale)
    batches = decode_batches(clip, args.batch)
    n = sum(int(b.shape[0]) for b in batches)

    runner = TileRunner(model, args.scale, device, dtype, tile=tile, overlap=args.tile_overlap)
    runner(batches[0][:1], channels_last=True)  # warm-up (and the auto tile's first choice)

    out = work / f"out-x{args.scale}.mp4"
    kw = dict(scale=args.scale, tile=tile, tile_overlap=args.tile_overlap, dtype=dtype, device=device,
              batch=args.batch, preset=args.preset, crf=args.crf, overwrite=True)
    t_models, t_e2es = [], []
    r = None
    for _ in range(args.rounds):  # interleaved, so drifting load hits both sides alike
        t_models.append(time_model(runner, batches, device))
        r = upscale(clip, out, model=model, **kw)
        t_e2es.append(r.seconds)
    t_models.append(time_model(runner, batches, device))
    fps_model = n / min(t_models)
    fps_e2e = r.frames_out / min(t_e2es)
    ratio = fps_e2e / fps_model
    round_ratios = [(n / e) / (n / ((a + b) / 2)) for e, a, b in zip(t_e2es, t_models, t_models[1:])]

    pipe = None
    if not args.no_pipeline_only:
        p = upscale(clip, work / f"nearest-x{args.scale}.mp4", model="nearest", **kw)
        pipe = p.frames_out / p.seconds
    load_end = load()

    cmd = "python benchmarks/upscale.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    ow, oh = r.size_out
    report = {
        "command": cmd.strip(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(), "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__, "av": av.__version__, "threads": torch.get_num_threads(),
        "load_start": load_start, "load_end": load_end, "model": label, "dtype": args.dtype,
        "input": f"{w}x{h}", "output": f"{ow}x{oh}", "frames": n, "batch": args.batch,
        "tile": r.tile, "oom_retries": r.oom_retries, "encoder": f"libx264 {args.preset} crf {args.crf} yuv420p",
        "model_only_fps": fps_model, "model_only_seconds": t_models,
        "end_to_end_fps": fps_e2e, "end_to_end_seconds": t_e2es, "ratio": ratio, "round_ratios": round_ratios,
        "pipeline_alone_fps": pipe, "streams": r.streams,
    }
    verdict = "PASS" if ratio >= 0.8 else "FAIL"
    print(f"`{report['command']}`  \n{report['date']}, {report['cpu']}"
          + (f", {report['gpu']}" if report["gpu"] else "")
          + f", torch {report['torch']} ({report['threads']} threads), PyAV {report['av']}, load {load_start} -> {load_end}\n")
    print(f"{label}, x{args.scale}, {w}x{h} -> {ow}x{oh}, {n} frames, batch {args.batch}, {args.dtype} on {device}, "
          f"tile {'whole frame' if r.tile is None else r.tile}, {report['encoder']}, audio copied\n")
    print("| measurement | fps | seconds |")
    print("|---|---:|---:|")
    secs = lambda ts: " / ".join(f"{t:.1f}" for t in ts)  # noqa: E731
    print(f"| model only (frames in memory; best of {len(t_models)}) | {fps_model:.3f} | {secs(t_models)} |")
    print(f"| end to end (decode + model + encode + mux; best of {len(t_e2es)}) | {fps_e2e:.3f} | {secs(t_e2es)} |")
    if pipe is not None:
        print(f"| pipeline alone (\"nearest\" model) | {pipe:.2f} | {p.seconds:.1f} |")
    print(f"\nend-to-end / model-only (best against best): **{100 * ratio:.1f} %** (target >= 80 %: {verdict}); "
          f"per round (end to end against the mean of the model-only runs either side): "
          f"{', '.join(f'{100 * q:.1f} %' for q in round_ratios)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
