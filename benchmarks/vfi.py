#!/usr/bin/env python
"""Frame-interpolation benchmark: vfi-small's speed at 1080p x2 and its peak memory at 4K, the baselines'
speed beside it, and every method's quality on real footage.

    python benchmarks/vfi.py --markdown                      # CPU, 2 threads, fp32
    python benchmarks/vfi.py --quick --markdown              # a smoke test (small frames)
    python benchmarks/vfi.py --device cuda --repeats 20 --frames 60 --markdown --json /tmp/vfi-gpu.json
    python benchmarks/vfi.py --no-e2e --no-cpu-memory --quality videos --markdown   # + quality on real videos

What it measures ("30to60"-style x2: one synthesised frame per input pair):

1. **Model only**: ``vfi-small(frame0, frame1, 0.5)`` on one pair of random but smooth ``--size`` frames
   (bicubically enlarged noise, the second frame the first shifted by (5, 3) pixels, so there is
   motion), ``--dtype`` (default fp32) on ``--device``, under ``torch.inference_mode``, after one
   warm-up call; ``--repeats`` timed calls, best and mean reported (on a shared machine other
   processes only ever make a call slower). fps = synthesised frames per second. No tiling, no
   uint8 conversion, no decoding or encoding.
2. **End to end**: :func:`inter4k.api.interpolate` with ``factor=2`` on a clip of ``--frames`` frames at
   ``--size`` made by the script (``make_sample``: H.264 CRF 12, 60 fps, AAC audio), timed from the call
   to its return (decode thread, the model through the tiled runner, x264 ``--preset`` / ``--crf``
   encode, audio copy, mux, rename). Scene-cut detection is off (``scene_threshold=0``): the fast
   synthetic pans can read as a cut, and a cut's copied frame would skip the model, so the output's
   2 x frames are exactly frames - 1 synthesised, the input frames and one repeat of the last frame.
   Reported: synthesised frames per second and output frames per second. Weights: the bundled
   ``data/weights/vfi-small.pt`` when it exists, else a fresh (untrained) vfi-small the script saves
   to its work folder and passes by path: same architecture, so the same cost; the output says which.
3. **Peak memory of one 4K forward** (``--memory-size``, default 3840x2160), fp32: on the CPU in a
   fresh subprocess (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the call, against the
   resident size just before it from /proc/self/statm; tracemalloc does not see torch's allocations),
   and on CUDA when the device is a GPU (``torch.cuda.max_memory_allocated`` after
   ``reset_peak_memory_stats``, against the memory allocated before the call: model and inputs).

4. **Baselines** (``--baselines``, default ``vfi-average,vfi-nearest,vfi-ffmpeg``; ``none`` to skip): the
   same model-only timing for each, on the same pair (vfi-ffmpeg is FFmpeg's minterpolate, run on the
   CPU whatever ``--device``).
5. **Quality** (``--quality DATA``, off by default): :func:`inter4k.evaluate.evaluate` on ``DATA`` (e.g.
   ``videos``: the opencv-doc videos, every other frame dropped; or ``photos``, ``synthetic``, an
   Inter4K root) with vfi-small (the bundled weights, else untrained, as ``inter4k evaluate``; the bundled
   weights also with the failure guard off, the row "..., guard off") and the
   three baselines: PSNR-Y (BT.601) mean over target frames and over clips, per clip, and the worst
   frame's PSNR-Y minus averaging's on the same frame. ``--quality-frames K`` evaluates K samples per
   clip (default all); ``--quality-patch P`` centre crops.

``--markdown`` prints a report (command, date, CPU / GPU, threads, load) for docs/BENCHMARKS.md;
``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, loadavg as load  # noqa: E402

SHIFT = (5, 3)  # (x, y) pixels between the two benchmark frames


def parse_size(text: str) -> tuple[int, int]:
    """"1920x1080" -> (1920, 1080)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size / --memory-size must be WxH, e.g. 1920x1080, got {text!r}") from None
    if w < 16 or h < 16:
        raise SystemExit(f"frames must be at least 16x16, got {text}")
    return w, h


def smooth_pair(w: int, h: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (1, 3, h, w) float32 frames in [0, 1]: smooth noise (bicubically enlarged from 1/16 size)
    and the same image shifted by :data:`SHIFT`, so the network sees real motion."""
    g = torch.Generator().manual_seed(seed)
    pad = 16
    coarse = torch.rand(1, 3, (h + 2 * pad) // 16 + 2, (w + 2 * pad) // 16 + 2, generator=g)
    big = F.interpolate(coarse, size=(h + 2 * pad, w + 2 * pad), mode="bicubic", align_corners=False).clamp_(0, 1)
    dx, dy = SHIFT
    f0 = big[..., pad:pad + h, pad:pad + w].contiguous()
    f1 = big[..., pad + dy:pad + dy + h, pad + dx:pad + dx + w].contiguous()
    return f0, f1


def fresh_model():
    from inter4k.models import create_model

    return create_model("vfi-small").eval()


def weights_for_e2e(work: Path) -> tuple[Path, str]:
    """(checkpoint path, label): the bundled vfi-small.pt, else a fresh one saved into ``work``."""
    from inter4k.models.weights import save_model, weights_path

    bundled = weights_path("vfi-small")
    if bundled.is_file():
        return bundled, f"vfi-small, bundled weights ({bundled})"
    path = save_model(fresh_model(), work / "vfi-small-untrained.pt")
    return path, "vfi-small, untrained weights saved by the script (no bundled vfi-small.pt; same cost as trained)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_model(w: int, h: int, device: torch.device, dtype: torch.dtype, repeats: int,
               name: str = "vfi-small") -> list[float]:
    """Seconds of each of ``repeats`` forward calls of model ``name`` (after one warm-up)."""
    from inter4k.models import create_model

    model = (fresh_model() if name == "vfi-small" else create_model(name)).to(device=device, dtype=dtype)
    f0, f1 = (f.to(device=device, dtype=dtype) for f in smooth_pair(w, h))
    times = []
    with torch.inference_mode():
        model(f0, f1, 0.5)
        sync(device)
        for _ in range(repeats):
            t = time.perf_counter()
            model(f0, f1, 0.5)
            sync(device)
            times.append(time.perf_counter() - t)
    return times


def current_rss() -> int:
    """The resident set size now, in bytes (Linux /proc; else the peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """The peak resident set size of this process, in bytes (ru_maxrss: kB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def memory_child(w: int, h: int, threads: int) -> dict:
    """In a fresh process: one fp32 forward at w x h on the CPU; RSS before and peak after."""
    torch.set_num_threads(threads)
    model = fresh_model()
    f0, f1 = smooth_pair(w, h)
    before = current_rss()
    t = time.perf_counter()
    with torch.inference_mode():
        model(f0, f1, 0.5)
    seconds = time.perf_counter() - t
    peak = peak_rss()
    return {"size": f"{w}x{h}", "rss_before": before, "peak_rss": peak, "growth": peak - before, "seconds": seconds,
            "threads": threads}


def cpu_memory(w: int, h: int, threads: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory-child", f"{w}x{h}", "--threads", str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"the memory subprocess failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def cuda_memory(w: int, h: int, device: torch.device) -> dict:
    model = fresh_model().to(device)
    f0, f1 = (f.to(device) for f in smooth_pair(w, h))
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    t = time.perf_counter()
    with torch.inference_mode():
        out = model(f0, f1, 0.5)
    sync(device)
    seconds = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(device)
    del out
    return {"size": f"{w}x{h}", "allocated_before": before, "peak_allocated": peak, "growth": peak - before,
            "seconds": seconds}


def end_to_end(w: int, h: int, frames: int, work: Path, device: torch.device, dtype: str, preset: str,
               crf: int) -> dict:
    from inter4k import api
    from inter4k.data.sample import make_sample

    clip = make_sample(work / f"clip-{w}x{h}-{frames}", clips=1, seconds=frames / 60, size=(w, h))[0]
    weights, label = weights_for_e2e(work)
    r = api.interpolate(clip, work / "out-x2.mp4", factor=2, model=str(weights), device=device, dtype=dtype,
                        preset=preset, crf=crf, overwrite=True, scene_threshold=0, on_warning=lambda m: None)
    return {"weights": label, "frames_in": r.frames_in, "frames_out": r.frames_out, "synthesized": r.synthesized,
            "duplicated": r.duplicated, "scene_cuts": r.scene_cuts, "seconds": r.seconds, "tile": r.tile,
            "synthesized_fps": r.synthesized / r.seconds, "output_fps": r.frames_out / r.seconds,
            "streams": r.streams, "encoder": f"libx264 {preset} crf {crf} yuv420p"}


def quality(data: str, frames, patch, device: torch.device) -> dict:
    """Every method's PSNR-Y on ``data`` (see the module docstring) through :func:`inter4k.evaluate.evaluate`."""
    from inter4k.evaluate import evaluate
    from inter4k.models.weights import load_model

    model = None if weights_for_quality() else "vfi-small"
    r = evaluate(task="vfi", data=data, frames=frames, patch=patch, metrics="psnr", model=model, device=device)
    methods = [(m.name, m) for m in r.methods]
    if model is None:  # the bundled weights again with the failure guard off (inter4k.models.vfi.flow_guard)
        bare = evaluate(task="vfi", data=data, frames=frames, patch=patch, metrics="psnr",
                        model=load_model("vfi-small").set_guard("off"), device=device).methods[0]
        methods.insert(1, (f"{methods[0][0]}, guard off", bare))
    average = {(f.clip, f.index): f.values["psnr_y"] for f in r.method("vfi-average").frames}
    out = {"data": r.config["data"], "samples": r.config.get("samples"), "methods": {}}
    for name, m in methods:
        gains = [(f.values["psnr_y"] - average[(f.clip, f.index)], f.clip, f.index) for f in m.frames]
        worst = min(gains)
        out["methods"][name] = {
            "frames": len(m.frames), "psnr_y": m.mean_over_frames["psnr_y"], "psnr_y_clips": m.mean_over_clips["psnr_y"],
            "per_clip": {c.name: c.means["psnr_y"] for c in m.clips},
            "worst_gain_over_average": {"db": worst[0], "clip": worst[1], "frame": worst[2]}}
    return out


def weights_for_quality() -> bool:
    from inter4k.models.weights import weights_path

    return weights_path("vfi-small").is_file()


def gib(n: int) -> str:
    return f"{n / 2 ** 30:.2f} GiB"


def markdown(rep: dict) -> str:
    lines = [f"`{rep['command']}`  ",
             f"{rep['date']}, {rep['cpu']}" + (f", {rep['gpu']}" if rep["gpu"] else "")
             + f", torch {rep['torch']} ({rep['threads']} threads), load {rep['load_start']} -> {rep['load_end']}", ""]
    mo = rep["model_only"]
    lines += [f"vfi-small (adaunpool upsampler), x2 (one synthesised frame per input pair, t = 1/2), "
              f"{rep['size']}, {rep['dtype']} on {rep['device']}", "",
              "| measurement | fps | seconds |", "|---|---:|---:|"]
    secs = " / ".join(f"{t:.2f}" for t in mo["seconds"])
    lines.append(f"| model only: one forward on frames in memory (best of {len(mo['seconds'])}; mean "
                 f"{mo['mean_fps']:.3f} fps) | {mo['best_fps']:.3f} | {secs} |")
    e = rep.get("end_to_end")
    if e:
        lines.append(f"| end to end: `api.interpolate` x2, {e['frames_in']} frames -> {e['frames_out']} "
                     f"({e['synthesized']} synthesised" + (f", {e['duplicated']} copied" if e["duplicated"] else "")
                     + f"), synthesised fps | "
                     f"{e['synthesized_fps']:.3f} | {e['seconds']:.1f} |")
        lines.append(f"| end to end, output frames per second | {e['output_fps']:.3f} | {e['seconds']:.1f} |")
    if rep.get("baselines"):
        lines += ["", f"Baselines, model only, same pair ({rep['size']}):", "",
                  "| method | fps (best) | seconds |", "|---|---:|---:|"]
        for name, b in rep["baselines"].items():
            lines.append(f"| {name} | {b['best_fps']:.3f} | {' / '.join(f'{t:.3f}' for t in b['seconds'])} |")
    q = rep.get("quality")
    if q:
        clips = list(next(iter(q["methods"].values()))["per_clip"])
        lines += ["", f"Quality on `{q['data']}` ({next(iter(q['methods'].values()))['frames']} target frames), PSNR-Y dB:",
                  "", "| method | mean over frames | mean over clips | " + " | ".join(clips)
                  + " | worst frame minus averaging |", "|---|" + "---:|" * (len(clips) + 3)]
        for name, m in q["methods"].items():
            w = m["worst_gain_over_average"]
            lines.append(f"| {name} | {m['psnr_y']:.2f} | {m['psnr_y_clips']:.2f} | "
                         + " | ".join(f"{m['per_clip'][c]:.2f}" for c in clips)
                         + f" | {w['db']:+.2f} ({w['clip']} #{w['frame']}) |")
    mem_rows = []
    c = rep.get("cpu_memory")
    if c:
        mem_rows.append(f"| CPU, fresh process, {c['threads']} threads | {c['size']} | {gib(c['peak_rss'])} | "
                        f"{gib(c['growth'])} | {c['seconds']:.1f} |")
    g = rep.get("cuda_memory")
    if g:
        mem_rows.append(f"| CUDA ({rep['gpu']}) | {g['size']} | {gib(g['peak_allocated'])} | {gib(g['growth'])} | "
                        f"{g['seconds']:.2f} |")
    if mem_rows:
        lines += ["", "Peak memory of one fp32 forward:", "",
                  "| where | frame | peak | growth over model + inputs | seconds |", "|---|---|---:|---:|---:|",
                  *mem_rows]
    if e:
        lines += ["", f"End-to-end weights: {e['weights']}; encoder {e['encoder']}, tile "
                      f"{'whole frame' if e['tile'] is None else e['tile']}, streams: {', '.join(e['streams'])}."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1920x1080", help="frame size WxH of the speed measurements")
    ap.add_argument("--repeats", type=int, default=3, help="timed model-only forward calls")
    ap.add_argument("--frames", type=int, default=12, help="frames of the end-to-end clip")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    ap.add_argument("--dtype", default="fp32", help="fp32, bf16 or fp16 (speed runs; memory is fp32)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--memory-size", default="3840x2160", help="frame size WxH of the peak-memory forward")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end run")
    ap.add_argument("--no-cpu-memory", action="store_true", help="skip the CPU peak-memory subprocess")
    ap.add_argument("--baselines", default="vfi-average,vfi-nearest,vfi-ffmpeg",
                    help="baselines timed beside vfi-small (comma-separated; none: skip)")
    ap.add_argument("--quality", default=None, metavar="DATA",
                    help="also evaluate every method on DATA (videos, photos, synthetic or an Inter4K root)")
    ap.add_argument("--quality-frames", type=int, default=None, help="samples per clip for --quality (default all)")
    ap.add_argument("--quality-patch", type=int, default=None, help="centre crops for --quality (default whole)")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="smoke test: 320x180 speed runs, 6 frames, 640x360 memory")
    ap.add_argument("--markdown", action="store_true", help="print the markdown report")
    ap.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    ap.add_argument("--_memory-child", dest="memory_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(*parse_size(args.memory_child), args.threads)))
        return 0
    from inter4k.infer.upscale import parse_dtype, resolve_device

    if args.repeats < 1 or args.frames < 2:
        raise SystemExit("--repeats must be >= 1 and --frames >= 2")
    w, h = parse_size(args.size)
    mw, mh = parse_size(args.memory_size)
    frames = args.frames
    if args.quick:
        (w, h), (mw, mh), frames = (320, 180), (640, 360), 6
    device = resolve_device(args.device)
    dtype = parse_dtype(args.dtype)
    if dtype == torch.float16 and device.type == "cpu":
        raise SystemExit("fp16 is not supported on the CPU; use --dtype bf16 or fp32")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="inter4k-bench-vfi-"))
    work.mkdir(parents=True, exist_ok=True)
    load_start = load()

    def note(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    times = time_model(w, h, device, dtype, args.repeats)
    note(f"model only: {', '.join(f'{t:.2f}' for t in times)} s per frame")
    baselines = {}
    for name in ([] if args.baselines == "none" else [b for b in args.baselines.split(",") if b]):
        bt = time_model(w, h, device, dtype, args.repeats, name)
        baselines[name] = {"seconds": bt, "best_fps": 1 / min(bt), "mean_fps": len(bt) / sum(bt)}
        note(f"{name}: {', '.join(f'{t:.3f}' for t in bt)} s per frame")
    qual = None
    if args.quality:
        qual = quality(args.quality, args.quality_frames, args.quality_patch, device)
        note("quality: " + ", ".join(f"{k} {v['psnr_y']:.2f} dB" for k, v in qual["methods"].items()))
    e2e = None
    if not args.no_e2e:
        e2e = end_to_end(w, h, frames, work, device, args.dtype, args.preset, args.crf)
        note(f"end to end: {e2e['seconds']:.1f} s, {e2e['synthesized']} synthesised")
    cpu_mem = None if args.no_cpu_memory else cpu_memory(mw, mh, args.threads)
    if cpu_mem:
        note(f"CPU memory at {mw}x{mh}: peak {gib(cpu_mem['peak_rss'])}")
    cuda_mem = cuda_memory(mw, mh, device) if device.type == "cuda" else None
    load_end = load()

    cmd = "python benchmarks/vfi.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    rep = {
        "command": cmd.strip(), "date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "load_start": load_start,
        "load_end": load_end, "size": f"{w}x{h}", "dtype": args.dtype, "shift": list(SHIFT),
        "model_only": {"seconds": times, "best_fps": 1 / min(times), "mean_fps": len(times) / sum(times)},
        "end_to_end": e2e, "cpu_memory": cpu_mem, "cuda_memory": cuda_mem, "baselines": baselines,
        "quality": qual,
    }
    if args.markdown:
        print(markdown(rep))
    else:
        print(f"model only: {rep['model_only']['best_fps']:.3f} fps (best of {len(times)}), {w}x{h} {args.dtype} "
              f"on {device}")
        if e2e:
            print(f"end to end: {e2e['synthesized_fps']:.3f} synthesised fps, {e2e['output_fps']:.3f} output fps "
                  f"({e2e['weights']})")
        if cpu_mem:
            print(f"CPU peak memory, one {cpu_mem['size']} forward: {gib(cpu_mem['peak_rss'])} "
                  f"(+{gib(cpu_mem['growth'])})")
        if cuda_mem:
            print(f"CUDA peak memory, one {cuda_mem['size']} forward: {gib(cuda_mem['peak_allocated'])} "
                  f"(+{gib(cuda_mem['growth'])})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rep, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
