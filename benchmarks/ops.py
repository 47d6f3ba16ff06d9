#!/usr/bin/env python
"""Operator benchmarks for adaunpool: time, memory and bandwidth of AdaPool / AdaUnPool.

    python benchmarks/ops.py                           # CPU, fp32, 2 threads, the issue's size
    python benchmarks/ops.py --device cuda --markdown  # adds 32x64x256x256 and 1x64x2160x3840, fp32+bf16
    python benchmarks/ops.py --quick --allow-reference # a smoke test (small sizes, few repeats)

For every op and size it reports, next to our ("ours": whatever ``au.backend_info()`` says runs)
forward and forward+backward times:

* the ratio to ``F.avg_pool{d}d`` and ``F.max_pool{d}d`` on the same input (for adaunpool2d: on a
  tensor of the unpooled output's shape), forward and forward+backward;
* the speed-up over the pure-PyTorch reference (``adaunpool.reference``, called directly so that it
  can be compared with the compiled kernels in one process), and the largest forward difference
  between the two (a sanity check: a broken kernel should not be timed unnoticed);
* the peak memory of one call (CUDA: ``torch.cuda.max_memory_allocated`` above what was allocated
  before the call; CPU: the peak of the CPU allocator's running total recorded by the torch profiler
  with ``profile_memory=True`` — tensor storage only, see ``cpu_peak_bytes``);
* on CUDA, the forward's effective bandwidth (bytes of x read + y written, + w if returned) and its
  fraction of a large device-to-device ``copy_`` (read + write bytes);
* on the CPU, thread scaling: the forward of ours and of ``F.avg_pool{d}d`` on 1, 2 and all the
  threads this process may use (``torch.set_num_threads``), timed in interleaved rounds per count.

Timing: the median of ``--repeat`` calls after ``--warmup`` calls. Ours, avg_pool and max_pool are
timed in interleaved rounds (one call of each per round), and the ratios are medians of the per-round
ratios, so load that drifts during the run (a noisy machine) affects both sides of a ratio alike.
The reference is slow and gets ``--ref-repeat`` rounds (each with one call of ours, which the
speed-up is paired with). CPU: ``time.perf_counter`` with ``torch.set_num_threads(--threads)``;
CUDA: one pair of CUDA events per call.

The issue's targets are shown as PASS/FAIL columns (nothing here asserts them):
CPU fp32: adaPool forward <= 3x avg_pool, >= 10x faster than the reference, forward+backward <= 4x
avg_pool's; CUDA: forward <= 1.5x avg_pool and >= 70 % of copy bandwidth at large sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # quieten the profiler used for CPU memory

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # measure this checkout's adaunpool
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, loadavg as _loadavg  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import adaunpool as au  # noqa: E402
from adaunpool import _geometry as geo  # noqa: E402
from adaunpool import reference  # noqa: E402

MiB = 1024 * 1024
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

# op key -> (label, dims, kind, au function name, beta, dsc, return_weights)
OPS = {
    "adapool2d": ("adapool2d", 2, "pool", "adapool2d", 0.5, "channel", False),
    "adapool2d-element": ("adapool2d dsc=element", 2, "pool", "adapool2d", 0.5, "element", False),
    "edscwpool2d": ("edscwpool2d", 2, "pool", "edscwpool2d", 1.0, "channel", False),
    "empool2d": ("empool2d", 2, "pool", "empool2d", 0.0, "element", False),
    "adapool2d-weights": ("adapool2d +weights", 2, "pool", "adapool2d", 0.5, "channel", True),
    "adaunpool2d": ("adaunpool2d", 2, "unpool", "adaunpool2d", 0.5, "channel", False),
    "adapool3d": ("adapool3d", 3, "pool", "adapool3d", 0.5, "channel", False),
}

DEFAULT_SIZES = {2: [(8, 64, 128, 128)], 3: [(2, 32, 16, 64, 64)]}
CUDA_LARGE_2D = [(32, 64, 256, 256), (1, 64, 2160, 3840)]
QUICK_SIZES = {2: [(2, 16, 64, 64)], 3: [(1, 8, 8, 32, 32)]}
LARGE_BYTES = 256 * MiB  # an input at least this big counts as "large" for the GPU bandwidth target

TARGETS_CPU = {"fwd_vs_avg": 3.0, "ref_speedup": 10.0, "fb_vs_avg": 4.0}
TARGETS_CUDA = {"fwd_vs_avg": 1.5, "copy_fraction": 0.70}


# ------------------------------------------------------------------------------------------ timing

def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_interleaved(fns: dict[str, Callable], repeat: int, warmup: int, device: str) -> dict[str, list[float]]:
    """Call every fn once per round (warm-up rounds first); return per-call times in ms, per fn."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    _sync(device)
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            if device == "cuda":
                events = {}
                for k, fn in fns.items():
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    fn()
                    end.record()
                    events[k] = (start, end)
                torch.cuda.synchronize()
                for k, (start, end) in events.items():
                    times[k].append(start.elapsed_time(end))
            else:
                for k, fn in fns.items():
                    t0 = time.perf_counter()
                    fn()
                    times[k].append((time.perf_counter() - t0) * 1e3)
    finally:
        gc.enable()
    return times


def median(v: Optional[list[float]]) -> Optional[float]:
    return statistics.median(v) if v else None


def paired_ratio(a: Optional[list[float]], b: Optional[list[float]]) -> Optional[float]:
    """Median over rounds of a_i / b_i (a and b were timed in the same rounds)."""
    if not a or not b:
        return None
    return statistics.median(x / y for x, y in zip(a, b) if y > 0)


# ------------------------------------------------------------------------------------------ memory

@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ profiler's own log lines (fd 2) for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def cpu_peak_bytes(fn: Callable) -> int:
    """Peak tensor memory allocated on the CPU during one call of fn, above the level at its start.

    The torch profiler (``profile_memory=True``) records every allocation and free of the c10 CPU
    allocator with the running total of bytes allocated since profiling started; the peak of that
    total is the call's peak working set of tensor storage (outputs included, as they are alive at
    the end of the call). Memory that a kernel takes with plain malloc/new, outside the tensor
    allocator, is not seen. Frees of blocks that existed before the call are not counted, so the
    figure can only err high, never low.
    """
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    with _quiet_stderr():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=False) as prof:
            out = fn()
            del out
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            prof.export_chrome_trace(path)
            with open(path) as f:
                events = json.load(f).get("traceEvents", [])
    totals = [
        e["args"]["Total Allocated"]
        for e in events
        if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type", 0) == 0
        and "Total Allocated" in e.get("args", {})
    ]
    return max([0] + totals)


def cuda_peak_bytes(fn: Callable) -> int:
    """Peak of torch.cuda.max_memory_allocated during one call of fn, above the allocation at its start."""
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    del out
    return torch.cuda.max_memory_allocated() - base


def peak_bytes(fn: Callable, device: str) -> int:
    return cuda_peak_bytes(fn) if device == "cuda" else cpu_peak_bytes(fn)


def copy_bandwidth_gbs(device: str, nbytes: int = 1 << 30, repeat: int = 20) -> float:
    """Device-to-device copy bandwidth in GB/s, counting the bytes read plus the bytes written."""
    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    t = time_interleaved({"copy": lambda: dst.copy_(src)}, repeat, 3, device)["copy"]
    ms = statistics.median(t)
    del src, dst
    if device == "cuda":
        torch.cuda.empty_cache()
    return 2 * nbytes / (ms * 1e-3) / 1e9


# ------------------------------------------------------------------------------------------- cases

@dataclass
class Case:
    key: str
    label: str
    dims: int
    kind: str
    shape: tuple
    dtype: torch.dtype
    ours_fwd: Callable
    ours_fb: Callable
    ref_fwd: Callable
    ref_fb: Callable
    base: dict[str, Callable]  # avg_fwd, avg_fb, max_fwd, max_fb
    io_bytes: int              # forward: bytes read + written
    input_bytes: int
    sanity: Callable           # () -> max |ours - reference| of the forward
    keep: list = field(default_factory=list)


def _grad_fn(fn: Callable, inputs: list[torch.Tensor], grads: list[torch.Tensor]) -> Callable:
    def run():
        outs = fn()
        outs = outs if isinstance(outs, tuple) else (outs,)
        return torch.autograd.grad(outs, inputs, [g.reshape(o.shape) for g, o in zip(grads, outs)])
    return run


def _no_grad(fn: Callable) -> Callable:
    def run():
        with torch.no_grad():
            return fn()
    return run


def _ref_pool(t, k, s, dims, beta, dsc, rw):
    """The reference adaPool on canonical 5-D tensors, as the functional API would call it."""
    win = geo.pool_windows(t, k, s, dims, "bench")
    acc = geo.acc_dtype(t.dtype)
    y_shape = tuple(t.shape[:2]) + win.spatial_out()
    beta5 = geo.broadcast_beta(beta, y_shape, acc, t.device, dims, "bench")
    return reference.adapool(geo.to5d(t, dims), win.kernel, win.stride, beta5, dsc, rw)


def _ref_unpool(y, w, k, s, dims):
    win = geo.unpool_windows(y, w, k, s, None, dims, "bench")
    w5 = w
    for _ in range(3 - dims):
        w5 = w5.unsqueeze(2)
    return reference.adaunpool(geo.to5d(y, dims), w5, win.kernel, win.stride, win.in_size, "mean")


def _max_abs_diff(a, b) -> float:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return max(float((x.float().reshape(-1) - y.float().reshape(-1)).abs().max()) for x, y in zip(a, b))


def make_case(key: str, shape: tuple, dtype: torch.dtype, device: str, kernel: int, stride: int) -> Case:
    label, dims, kind, fname, beta, dsc, rw = OPS[key]
    gen = torch.Generator(device=device).manual_seed(0)  # random normal data, made on the device
    x = torch.randn(shape, generator=gen, device=device, dtype=torch.float32).to(dtype)
    avg = getattr(F, f"avg_pool{dims}d")
    mx = getattr(F, f"max_pool{dims}d")
    k, s = kernel, stride
    xg = x.detach().clone().requires_grad_()
    esz = x.element_size()

    def randn_like(t):
        return torch.randn(t.shape, generator=gen, device=device, dtype=torch.float32).to(t.dtype)

    # baselines: avg/max pooling of a full-resolution tensor (x; for unpooling, x has u's shape)
    yb = avg(x, k, s)
    gb = randn_like(yb)
    base = {
        "avg_fwd": _no_grad(lambda: avg(x, k, s)),
        "avg_fb": _grad_fn(lambda: avg(xg, k, s), [xg], [gb]),
        "max_fwd": _no_grad(lambda: mx(x, k, s)),
        "max_fb": _grad_fn(lambda: mx(xg, k, s), [xg], [gb]),
    }

    if kind == "pool":
        f = getattr(au, fname)
        if fname.startswith("adapool"):
            def ours(t):
                return f(t, k, s, beta=beta, dsc=dsc, return_weights=rw)
        elif fname.startswith("edscwpool"):
            def ours(t):
                return f(t, k, s, dsc=dsc)
        else:
            def ours(t):
                return f(t, k, s)

        def ref(t):
            return _ref_pool(t, k, s, dims, beta, dsc, rw)

        out = ours(x)
        outs = out if isinstance(out, tuple) else (out,)
        grads = [randn_like(o) for o in outs]
        io_bytes = x.numel() * esz + sum(o.numel() * o.element_size() for o in outs)
        del out, outs
        case = Case(
            key, label, dims, kind, tuple(shape), dtype,
            ours_fwd=_no_grad(lambda: ours(x)),
            ours_fb=_grad_fn(lambda: ours(xg), [xg], grads),
            ref_fwd=_no_grad(lambda: ref(x)),
            ref_fb=_grad_fn(lambda: ref(xg), [xg], grads),
            base=base, io_bytes=io_bytes, input_bytes=x.numel() * esz,
            sanity=lambda: _max_abs_diff(_no_grad(lambda: ours(x))(), _no_grad(lambda: ref(x))()),
            keep=[x, xg, grads, gb],
        )
        return case

    # unpool: y, w from adaPool of x itself; u has x's shape
    with torch.no_grad():
        y, w = getattr(au, f"adapool{dims}d")(x, k, s, beta=beta, dsc=dsc, return_weights=True)
    yg, wg = y.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    uf = getattr(au, fname)

    def ours_u(a, b):
        return uf(a, b, k, s)

    def ref_u(a, b):
        return _ref_unpool(a, b, k, s, dims)

    u = ours_u(y, w)
    gu = randn_like(u)
    io_bytes = (y.numel() + w.numel() + u.numel()) * esz
    del u
    return Case(
        key, label, dims, kind, tuple(shape), dtype,
        ours_fwd=_no_grad(lambda: ours_u(y, w)),
        ours_fb=_grad_fn(lambda: ours_u(yg, wg), [yg, wg], [gu]),
        ref_fwd=_no_grad(lambda: ref_u(y, w)),
        ref_fb=_grad_fn(lambda: ref_u(yg, wg), [yg, wg], [gu]),
        base=base, io_bytes=io_bytes, input_bytes=x.numel() * esz,
        sanity=lambda: _max_abs_diff(_no_grad(lambda: ours_u(y, w))(), _no_grad(lambda: ref_u(y, w))()),
        keep=[x, xg, y, w, yg, wg, gu, gb],
    )


# --------------------------------------------------------------------------------------- measuring

def _guard(fn: Callable, errors: list, what: str):
    """Run fn; on an error (out of memory included) record it and return None."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a benchmark reports failures and goes on
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in msg.lower()
        errors.append(f"{what}: {'OOM' if oom else type(exc).__name__}: {msg[:200]}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None


def thread_counts() -> list[int]:
    """1, 2 and every CPU this process may run on (fewer when they coincide)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    return sorted({1, 2, usable})


def thread_scaling(case: Case, args) -> dict[str, dict[str, float]]:
    """Forward medians (ms) of ours and avg_pool at each of thread_counts(): {"1": {"ours": ms, "avg": ms}, ...}."""
    out = {}
    try:
        for n in thread_counts():
            torch.set_num_threads(n)
            t = time_interleaved({"ours": case.ours_fwd, "avg": case.base["avg_fwd"]}, args.repeat, args.warmup, "cpu")
            out[str(n)] = {"ours": median(t["ours"]), "avg": median(t["avg"])}
    finally:
        torch.set_num_threads(args.threads)
    return out


def measure(case: Case, args, device: str, copy_gbs: Optional[float]) -> dict:
    errors: list[str] = []
    what = f"{case.label} {fmt_shape(case.shape)} {DTYPE_NAMES[case.dtype]}"
    row = {
        "op": case.key, "label": case.label, "shape": list(case.shape), "dtype": DTYPE_NAMES[case.dtype],
        "kind": case.kind, "input_bytes": case.input_bytes, "io_bytes": case.io_bytes,
    }
    fns = {"ours_fwd": case.ours_fwd, "ours_fb": case.ours_fb, **case.base}
    t = _guard(lambda: time_interleaved(fns, args.repeat, args.warmup, device), errors, what + " timing")
    if t is None:  # time what can be timed, one by one
        t = {}
        for k, fn in fns.items():
            r = _guard(lambda fn=fn: time_interleaved({k: fn}, args.repeat, args.warmup, device), errors, f"{what} {k}")
            if r:
                t.update(r)
    for k in fns:
        row[f"{k}_ms"] = median(t.get(k))
        row[f"{k}_min_ms"] = min(t[k]) if t.get(k) else None
    row["fwd_vs_avg"] = paired_ratio(t.get("ours_fwd"), t.get("avg_fwd"))
    row["fb_vs_avg"] = paired_ratio(t.get("ours_fb"), t.get("avg_fb"))
    row["fwd_vs_max"] = paired_ratio(t.get("ours_fwd"), t.get("max_fwd"))
    row["fb_vs_max"] = paired_ratio(t.get("ours_fb"), t.get("max_fb"))

    row["ref_fwd_ms"] = row["ref_fb_ms"] = row["ref_speedup_fwd"] = row["ref_speedup_fb"] = None
    row["max_abs_diff_vs_ref"] = None
    if not args.no_reference:
        # the check runs both forwards once, which also warms the reference's forward up
        row["max_abs_diff_vs_ref"] = _guard(case.sanity, errors, what + " reference check")
        for part in ("fwd", "fb"):
            ref_fn, ours_fn = (case.ref_fwd, case.ours_fwd) if part == "fwd" else (case.ref_fb, case.ours_fb)
            warm = 0 if part == "fwd" and row["max_abs_diff_vs_ref"] is not None else 1
            # ours is timed again in the same rounds, so the speed-up is a paired ratio like the others
            r = _guard(lambda ref_fn=ref_fn, ours_fn=ours_fn, warm=warm: time_interleaved(
                {"ref": ref_fn, "ours": ours_fn}, args.ref_repeat, warm, device), errors, f"{what} reference {part}")
            r = r or {}
            row[f"ref_{part}_ms"] = median(r.get("ref"))
            row[f"ref_{part}_min_ms"] = min(r["ref"]) if r.get("ref") else None
            row[f"ref_speedup_{part}"] = paired_ratio(r.get("ref"), r.get("ours"))

    for name, fn in (("ours_fwd", case.ours_fwd), ("ours_fb", case.ours_fb), ("avg_fwd", case.base["avg_fwd"]),
                     ("ref_fwd", case.ref_fwd), ("ref_fb", case.ref_fb)):
        row[f"{name}_peak_bytes"] = None
        if args.no_memory or (name.startswith("ref") and args.no_reference):
            continue
        row[f"{name}_peak_bytes"] = _guard(lambda fn=fn: peak_bytes(fn, device), errors, f"{what} {name} memory")

    row["threads_fwd_ms"] = None
    if device == "cpu" and not args.no_scaling:
        row["threads_fwd_ms"] = _guard(lambda: thread_scaling(case, args), errors, what + " thread scaling")

    row["fwd_gbs"] = row["copy_fraction"] = None
    if device == "cuda" and row["ours_fwd_ms"]:
        row["fwd_gbs"] = case.io_bytes / (row["ours_fwd_ms"] * 1e-3) / 1e9
        if copy_gbs:
            row["copy_fraction"] = row["fwd_gbs"] / copy_gbs
    row["targets"] = targets(row, device)
    row["errors"] = errors
    return row


def targets(row: dict, device: str) -> dict:
    """The issue's targets for this row: {name: True/False}; absent where the target does not apply."""
    out: dict[str, bool] = {}
    if row["kind"] != "pool":
        return out
    if device == "cpu":
        if row["dtype"] != "fp32":
            return out
        if row["fwd_vs_avg"] is not None:
            out["fwd_vs_avg"] = row["fwd_vs_avg"] <= TARGETS_CPU["fwd_vs_avg"]
        if row["ref_speedup_fwd"] is not None:
            out["ref_speedup"] = row["ref_speedup_fwd"] >= TARGETS_CPU["ref_speedup"]
        if row["fb_vs_avg"] is not None:
            out["fb_vs_avg"] = row["fb_vs_avg"] <= TARGETS_CPU["fb_vs_avg"]
    else:
        if row["fwd_vs_avg"] is not None:
            out["fwd_vs_avg"] = row["fwd_vs_avg"] <= TARGETS_CUDA["fwd_vs_avg"]
        if row["copy_fraction"] is not None and row["input_bytes"] >= LARGE_BYTES:
            out["copy_fraction"] = row["copy_fraction"] >= TARGETS_CUDA["copy_fraction"]
    return out


# ------------------------------------------------------------------------------------------ output

def fmt_shape(shape) -> str:
    return "x".join(str(v) for v in shape)


def fmt_ms(v) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def fmt_ratio(v) -> str:
    return "—" if v is None else f"{v:.2f}x" if v < 100 else f"{v:.0f}x"


def fmt_mib(v) -> str:
    return "—" if v is None else f"{v / MiB:.1f}"


def fmt_pass(t: dict, name: str) -> str:
    return "—" if name not in t else ("PASS" if t[name] else "FAIL")


def fmt_err(v) -> str:
    return "—" if v is None else f"{v:.1e}"


def tables(rows: list[dict], device: str) -> list[tuple[str, list[str], list[list[str]]]]:
    time_head = ["op", "shape", "dtype", "fwd ms", "fwd+bwd ms", "fwd/avg", "f+b/avg", "fwd/max", "f+b/max",
                 "ref fwd ms", "ref f+b ms", "speed-up fwd", "speed-up f+b", "max Δ vs ref"]
    time_rows = [[r["label"], fmt_shape(r["shape"]), r["dtype"], fmt_ms(r["ours_fwd_ms"]), fmt_ms(r["ours_fb_ms"]),
                  fmt_ratio(r["fwd_vs_avg"]), fmt_ratio(r["fb_vs_avg"]), fmt_ratio(r["fwd_vs_max"]),
                  fmt_ratio(r["fb_vs_max"]), fmt_ms(r["ref_fwd_ms"]), fmt_ms(r["ref_fb_ms"]),
                  fmt_ratio(r["ref_speedup_fwd"]), fmt_ratio(r["ref_speedup_fb"]), fmt_err(r["max_abs_diff_vs_ref"])]
                 for r in rows]
    mem_head = ["op", "shape", "dtype", "peak fwd MiB", "peak f+b MiB", "avg_pool fwd MiB", "ref fwd MiB",
                "ref f+b MiB"]
    if device == "cuda":
        mem_head += ["fwd GB/s", "% copy BW", "fwd ≤1.5x avg", "≥70% copy (large)"]
    else:
        mem_head += ["fwd ≤3x avg", "≥10x ref", "f+b ≤4x avg"]
    mem_rows = []
    for r in rows:
        line = [r["label"], fmt_shape(r["shape"]), r["dtype"], fmt_mib(r["ours_fwd_peak_bytes"]),
                fmt_mib(r["ours_fb_peak_bytes"]), fmt_mib(r["avg_fwd_peak_bytes"]), fmt_mib(r["ref_fwd_peak_bytes"]),
                fmt_mib(r["ref_fb_peak_bytes"])]
        t = r["targets"]
        if device == "cuda":
            line += ["—" if r["fwd_gbs"] is None else f"{r['fwd_gbs']:.0f}",
                     "—" if r["copy_fraction"] is None else f"{100 * r['copy_fraction']:.0f}%",
                     fmt_pass(t, "fwd_vs_avg"), fmt_pass(t, "copy_fraction")]
        else:
            line += [fmt_pass(t, "fwd_vs_avg"), fmt_pass(t, "ref_speedup"), fmt_pass(t, "fb_vs_avg")]
        mem_rows.append(line)
    blocks = [("Time (median ms; ratios: ours / baseline, speed-up: reference / ours)", time_head, time_rows),
              ("Memory (peak above the call's start), bandwidth and the issue's targets", mem_head, mem_rows)]
    if any(r.get("threads_fwd_ms") for r in rows):
        blocks.append(scaling_table(rows))
    return blocks


def scaling_table(rows: list[dict]) -> tuple[str, list[str], list[list[str]]]:
    """Forward ms of ours and avg_pool per thread count, and each one's speed-up from 1 thread to all."""
    counts = thread_counts()
    label = {n: f"{n} thr" + (" (all)" if n == counts[-1] else "") for n in counts}
    head = (["op", "shape", "dtype"] + [f"fwd {label[n]}" for n in counts] + [f"avg {label[n]}" for n in counts]
            + [f"fwd 1→{counts[-1]} thr", f"avg 1→{counts[-1]} thr"])
    body = []
    for r in rows:
        by = r.get("threads_fwd_ms") or {}
        ms = {who: [by.get(str(n), {}).get(who) for n in counts] for who in ("ours", "avg")}
        speedup = [fmt_ratio(v[0] / v[-1]) if v[0] and v[-1] else "—" for v in (ms["ours"], ms["avg"])]
        body.append([r["label"], fmt_shape(r["shape"]), r["dtype"], *map(fmt_ms, ms["ours"]), *map(fmt_ms, ms["avg"]),
                     *speedup])
    return "Thread scaling (forward, median ms at torch.set_num_threads(n); speed-up: 1 thread / all)", head, body


def summary_lines(rows: list[dict], device: str, threads: int) -> list[str]:
    """The issue's targets for the headline op (adapool2d, dsc=channel), spelled out."""
    lines = []
    for r in rows:
        if r["op"] != "adapool2d":
            continue
        t, where = r["targets"], f"adapool2d {fmt_shape(r['shape'])} {r['dtype']}"
        if device == "cpu" and r["dtype"] == "fp32":
            lines.append(f"{where}, {threads} threads: forward {fmt_ratio(r['fwd_vs_avg'])} avg_pool2d "
                         f"(target <= 3x: {fmt_pass(t, 'fwd_vs_avg')}); speed-up over the reference "
                         f"{fmt_ratio(r['ref_speedup_fwd'])} (target >= 10x: {fmt_pass(t, 'ref_speedup')}); forward+backward "
                         f"{fmt_ratio(r['fb_vs_avg'])} avg_pool2d's (target <= 4x: {fmt_pass(t, 'fb_vs_avg')})")
        elif device == "cuda":
            bw = "—" if r["copy_fraction"] is None else f"{100 * r['copy_fraction']:.0f}%"
            lines.append(f"{where}: forward {fmt_ratio(r['fwd_vs_avg'])} avg_pool2d (target <= 1.5x: "
                         f"{fmt_pass(t, 'fwd_vs_avg')}); {bw} of copy bandwidth (target >= 70% at large sizes: "
                         f"{fmt_pass(t, 'copy_fraction')})")
    return lines


def print_plain(title, head, body) -> None:
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    print(title)
    print("  ".join(h.rjust(w) if i > 2 else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths))))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(b, widths))))
    print()


def print_rich(title, head, body) -> bool:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return False
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, h in enumerate(head):
        table.add_column(h, justify="left" if i < 3 else "right", no_wrap=True)
    for b in body:
        styled = [f"[green]{c}[/]" if c == "PASS" else f"[red]{c}[/]" if c == "FAIL" else c for c in b]
        table.add_row(*styled)
    Console(width=max(250, Console().width), force_terminal=None).print(table)
    return True


def markdown(title, head, body) -> str:
    out = [f"**{title}**", "", "| " + " | ".join(head) + " |",
           "|" + "|".join(":--" if i < 3 else "--:" for i in range(len(head))) + "|"]
    out += ["| " + " | ".join(b) + " |" for b in body]
    return "\n".join(out)






def command_line() -> str:
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in ("ADAUNPOOL_BACKEND",) if k in os.environ)
    script = os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd())
    return env + shlex.join(["python", script, *sys.argv[1:]])


# -------------------------------------------------------------------------------------------- main

def parse_sizes(text: str) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for item in text.replace(" ", "").split(","):
        if not item:
            continue
        parts = tuple(int(v) for v in item.lower().replace("×", "x").split("x"))
        if len(parts) not in (4, 5) or min(parts) < 1:
            raise SystemExit(f"--sizes: {item!r} must be NxCxHxW (2-d ops) or NxCxDxHxW (3-d ops)")
        out.setdefault(len(parts) - 2, []).append(parts)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="ops: " + ", ".join(OPS))
    p.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="default: cuda when available, else cpu")
    p.add_argument("--dtype", default=None, help="comma list of fp32,bf16,fp16,fp64 (default: cpu fp32; cuda fp32,bf16)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on CPU (default 2)")
    p.add_argument("--repeat", type=int, default=None, help="timed calls of ours and the baselines "
                   "(default 20 on cpu, 50 on cuda; 5 with --quick)")
    p.add_argument("--ref-repeat", type=int, default=None, help="timed calls of the (slow) reference "
                   "(default 3 on cpu, 10 on cuda; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke test, not a measurement")
    p.add_argument("--sizes", default=None, help="comma list of NxCxHxW (2-d ops) and NxCxDxHxW (3-d ops); "
                   "a rank given no size keeps its default")
    p.add_argument("--ops", default=None, help="comma list of ops to run (default: all)")
    p.add_argument("--kernel", type=int, default=2, help="kernel size in every dim (default 2)")
    p.add_argument("--stride", type=int, default=None, help="stride in every dim (default: the kernel size)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference (no speed-up column)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    p.add_argument("--no-scaling", action="store_true", help="CPU: skip the thread-scaling table (1, 2, all threads)")
    p.add_argument("--markdown", action="store_true", help="also print Markdown tables and the run's details")
    p.add_argument("--json", default=None, metavar="PATH", help="write every figure to PATH as JSON")
    p.add_argument("--allow-reference", action="store_true",
                   help="report even when the backend in use is the pure-PyTorch reference")
    args = p.parse_args(argv)

    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    cuda = args.device == "cuda"
    names = (args.dtype or ("fp32,bf16" if cuda else "fp32")).split(",")
    bad = [n for n in names if n not in DTYPES]
    if bad:
        p.error(f"--dtype: unknown {bad}; choose from {list(DTYPES)}")
    args.dtypes = [DTYPES[n] for n in names]
    if args.repeat is None:
        args.repeat = 5 if args.quick else 50 if cuda else 20
    if args.ref_repeat is None:
        args.ref_repeat = 1 if args.quick else 10 if cuda else 3
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if min(args.repeat, args.ref_repeat) < 1 or args.warmup < 0 or args.threads < 1:
        p.error("--repeat and --ref-repeat must be >= 1, --warmup >= 0, --threads >= 1")
    if args.stride is None:
        args.stride = args.kernel
    args.ops_list = list(OPS) if args.ops is None else [o.strip() for o in args.ops.split(",") if o.strip()]
    bad = [o for o in args.ops_list if o not in OPS]
    if bad:
        p.error(f"--ops: unknown {bad}; choose from {list(OPS)}")
    sizes = {d: list(v) for d, v in (QUICK_SIZES if args.quick else DEFAULT_SIZES).items()}
    if cuda and not args.quick:
        sizes[2] += CUDA_LARGE_2D
    if args.sizes:
        sizes.update(parse_sizes(args.sizes))
    args.size_map = sizes
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = args.device
    torch.set_num_threads(args.threads)

    info = au.backend_info()
    backend = info["backend"]
    if backend == "reference" and not args.allow_reference:
        print(f"error: the adaunpool backend in use is the pure-PyTorch reference ({info['reason']}), so 'ours' "
              "would only time the reference against itself. Build the compiled kernels (ADAUNPOOL_BACKEND=compiled "
              "shows why they fail) or pass --allow-reference to report anyway.", file=sys.stderr)
        return 2
    if backend == "compiled" and device == "cuda" and not info["cuda_kernels"]:
        print("error: --device cuda, but the compiled adaunpool library was built without CUDA kernels",
              file=sys.stderr)
        return 2

    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    meta = {
        "command": command_line(),
        "date_utc": now,
        "backend": backend,
        "backend_reason": info["reason"],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": info.get("cpu_capability"),
        "threads": torch.get_num_threads(),
        "kernel_threads": info.get("kernel_threads"),  # what the compiled CPU kernels really use
        "python": platform.python_version(),
        "repeat": args.repeat, "ref_repeat": args.ref_repeat, "warmup": args.warmup,
        "kernel": args.kernel, "stride": args.stride,
        "memory_method": ("torch.cuda.max_memory_allocated() - memory_allocated() before the call"
                          if device == "cuda" else
                          "torch profiler (profile_memory=True): peak of the CPU allocator's running total "
                          "during one call (tensor storage only)"),
        "quick": args.quick,
        "loadavg_start": _loadavg(),
    }
    warn = ""
    if backend == "reference":
        warn = "WARNING: backend is the reference: 'ours' IS the reference; the figures say nothing about the kernels."
        print(warn, file=sys.stderr)
    load = meta["loadavg_start"]
    if load and device == "cpu" and load[0] > 0.5 * (os.cpu_count() or 1):
        busy = (f"WARNING: the machine is busy (1-min load average {load[0]} on {os.cpu_count()} cores): "
                "CPU timings and even the ratios will be unreliable; run on an idle machine.")
        meta["busy_warning"] = busy
        print(busy, file=sys.stderr)
    print(f"adaunpool benchmark: backend={backend}, device={meta['device_name']}, torch {torch.__version__}, "
          f"threads={meta['threads']}, repeat={args.repeat}, ref-repeat={args.ref_repeat}", file=sys.stderr)

    copy_gbs = None
    if device == "cuda":
        copy_gbs = copy_bandwidth_gbs(device)
        meta["copy_bandwidth_gbs"] = copy_gbs
        print(f"device-to-device copy: {copy_gbs:.0f} GB/s (read + write, 1 GiB)", file=sys.stderr)

    rows = []
    t_start = time.perf_counter()
    for key in args.ops_list:
        dims = OPS[key][1]
        for shape in args.size_map.get(dims, []):
            for dtype in args.dtypes:
                what = f"{OPS[key][0]} {fmt_shape(shape)} {DTYPE_NAMES[dtype]}"
                print(f"  {what} ...", file=sys.stderr, flush=True)
                errors: list[str] = []
                case = _guard(lambda: make_case(key, shape, dtype, device, args.kernel, args.stride), errors,
                              what + " setup")
                if case is None:
                    print(f"    skipped: {errors[0]}", file=sys.stderr)
                    continue
                row = measure(case, args, device, copy_gbs)
                for e in row["errors"]:
                    print(f"    {e}", file=sys.stderr)
                rows.append(row)
                del case
                gc.collect()
                if device == "cuda":
                    torch.cuda.empty_cache()
    meta["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    meta["loadavg_end"] = _loadavg()

    blocks = tables(rows, device)
    summary = summary_lines(rows, device, meta["threads"])
    print()
    for title, head, body in blocks:
        if not print_rich(title, head, body):
            print_plain(title, head, body)
    if summary:
        print("Issue targets:")
        for line in summary:
            print("  " + line)
    if warn:
        print(warn)

    if args.markdown:
        print("\n----- Markdown -----\n")
        where = meta["device_name"] if device == "cuda" else f"{meta['cpu_model']} ({meta['cpu_count']} cores visible)"
        md = [
            f"- command: `{meta['command']}`",
            f"- date (UTC): {now}; elapsed {meta['elapsed_s']} s; load average (1/5/15 min) "
            f"{meta['loadavg_start']} at the start, {meta['loadavg_end']} at the end",
            f"- backend: `{backend}` ({info['reason']})" + (" — **the reference, not the kernels**" if warn else ""),
            f"- torch {torch.__version__}" + (f", CUDA {torch.version.cuda}" if device == "cuda" else "")
            + f", Python {meta['python']}",
            f"- device: {where}; CPU capability {meta['cpu_capability']}; threads {meta['threads']} "
            f"(the compiled CPU kernels run on {meta['kernel_threads'] or '—'})",
            f"- kernel {args.kernel}, stride {args.stride}; median of {args.repeat} calls after {args.warmup} "
            f"warm-up (reference: {args.ref_repeat})",
            f"- peak memory: {meta['memory_method']}",
        ]
        if meta.get("busy_warning"):
            md.append(f"- **{meta['busy_warning']}**")
        if copy_gbs:
            md.append(f"- device-to-device copy bandwidth: {copy_gbs:.0f} GB/s (read + write bytes)")
        print("\n".join(md) + "\n")
        for title, head, body in blocks:
            print(markdown(title, head, body) + "\n")
        if summary:
            print("Issue targets:\n")
            print("\n".join(f"- {line}" for line in summary) + "\n")

    if args.json:
        payload = {"meta": meta, "rows": rows, "summary": summary}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
