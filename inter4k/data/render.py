"""``inter4k prepare --data``: render a fixed number of synthetic training samples into shards, once.

Rendering a realistic synthetic clip (:class:`~inter4k.data.motion.SyntheticMotionVFI` with
``realism="real"``: non-rigid fields, motion blur, H.264) costs about a second of one core per 128x128
sample, more than a training step on a batch of them; rendered on the fly, every epoch's clips are
thrown away and the model waits for the renderer. ``prepare_rendered`` renders ``samples`` of them
once, in parallel over ``workers`` processes, into shards that
:class:`~inter4k.data.prepare.PreparedVFI` reads like the patches cut from Inter4K (``--data DIR`` of
``train-vfi``), with flips, 90-degree rotations and time reversal as augmentation.

Layout of ``OUT`` (the index as :mod:`inter4k.data.prepare` writes it, plus ``parts`` and ``rendered``)::

    index.json                 config, what was rendered (data, realism), the files of a shard, shard list
    shard-00000.npy            uint8 (n, span + 1, 3, P, P): the frames of each clip in time order
                               (the two inputs are the first and the last)
    shard-00000.flows.npy      float32 (n, span - 1, 4, P, P): the true backward flows F_t->0, F_t->1 of
                               each target (when the data has them: every rendered VFI source has)
    shard-00000.times.npy      float32 (n, span - 1): the targets' timesteps

Video SR clips (``task="vsr"``, :class:`~inter4k.data.clips.SyntheticClipsVSR`): ``shard-00000.npy`` only,
uint8 (n, T, 3, P, P), the HR frames, as clips cut with ``--frames T`` are stored: the 8-bit bicubic LR
is a function of them, made again when loading (:class:`~inter4k.data.prepare.PreparedSR`).

Rules:

- Sample ``g`` is sample ``g`` of the training set that ``--data`` names (opened through
  :func:`~inter4k.data.sources.open_dataset` with ``samples``, ``seed``, ``patch``, ``mode``,
  ``realism`` and ``with_flows``), in epoch 0: what it draws is keyed by ``[seed, 0, g]``
  (:func:`~inter4k.data.datasets.sample_rng`), so the shards depend neither on ``workers`` nor on
  interruptions, and the same command always gives the same bytes. Shard ``j`` holds samples
  ``j*S .. j*S + S - 1`` (``S = shard_size``, default :data:`DEFAULT_SHARD_SAMPLES`).
- The frames are stored as 8 bits exactly: rendered frames are rounded to 8 bits already (as decoded
  video), and a frame that is not is an error rather than a silent change. Flows and timesteps are
  stored as rendered (float32).
- Each shard is one job of :func:`~inter4k.data._parallel.run_jobs`: the process that renders it writes
  its files atomically (:mod:`inter4k.atomic`), with plain writes as the samples come; the parent
  rewrites ``index.json`` after every finished shard (in whatever order they finish) and reports it
  as progress. Free space, resuming, repairing a shard cut short and refusing another config for the
  same ``OUT`` are as for cut clips (:func:`inter4k.data.prepare.prepare`).
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .. import atomic
from ..progress import ProgressFn, Reporter, item_form
from . import sources
from ._parallel import run_jobs
from .datasets import SCALES
from .prepare import FORMAT, INDEX, VERSION, existing_shards, index_text, npy_header

__all__ = ["prepare_rendered", "DEFAULT_SHARD_SAMPLES", "TASKS"]

TASKS = ("vfi", "vsr")
DEFAULT_SHARD_SAMPLES = 32   # about 33 MiB of 128x128 15to60 clips with flows; a lost shard is little work
_SUFFIX = {"file": "", "flows": ".flows", "times": ".times"}


def _file_name(j: int, part: str) -> str:
    return f"shard-{j:05d}{_SUFFIX[part]}.npy"


def as_uint8(frames: np.ndarray, what: str) -> np.ndarray:
    """Frames in [0, 1] that are exact multiples of 1/255 -> uint8; ValueError for any other frame (a
    source that does not round to 8 bits would be changed silently by storing it).

    Example:
        >>> as_uint8(np.array([0.0, 1 / 255, 1.0], dtype=np.float32), "x").tolist()
        [0, 1, 255]
    """
    scaled = np.asarray(frames, dtype=np.float64) * 255.0
    levels = np.round(scaled)
    if scaled.size and (np.abs(scaled - levels).max() > 1e-3 or levels.min() < 0 or levels.max() > 255):
        raise ValueError(f"{what}: the rendered frames are not 8-bit values in [0, 1]; they cannot be stored as uint8")
    return levels.astype(np.uint8)


def _sample_parts(sample: tuple, g: int) -> dict[str, np.ndarray]:
    """A VFI sample ``(inputs, targets, t[, flows])`` or a video SR clip ``(lr, hr)`` as the arrays of its
    shard files (a clip: its HR frames only; the LR is made again when loading, as for cut clips)."""
    if len(sample) == 2:
        return {"file": as_uint8(sample[1].numpy(), f"sample {g}")}
    inputs, targets, t = sample[:3]
    seq = np.concatenate([inputs[:1].numpy(), targets.numpy(), inputs[1:].numpy()])
    parts = {"file": as_uint8(seq, f"sample {g}"), "times": t.numpy().astype(np.float32)}
    if len(sample) > 3:
        parts["flows"] = sample[3].numpy().astype(np.float32)
    return parts


def _vfi_parts(span: int, patch: int, flows: bool) -> dict[str, list]:
    """The files of a shard of VFI clips: key -> [shape of one sample, dtype] (as ``_sample_parts`` makes them)."""
    parts = {"file": [[span + 1, 3, patch, patch], "uint8"], "times": [[span - 1], "float32"]}
    if flows:
        parts["flows"] = [[span - 1, 4, patch, patch], "float32"]
    return parts


def _render_shard(kind: str, path: Optional[str], task: str, options: dict, out: str, parts: dict, j: int,
                  lo: int, hi: int, one_thread: bool) -> tuple[int, int]:
    """Render samples ``lo .. hi - 1`` into shard ``j``'s files (a worker's job): (j, count)."""
    if one_thread:  # a pool process: one core each, as many processes as cores
        import cv2
        import torch

        cv2.setNumThreads(1)
        torch.set_num_threads(1)
    spec = sources.DataSpec(kind, Path(path) if path else None)
    ds = sources.open_dataset(spec, task, "train", **options)
    folder, n = Path(out), hi - lo
    with contextlib.ExitStack() as stack:
        files = {}
        for key, (shape, dtype) in parts.items():
            files[key] = stack.enter_context(atomic.replacing(folder / _file_name(j, key)))
            files[key].write(npy_header((n, *shape), dtype))
        for g in range(lo, hi):
            arrays = _sample_parts(ds[g], g)
            for key, (shape, dtype) in parts.items():
                a = arrays[key]
                if a.shape != tuple(shape) or a.dtype != np.dtype(dtype):
                    raise ValueError(f"sample {g}: {key} is {a.dtype} {a.shape}, not {dtype} {tuple(shape)}")
                files[key].write(np.ascontiguousarray(a).data)
    return j, n


def prepare_rendered(data: str, out, task: str = "vfi", mode: str = "30to60", patch: int = 128,
                     samples: int = 1000, realism: Optional[str] = None, frames: Optional[int] = None,
                     scale: int = 4, seed: int = 0, shard_size: Optional[int] = None, workers: int = 1,
                     progress: Optional[Callable[[int, int, str], None]] = None,
                     on_progress: Optional[ProgressFn] = None) -> dict:
    """Render ``samples`` training samples of ``data`` into shards under ``out`` (see the module docstring).

    Args:
        data: what ``--data`` of ``train-vfi`` takes for rendered clips: ``photos[:DIR]``,
            ``synthetic[:DIR]``, ``images:DIR`` or a folder of images; of ``train-vsr``: ``photos[:DIR]``.
        out: the output folder (required: rendered samples have no dataset root).
        task: "vfi" or "vsr". patch: the frames' side. seed: the samples' seed.
        mode, realism: VFI: the clips' span, "rigid" or "real" (None: the source's default, "real"
            for photos). Video SR: realism "scene" (None: the default) or "recorded" (noise and H.264
            on every frame), any name of :data:`~inter4k.data.realism.REALISM`.
        frames, scale: video SR: the clip length T (3, 5, 9; None: 5) and a scale the patch must be a multiple
            of (only the HR frames are stored: the folder serves every scale that divides the patch).
        shard_size: samples per shard (default :data:`DEFAULT_SHARD_SAMPLES`). workers: processes.
        on_progress: gets a :class:`~inter4k.progress.Progress` (stage "prepare", unit "samples") as
            shards finish or are skipped; ``progress(done, total, message)`` is its older form.

    Summary: out, index, task, data, realism, mode, samples, shards, written / skipped / repaired shards,
    shape, flows, bytes, workers, seconds, samples_per_second (of the samples rendered by this run,
    None when it rendered none).

    Example (four 16-pixel clips of scikit-image's photographs, about a second)::

        report = prepare_rendered("synthetic", "/tmp/vfi-p16", mode="30to60", patch=16, samples=4)
        inputs, targets, t, flows = PreparedVFI("/tmp/vfi-p16", with_flows=True)[0]
    NotEnoughSpaceError (nothing written) when the shards still to write do not fit on the disk.
    """
    t0 = time.perf_counter()
    report = Reporter(on_progress, unit="samples", legacy=progress, form=item_form("text")).stage("prepare")
    if task not in TASKS:
        raise ValueError(f"prepare --data renders {' or '.join(TASKS)} samples, not {task!r}")
    for name, value in (("samples", samples), ("workers", workers)) + ((("shard_size", shard_size),) if shard_size
                                                                      is not None else ()):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if out is None:
        raise ValueError("prepare --data needs --out (rendered samples have no dataset root to go under)")
    spec = sources.parse_data(data, task)
    source = sources.get_source(spec.kind, task)
    if not source.renders:
        raise ValueError(f"--data {data} is {spec.kind} data, not something to render; give photos[:DIR]"
                         f"{' or synthetic[:DIR]' if task == 'vfi' else ''} to render, or cut Inter4K clips with --root")
    if task == "vfi":
        realism = realism or source.default_realism
        options = dict(mode=mode, patch=patch, seed=seed, realism=realism, samples=int(samples),
                       with_flows=source.has_true_flows(spec))
        ds = sources.open_dataset(spec, task, "train", **options)  # every option checked here, once
        parts = _vfi_parts(ds.span, ds.patch_size, ds.with_flows)
    else:
        from .clips import DEFAULT_CLIP_FRAMES

        options = dict(frames=frames or DEFAULT_CLIP_FRAMES, scale=scale, patch=patch, seed=seed, samples=int(samples),
                       realism=realism)
        ds = sources.open_dataset(spec, task, "train", **options)
        parts = {"file": [[ds.frames, 3, int(patch), int(patch)], "uint8"]}
        mode = None
    shard_size = int(shard_size or DEFAULT_SHARD_SAMPLES)
    total, out = int(samples), Path(out).expanduser()
    n_shards = -(-total // shard_size)
    path = None if spec.path is None else str(spec.path)
    window = parts["file"][0][0]
    config = {"task": task, "split": "train", "data": spec.kind, "path": path, "realism": realism, "mode": mode,
              "frames": window if task == "vsr" else None, "window": window, "patch": int(patch), "samples": total,
              "shard_size": shard_size, "seed": int(seed), "flows": "flows" in parts}
    part_list = [(key, tuple(shape), dtype) for key, (shape, dtype) in parts.items()]
    index, problems, repaired = existing_shards(out, config, part_list, n_shards)
    todo = [j for j, why in problems.items() if why]
    sample_bytes = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for _, shape, dtype in part_list)
    counts = {j: min((j + 1) * shard_size, total) - j * shard_size for j in range(n_shards)}
    need = sum(counts[j] * sample_bytes + 128 * len(part_list) for j in todo)
    atomic.require_space(out, need, f"the {len(todo)} shard(s) still to render",
                         "finished shards are kept" if index else "nothing was written")
    if index is None:
        index = {"format": FORMAT, "version": VERSION, "config": config,
                 "rendered": {"kind": spec.kind, "path": path, "realism": realism},
                 "parts": parts, "shape": parts["file"][0], "dtype": "uint8",
                 "scales": [v for v in SCALES if patch % v == 0] if task == "vsr" else None,
                 "total": total, "shards": [None] * n_shards, "complete": False}
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(out / INDEX, index_text(index))

    done = sum(counts[j] for j in range(n_shards) if not problems[j])
    if done:
        message = f"{n_shards - len(todo)} of {n_shards} shards already there"
        report(done, total, message, text=message)
    for j in repaired:
        message = f"shard {j + 1}/{n_shards}: {problems[j]}; rendering it again"
        report(done, total, message, text=message)
    rendered = 0

    def finished(result: tuple[int, int]) -> None:
        nonlocal done, rendered
        j, count = result
        index["shards"][j] = {**{key: _file_name(j, key) for key in parts}, "count": count, "first": j * shard_size}
        index["complete"] = all(index["shards"])
        atomic.write_bytes(out / INDEX, index_text(index))
        done += count
        rendered += count
        message = f"shard {j + 1}/{n_shards} rendered"
        report(done, total, message, text=message)

    t_render = time.perf_counter()
    jobs = [(spec.kind, path, task, options, str(out), parts, j, j * shard_size, j * shard_size + counts[j],
             workers > 1 and len(todo) > 1) for j in todo]
    run_jobs(_render_shard, jobs, int(workers), finished)
    render_s = time.perf_counter() - t_render
    return {"out": str(out), "index": str(out / INDEX), "task": task, "data": source.describe(spec),
            "realism": realism, "mode": mode, "samples": total, "shards": n_shards, "written": len(todo),
            "skipped": n_shards - len(todo), "repaired": [_file_name(j, "file") for j in repaired],
            "shape": parts["file"][0], "flows": "flows" in parts, "bytes": total * sample_bytes,
            "workers": int(workers), "seconds": round(time.perf_counter() - t0, 3),
            "samples_per_second": round(rendered / render_s, 3) if rendered else None}
