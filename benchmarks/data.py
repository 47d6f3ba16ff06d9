#!/usr/bin/env python
"""Data-loading benchmarks: decode speed, and training patches per second on the fly vs prepared.

    python benchmarks/data.py                      # FHD sample clips + one UHD clip, markdown report
    python benchmarks/data.py --quick              # small sizes, a smoke test
    python benchmarks/data.py --workdir /tmp/i4k   # reuse the synthetic clips made by an earlier run

What it measures (all on synthetic clips made with ``inter4k.data.sample.make_sample``, H.264
yuv420p CRF 12, preset medium, x264's default GOP: one keyframe at the start of these short clips):

1. **Decode fps** of whole clips with :func:`inter4k.video.iter_frames` (decode + conversion to
   RGB24 numpy arrays), with ``threads=True`` (``thread_type="AUTO"``: frame and slice threading)
   and ``threads=False`` (PyAV's default, slice threading only, which cannot split x264's
   single-slice frames, so one decoding thread).
2. **On the fly**: :class:`inter4k.data.datasets.Inter4KSR` (x4, 192x192 HR patches, bicubic LR,
   random frame, crop and flips), iterated through a ``DataLoader`` (batch 16, shuffled) with
   ``num_workers`` 0 and 2: patches per second, the first batch (worker start-up) excluded.
   Samples are drawn with replacement; timing starts after the batches the workers could have
   prefetched while the first was awaited (``1 + 2 x workers``), and covers ``--fly-batches`` /
   ``--batches`` more.
3. **Prepared**: ``inter4k prepare`` of the same clips (its own patches per second, decoding each
   clip once), then :class:`inter4k.data.prepare.PreparedSR` through the same DataLoader settings.

Printed: a markdown report (the command, date, load average before and after, CPU, torch and PyAV
versions, thread counts) ready for ``docs/BENCHMARKS.md``; ``--json PATH`` writes every figure.
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
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, loadavg as load  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402

from inter4k.data import layout  # noqa: E402
from inter4k.data.datasets import Inter4KSR  # noqa: E402
from inter4k.data.prepare import PreparedSR, prepare  # noqa: E402
from inter4k.data.sample import make_sample  # noqa: E402
from inter4k.video import iter_frames, probe  # noqa: E402






def ensure_sample(root: Path, clips: int, seconds: float, size: tuple[int, int]) -> Path:
    marker = root / "Inter4K" / layout.SAMPLE_MARKER
    if marker.is_file():
        meta = json.loads(marker.read_text())
        if meta["size"] == list(size) and meta["clips"] >= clips and meta["seconds"] == seconds:
            return root
    t = time.perf_counter()
    print(f"making {clips} synthetic clip(s) of {seconds} s at {size[0]}x{size[1]} in {root} ...", file=sys.stderr)
    make_sample(root, clips=clips, seconds=seconds, size=size, audio=False)
    print(f"  done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return root


def decode_fps(path: Path, threads: bool, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        n = sum(1 for _ in iter_frames(path, threads=threads))
        best = max(best, n / (time.perf_counter() - t))
    return best


def loader_rate(ds, workers: int, batches: int, batch_size: int = 16) -> dict:
    """Patches per second in the steady state of a DataLoader.

    Samples are drawn at random with replacement (so a small dataset still gives enough batches).
    The clock starts when batch ``1 + workers * prefetch_factor`` arrives, i.e. after the batches
    the workers could have prepared while the first one was awaited, and runs for ``batches`` more.
    """
    prefetch = 2
    skip = 1 + workers * prefetch
    g = torch.Generator().manual_seed(0)
    sampler = RandomSampler(ds, replacement=True, num_samples=batch_size * (skip + batches), generator=g)
    kw = dict(prefetch_factor=prefetch) if workers else {}
    dl = DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, **kw)
    t0 = time.perf_counter()
    it = iter(dl)
    for k in range(skip):
        next(it)
        if k == 0:
            first = time.perf_counter() - t0
    n = 0
    t = time.perf_counter()
    for lr, hr in it:
        n += hr.shape[0]
    dt = time.perf_counter() - t
    return {"patches": n, "seconds": round(dt, 3), "patches_per_s": round(n / dt, 1) if dt > 0 else None,
            "first_batch_s": round(first, 3), "workers": workers, "batch_size": batch_size}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=None, help="where the synthetic clips go (kept; default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="small frames and few batches (smoke test)")
    ap.add_argument("--no-uhd", action="store_true", help="skip the UHD clip")
    ap.add_argument("--batches", type=int, default=None,
                    help="timed batches of 16 per prepared loader (default 50, quick 5)")
    ap.add_argument("--fly-batches", type=int, default=None,
                    help="timed batches of 16 per on-the-fly loader (default 3, quick 1)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads in the main process (default 2)")
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="inter4k-bench-")
        work = Path(tmp.name)
    else:
        work = args.workdir.expanduser()
        work.mkdir(parents=True, exist_ok=True)
    batches = args.batches or (5 if args.quick else 50)
    fly_batches = args.fly_batches or (1 if args.quick else 3)
    fhd_size = (480, 270) if args.quick else (1920, 1080)
    uhd_size = (960, 540) if args.quick else (3840, 2160)
    patch = 96 if args.quick else 192

    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = load()
    t_start = time.perf_counter()
    results: dict = {"command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
                     "date_utc": started.isoformat(timespec="seconds"), "cpu": cpu_model(), "cpus": os.cpu_count(),
                     "torch": torch.__version__, "pyav": av.__version__, "ffmpeg": ".".join(map(str, av.library_versions["libavcodec"])),
                     "torch_threads": args.threads, "load_start": load0, "decode": [], "loaders": [], "prepare": None}

    fhd = ensure_sample(work / f"fhd-{fhd_size[0]}x{fhd_size[1]}", 3, 2.0, fhd_size)
    clips = [fhd]
    if not args.no_uhd:
        clips.append(ensure_sample(work / f"uhd-{uhd_size[0]}x{uhd_size[1]}", 1, 1.0, uhd_size))

    # 1. decode fps
    for r in clips:
        path = layout.clip_path(r, 1)
        vi = probe(path)
        for threads in (True, False):
            fps = decode_fps(path, threads, repeat=1 if args.quick else 3)
            results["decode"].append({"clip": f"{vi.width}x{vi.height}", "frames": vi.frames, "threads": threads,
                                      "fps": round(fps, 1)})
            print(f"decode {vi.width}x{vi.height} threads={threads}: {fps:.1f} fps", file=sys.stderr)

    # 2. on the fly
    for r in clips:
        vi = probe(layout.clip_path(r, 1))
        n_clips = len(layout.list_clips(r))
        ds = Inter4KSR(r, split="train", scale=4, patch_size=patch, clips=list(range(1, n_clips + 1)),
                       samples_per_clip=64)
        for workers in (0, 2):
            res = loader_rate(ds, workers, fly_batches)
            res.update(source="on the fly (Inter4KSR)", clip=f"{vi.width}x{vi.height}")
            results["loaders"].append(res)
            print(f"on the fly {vi.width}x{vi.height} workers={workers}: {res['patches_per_s']} patches/s", file=sys.stderr)

    # 3. prepared
    out = work / f"prepared-{fhd_size[0]}-p{patch}"
    per_clip = 16 if args.quick else 64
    t = time.perf_counter()
    rep = prepare(fhd, out, split="train", clips=[1, 2, 3], patch=patch, per_clip=per_clip, shard_size=64)
    dt = time.perf_counter() - t
    results["prepare"] = {"clip": f"{fhd_size[0]}x{fhd_size[1]}", "clips": 3, "patches": rep["patches"],
                          "written_shards": rep["written"], "seconds": round(dt, 2),
                          "patches_per_s": round(rep["patches"] / dt, 1) if rep["written"] else None,
                          "bytes": rep["bytes"]}
    print(f"prepare: {rep['patches']} patches in {dt:.1f} s ({rep['written']} shards written)", file=sys.stderr)
    pds = PreparedSR(out, scale=4)
    for workers in (0, 2):
        res = loader_rate(pds, workers, batches)
        res.update(source="prepared (PreparedSR)", clip=f"{fhd_size[0]}x{fhd_size[1]}")
        results["loaders"].append(res)
        print(f"prepared workers={workers}: {res['patches_per_s']} patches/s", file=sys.stderr)

    results["load_end"] = load()
    results["elapsed_s"] = round(time.perf_counter() - t_start, 1)

    # report
    lines = [
        f"- command: `{results['command']}`",
        f"- date (UTC): {results['date_utc']}; elapsed {results['elapsed_s']} s; load average (1/5/15 min) "
        f"{results['load_start']} at the start, {results['load_end']} at the end",
        f"- CPU: {results['cpu']} ({results['cpus']} cores visible); torch {results['torch']} "
        f"({args.threads} threads in the main process, DataLoader workers 1 each); PyAV {results['pyav']} "
        f"(libavcodec {results['ffmpeg']})",
        f"- clips: synthetic (`make_sample`), H.264 CRF 12 yuv420p, one keyframe per clip; "
        f"SR x4, HR patch {patch}, bicubic LR (MATLAB imresize), batch 16; timed batches after the warm-up: "
        f"{fly_batches} per on-the-fly loader, {batches} per prepared loader",
        "",
        "**Decode (whole clip, `iter_frames`: decode + RGB24 numpy frames; best of 3)**",
        "",
        "| clip | frames | PyAV threads | fps |",
        "|:--|--:|:--|--:|",
    ]
    for d in results["decode"]:
        lines.append(f"| {d['clip']} | {d['frames']} | {'AUTO (frame + slice)' if d['threads'] else 'PyAV default (slice)'} | {d['fps']} |")
    lines += ["", "**Training patches per second (DataLoader)**", "",
              "| source | clip | workers | patches/s | first batch s |", "|:--|:--|--:|--:|--:|"]
    for r in results["loaders"]:
        lines.append(f"| {r['source']} | {r['clip']} | {r['workers']} | {r['patches_per_s']} | {r['first_batch_s']} |")
    p = results["prepare"]
    lines += ["", f"`prepare` itself: {p['patches']} patches from {p['clips']} clips of {p['clip']} in {p['seconds']} s "
              f"({p['patches_per_s']} patches/s, {p['bytes'] / 2 ** 20:.0f} MiB of shards)"
              + ("" if p["written_shards"] else " (already prepared: nothing written, time not representative)")]
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
