"""``inter4k prepare``: cut training patches out of the clips once, into memory-mappable shards.

Decoding a UHD frame costs far more than a training step on a 192x192 patch, and a random frame
of a clip needs the clip decoded from its previous keyframe. ``prepare`` decodes every clip once,
from its start to the last frame it needs, and cuts ``per_clip`` random patches (seeded) as the
frames go by; the patches are written as uint8 ``.npy`` shards that :class:`PreparedSR` and
:class:`PreparedVFI` read with ``np.load(mmap_mode="r")``: no video decoding while training.

Layout of ``OUT`` (default ``ROOT/prepared/<task>-<split>-p<patch>[-t<frames>|-<mode>]``)::

    index.json                  config, source, shard list, totals
    shard-00000.npy             uint8 (n, W, 3, P, P): n patches of W frames (SR: W = frames,
                                VFI: W = span + 1, the two inputs and the frames between them)
    shard-00000.origins.npy     int32 (n, 4): clip, first frame, y, x of each patch

Rules:

- Patch ``g`` (0-based) is patch ``g % per_clip`` of clip ``clips[g // per_clip]``; shard ``j``
  holds patches ``j*S .. j*S + S - 1`` (``S = shard_size``), so which clips a shard needs is known
  before decoding. The patches of a clip are drawn from ``numpy.random.default_rng([seed, clip])``:
  ``per_clip`` first frames, uniformly among the valid ones (SR: 0..F-frames; VFI: multiples of the
  span with base + span < F), each with a uniformly random corner; then sorted by first frame
  (the order they are cut in). The result does not depend on ``shard_size`` or on interruptions.
- Writes are atomic (:mod:`inter4k.atomic`): each file is written under a temporary name and
  renamed; ``index.json`` is rewritten (also atomically) after every finished shard. Shards are written
  with plain writes as the clips are cut, never through a memory map (a mapped page that a full disk
  cannot hold kills the process with SIGBUS). The free space for every shard still to write is
  checked before the first byte.
- A second run with the same config skips every shard the index lists as finished and whose two files
  are complete (their ``.npy`` header and size match the index), and writes nothing; an interrupted
  run resumes there, and a listed shard that is cut short or missing is cut again (``repaired`` in the
  summary). A different config for an existing ``OUT`` is an error naming the differences.
- Patches are not aligned to a scale (the datasets compute the LR with ``imresize`` from the HR
  patch, as :class:`inter4k.data.datasets.Inter4KSR` does with ``lr_source="bicubic"``); a patch
  size that is a multiple of 12 works for scales 2, 3 and 4.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import atomic
from ..video import VideoError, iter_frames, probe
from ..progress import ProgressFn, Reporter, item_form
from . import layout
from .datasets import (SCALES, SPLITS, VFI_SPANS, apply_plan, apply_plan_flows, bicubic_lr, resolve_clips,
                       split_vfi)

FORMAT = "inter4k-prepared"
VERSION = 1
TASKS = ("sr", "vfi")
INDEX = "index.json"
DEFAULT_PER_CLIP = 32
DEFAULT_SHARD_BYTES = 256 * 2 ** 20


def default_out(root: Path, task: str, split: str, patch: int, frames: int = 1, mode: Optional[str] = None) -> Path:
    suffix = f"-{mode}" if task == "vfi" else (f"-t{frames}" if frames > 1 else "")
    return Path(root) / "prepared" / f"{task}-{split}-p{patch}{suffix}"


def index_text(index: dict) -> str:
    """index.json: one top-level key per line, one shard per line (compact, still diffable)."""
    lines = []
    for key, value in index.items():
        if key == "shards":
            inner = ",\n".join(f"    {json.dumps(s)}" for s in value)
            lines.append(f'  "shards": [\n{inner}\n  ]' if value else '  "shards": []')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _shard_name(j: int) -> str:
    return f"shard-{j:05d}.npy"


def _origins_name(j: int) -> str:
    return f"shard-{j:05d}.origins.npy"


def npy_header(shape: tuple, dtype) -> bytes:
    """The header ``np.save`` writes for an array of ``shape`` and ``dtype`` (C order)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(int(v) for v in shape)})
    return buf.getvalue()


def npy_problem(path: Path, shape: tuple, dtype) -> Optional[str]:
    """Why ``path`` is not a complete ``.npy`` of ``shape`` and ``dtype`` (missing, another shape, cut
    short), or None. Reads the header and the file size only."""
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            got_shape, fortran, got_dtype = read(f)
            offset = f.tell()
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (OSError, ValueError) as exc:
        return f"{path.name} is unreadable ({exc})"
    if tuple(got_shape) != tuple(shape) or np.dtype(got_dtype) != np.dtype(dtype) or fortran:
        return f"{path.name} holds {np.dtype(got_dtype)} {tuple(got_shape)}, not {np.dtype(dtype)} {tuple(shape)}"
    want = offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if size != want:
        return f"{path.name} has {size} bytes, not {want} (cut short)" if size < want else \
            f"{path.name} has {size} bytes, not {want}"
    return None


def shard_parts(index: dict) -> list[tuple[str, tuple, str]]:
    """The files of each shard of a folder: (key of the shard's index entry, the shape of one sample,
    dtype). Cut clips: the patches and their origins; rendered samples list theirs under ``parts``."""
    if "parts" in index:
        return [(key, tuple(shape), dtype) for key, (shape, dtype) in index["parts"].items()]
    return [("file", tuple(index["shape"]), "uint8"), ("origins", (4,), "int32")]


def shard_problem(out: Path, entry: Optional[dict], parts: list) -> Optional[str]:
    """Why the shard of an index entry is not complete (``parts`` as :func:`shard_parts`), or None."""
    if not entry:
        return "not written yet"
    n = int(entry["count"])
    for key, shape, dtype in parts:
        why = npy_problem(out / entry[key], (n, *shape), dtype)
        if why:
            return why
    return None


def read_index(out: Path) -> Optional[dict]:
    path = Path(out) / INDEX
    if not path.is_file():
        return None
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{path} is not an inter4k prepare index (format {index.get('format')!r})")
    return index


def existing_shards(out: Path, config: dict, parts: list, n_shards: int) -> tuple[Optional[dict], dict, list]:
    """What a run finds in ``out``: its index (None: a new folder), why each shard ``j`` still needs
    writing (None: complete) and the shards listed as finished but not complete (to write again).
    ValueError when the folder was made with another config."""
    index = read_index(out)
    if index is not None:
        diffs = config_diff(index["config"], config)
        if diffs:
            raise ValueError(f"{out / INDEX} was made with another config: {'; '.join(diffs)}. "
                             f"Use another --out, or delete {out} to start again")
    problems = {j: shard_problem(out, index["shards"][j] if index else None, parts) for j in range(n_shards)}
    repaired = [j for j, why in problems.items() if why and index and index["shards"][j]]  # listed, not complete
    return index, problems, repaired


def config_diff(old: dict, new: dict) -> list[str]:
    """What differs between the config of an index and a requested one, in words."""
    diffs = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if a != b:
            if key == "clips":
                diffs.append(f"clips ({len(a or [])} clips there, {len(b or [])} requested, or a different list)")
            else:
                diffs.append(f"{key} ({a!r} there, {b!r} requested)")
    return diffs


class _ClipCutter:
    """Draws and cuts the patches of one clip."""

    def __init__(self, root: Path, res: str, window: int, step: int, patch: int, per_clip: int, seed: int,
                 threads: bool = True):
        self.root, self.res, self.window, self.step = root, res, window, step
        self.patch, self.per_clip, self.seed, self.threads = patch, per_clip, seed, threads

    def path(self, clip: int) -> Path:
        return layout.clip_path(self.root, clip, layout.SOURCE_FPS, self.res)

    def positions(self, clip: int, frames: int, height: int, width: int) -> np.ndarray:
        """(per_clip, 3) int64: first frame, y, x, sorted by first frame (stable)."""
        p = self.patch
        if p > height or p > width:
            raise ValueError(f"patch {p} is larger than the frames of {self.path(clip)} ({width}x{height})")
        n_starts = (frames - self.window) // self.step + 1
        if n_starts < 1:
            raise ValueError(f"{self.path(clip)} has {frames} frames; a patch needs {self.window}")
        rng = np.random.default_rng([int(self.seed), int(clip)])
        starts = rng.integers(n_starts, size=self.per_clip) * self.step
        ys = rng.integers(height - p + 1, size=self.per_clip)
        xs = rng.integers(width - p + 1, size=self.per_clip)
        pos = np.stack([starts, ys, xs], axis=1)
        return pos[np.argsort(pos[:, 0], kind="stable")]

    def cut(self, clip: int) -> tuple[np.ndarray, np.ndarray]:
        """Decode the clip once (up to the last frame needed): patches (per_clip, W, 3, P, P) uint8
        and origins (per_clip, 4) int32."""
        path = self.path(clip)
        vi = probe(path)
        frames = vi.frames
        if frames is None:
            from ..video import count_frames

            frames = count_frames(path)
        pos = self.positions(clip, int(frames), vi.height, vi.width)
        p, w = self.patch, self.window
        out = np.empty((len(pos), w, 3, p, p), dtype=np.uint8)
        last = int(pos[:, 0].max()) + w - 1
        recent: deque = deque(maxlen=w)
        k = 0  # next patch to cut
        f = -1
        for f, frame in enumerate(iter_frames(path, threads=self.threads)):
            recent.append(frame)
            while k < len(pos) and pos[k, 0] + w - 1 == f:
                _, y, x = (int(v) for v in pos[k])
                for t, fr in enumerate(recent):
                    out[k, t] = fr[y:y + p, x:x + p].transpose(2, 0, 1)
                k += 1
            if f >= last:
                break
        if k < len(pos):
            raise VideoError(f"{path}: decoded {f + 1} frames, a patch needs frame {int(pos[k, 0]) + w - 1}")
        origins = np.concatenate([np.full((len(pos), 1), clip), pos], axis=1).astype(np.int32)
        return out, origins


def prepare(root=None, out=None, split: str = "train", task: str = "sr", scale: Optional[int] = 4,
            patch: int = 192, per_clip: int = DEFAULT_PER_CLIP, shard_size: Optional[int] = None,
            frames: int = 1, mode: str = "30to60", seed: int = 0, clips: Optional[Sequence[int]] = None,
            res: str = layout.SOURCE_RES, decode_threads: bool = True,
            progress: Optional[Callable[[int, int, str], None]] = None,
            on_progress: Optional[ProgressFn] = None) -> dict:
    """Cut patches into shards under ``out`` (see the module docstring); returns a summary dict.

    Args:
        root: dataset root; out: output folder (default under ``ROOT/prepared/``).
        split / clips: the clips (``clips`` overrides the split's list).
        task: "sr" (patches of ``frames`` consecutive frames) or "vfi" (``mode``'s span + 1 frames).
        scale: SR only, checked: ``patch`` must be a multiple of it (the LR is made when loading).
        patch: patch side; per_clip: patches per clip; shard_size: patches per shard (default: about
            256 MiB per shard); seed: base seed of the patch positions.
        on_progress: gets a :class:`~inter4k.progress.Progress` (stage "prepare", unit "patches", the
            message as its note) as clips are cut and shards skipped; ``progress(done_patches,
            total_patches, message)`` is its older form.

    Summary: out, index, total patches, shards, shards written / skipped / repaired (cut again because a
    file was cut short or missing), seconds. NotEnoughSpaceError (nothing written) when the shards
    still to write do not fit on the disk.
    """
    t0 = time.perf_counter()
    report = Reporter(on_progress, unit="patches", legacy=progress, form=item_form("text")).stage("prepare")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if not isinstance(patch, (int, np.integer)) or patch < 1:
        raise ValueError(f"patch must be a positive integer, got {patch!r}")
    if per_clip < 1:
        raise ValueError(f"per_clip must be >= 1, got {per_clip}")
    if task == "sr":
        if scale is not None:
            if scale not in SCALES:
                raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(map(str, SCALES))}")
            if patch % scale:
                raise ValueError(f"patch {patch} is not a multiple of scale {scale}")
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        window, step, mode_ = int(frames), 1, None
    else:
        if mode not in VFI_SPANS:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(VFI_SPANS)}")
        window, step, mode_ = VFI_SPANS[mode] + 1, VFI_SPANS[mode], mode
        frames = window
    root = layout.resolve_root(root)
    clip_list = resolve_clips(root, split, clips, res)
    out = Path(out).expanduser() if out is not None else default_out(root, task, split, patch, frames, mode_)
    patch_bytes = window * 3 * patch * patch
    if shard_size is None:
        shard_size = max(1, DEFAULT_SHARD_BYTES // patch_bytes)
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    total = len(clip_list) * per_clip
    n_shards = -(-total // shard_size)
    config = {
        "task": task, "split": split, "clips": clip_list, "res": res, "patch": int(patch),
        "frames": int(frames), "mode": mode_, "window": int(window), "per_clip": int(per_clip),
        "shard_size": int(shard_size), "seed": int(seed),
    }
    shape = [window, 3, patch, patch]
    parts = [("file", tuple(shape), "uint8"), ("origins", (4,), "int32")]
    index, problems, repaired = existing_shards(out, config, parts, n_shards)
    # Free space for every shard still to write, before the first byte (a shard being replaced frees its
    # old bytes only at the rename).
    todo = [j for j, why in problems.items() if why]
    need = sum(len(npy_header((c, *shape), np.uint8)) + c * patch_bytes + len(npy_header((c, 4), np.int32)) + 16 * c
               for c in (min((j + 1) * shard_size, total) - j * shard_size for j in todo))
    atomic.require_space(out, need, f"the {len(todo)} shard(s) still to write",
                         "finished shards are kept" if index else "nothing was written")
    if index is None:
        index = {"format": FORMAT, "version": VERSION, "config": config,
                 "source": {"root": str(root), "sample": layout.expected(root).sample},
                 "scales": [s for s in SCALES if patch % s == 0] if task == "sr" else None,
                 "shape": shape, "dtype": "uint8",
                 "total": total, "shards": [None] * n_shards, "complete": False}
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(out / INDEX, index_text(index))

    cutter = _ClipCutter(root, res, window, step, patch, per_clip, seed, decode_threads)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    written = skipped = 0
    done = 0
    for j in range(n_shards):
        lo, hi = j * shard_size, min((j + 1) * shard_size, total)
        if not problems[j]:
            skipped += 1
            done += hi - lo
            message = f"shard {j + 1}/{n_shards} already there"
            report(done, total, message, text=message)
            continue
        if j in repaired:
            message = f"shard {j + 1}/{n_shards}: {problems[j]}; cutting it again"
            report(done, total, message, text=message)
        origins = np.empty((hi - lo, 4), dtype=np.int32)
        # Written as the clips are cut, with plain writes: a memory-mapped file on a full disk dies with SIGBUS.
        with atomic.replacing(out / _shard_name(j)) as fh:
            fh.write(npy_header((hi - lo, *shape), np.uint8))
            for ci in range(lo // per_clip, (hi - 1) // per_clip + 1):
                if ci not in cache:
                    cache.clear()  # keep only the clip that may straddle into the next shard
                    cache[ci] = cutter.cut(clip_list[ci])
                patches, orig = cache[ci]
                a, b = max(lo, ci * per_clip), min(hi, (ci + 1) * per_clip)
                fh.write(np.ascontiguousarray(patches[a - ci * per_clip:b - ci * per_clip]).data)
                origins[a - lo:b - lo] = orig[a - ci * per_clip:b - ci * per_clip]
                done += b - a
                message = f"clip {clip_list[ci]} ({ci + 1}/{len(clip_list)})"
                report(done, total, message, text=message)
        origins_bytes = io.BytesIO()
        np.save(origins_bytes, origins)
        atomic.write_bytes(out / _origins_name(j), origins_bytes.getbuffer())
        index["shards"][j] = {"file": _shard_name(j), "origins": _origins_name(j), "count": hi - lo, "first": lo}
        index["complete"] = all(index["shards"])
        atomic.write_bytes(out / INDEX, index_text(index))
        written += 1
    return {"out": str(out), "index": str(out / INDEX), "task": task, "split": split, "clips": len(clip_list),
            "patches": total, "shards": n_shards, "written": written, "skipped": skipped,
            "repaired": [_shard_name(j) for j in repaired],
            "shape": [window, 3, patch, patch], "bytes": total * patch_bytes,
            "seconds": round(time.perf_counter() - t0, 3)}


class _Prepared(Dataset):
    """Shards of an ``inter4k prepare`` folder, opened lazily (memory-mapped) in each process."""

    tasks: tuple[str, ...]  # the tasks of the folders it reads

    def __init__(self, out_dir, augment: Optional[bool] = None, seed: Optional[int] = 0):
        self.out = Path(out_dir).expanduser()
        index = read_index(self.out)
        if index is None:
            raise FileNotFoundError(f"no {INDEX} in {self.out}: make it with `inter4k prepare --out {self.out}`")
        cfg = index["config"]
        if cfg["task"] not in self.tasks:
            raise ValueError(f"{self.out} holds {cfg['task']!r} patches, not {' or '.join(map(repr, self.tasks))}")
        if not index.get("complete") or not all(index["shards"]):
            raise ValueError(f"{self.out} is not complete ({sum(1 for s in index['shards'] if s)} of "
                             f"{len(index['shards'])} shards): run the same `inter4k prepare` again to finish it")
        for entry in index["shards"]:
            why = shard_problem(self.out, entry, shard_parts(index))
            if why:
                raise ValueError(f"{self.out}: {why}: run the same `inter4k prepare` again to repair it")
        self.index = index
        self.config = cfg
        # rendered samples (inter4k.data.render): which data, realism; None for patches cut from clips
        self.rendered: Optional[dict] = index.get("rendered")
        self.part_files = {key: [self.out / s[key] for s in index["shards"]] for key, _, _ in shard_parts(index)}
        self.files = self.part_files["file"]
        self.counts = [int(s["count"]) for s in index["shards"]]
        self.offsets = np.cumsum([0] + self.counts).tolist()
        self.augment = cfg["split"] == "train" if augment is None else bool(augment)
        self.seed = seed
        self.epoch = 0
        self._arrays: Optional[list] = None
        self._pid = None

    def __len__(self) -> int:
        return self.offsets[-1]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getstate__(self):  # do not pickle open memory maps into DataLoader workers
        state = self.__dict__.copy()
        state["_arrays"], state["_pid"] = None, None
        return state

    def _shards(self, part: str = "file") -> list:
        if self._arrays is None or self._pid != os.getpid():
            self._arrays = {key: [np.load(f, mmap_mode="r") for f in files] for key, files in self.part_files.items()}
            self._pid = os.getpid()
        return self._arrays[part]

    def _locate(self, index: int) -> tuple[int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        index %= len(self)
        j = bisect.bisect_right(self.offsets, index) - 1
        return j, index - self.offsets[j]

    def raw(self, index: int, part: str = "file") -> np.ndarray:
        """What is stored of sample ``index``: the uint8 patch (W, 3, P, P) (``part`` "file"), or a rendered
        sample's ``"flows"`` / ``"times"``; a writable copy."""
        if part not in self.part_files:
            raise ValueError(f"{self.out} stores no {part!r} (it has {', '.join(self.part_files)})")
        j, k = self._locate(index)
        return np.array(self._shards(part)[j][k])

    def origin(self, index: int) -> tuple[int, int, int, int]:
        """(clip, first frame, y, x) of a patch cut from a clip."""
        return tuple(int(v) for v in self.raw(index, "origins"))

    def plan(self, index: int) -> dict:
        """Sample ``index``'s augmentation (:func:`~inter4k.data.datasets.apply_plan`): flips and time
        reversal; rendered samples also a transpose (with the flips: the eight 90-degree rotations and
        mirrors), as rendered motion has no preferred direction and footage has (gravity, pans)."""
        hflip = vflip = reverse = transpose = False
        if self.augment:
            if self.seed is None:
                rng = np.random.default_rng(int(torch.randint(0, 2 ** 62, ()).item()))
            else:
                rng = np.random.default_rng([int(self.seed), self.epoch, int(index) % max(len(self), 1)])
            hflip, vflip, reverse = (bool(v) for v in rng.integers(0, 2, size=3))
            reverse = reverse and self.config["window"] > 1
            transpose = bool(self.rendered) and bool(rng.integers(0, 2))
        return dict(hflip=hflip, vflip=vflip, reverse=reverse, transpose=transpose)

    def _tensor(self, index: int, plan: dict) -> torch.Tensor:
        t = torch.from_numpy(self.raw(index)).float().div_(255.0)
        return apply_plan(t, plan)


class PreparedSR(_Prepared):
    """SR pairs ``(lr, hr)`` from prepared shards, as :class:`~inter4k.data.datasets.Inter4KSR` makes them.

    ``hr`` is the stored patch in [0, 1] (flipped at random for a train folder, see ``augment``);
    ``lr = imresize(hr, 1/scale).clamp(0, 1)`` (rounded to 8 bits with ``quantize=True``). Shapes
    ``(3, P/s, P/s)`` and ``(3, P, P)``, or ``(T, 3, ...)`` for a folder prepared with ``frames=T > 1``.
    Flips and reversal are drawn from ``default_rng([seed, epoch, index])`` (see :meth:`set_epoch`).
    Video SR clips rendered by ``inter4k prepare --data photos --task vsr`` (:mod:`inter4k.data.render`)
    are read the same way, their LR made the same way (``quantize=True`` gives exactly the rendered
    clip's LR), with transposes added to the flips.
    """

    tasks = ("sr", "vsr")

    def __init__(self, out_dir, scale: int = 4, augment: Optional[bool] = None, seed: Optional[int] = 0,
                 quantize: bool = False):
        super().__init__(out_dir, augment, seed)
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(map(str, SCALES))}")
        if self.config["patch"] % scale:
            raise ValueError(f"the patches in {self.out} are {self.config['patch']} wide, not a multiple of scale {scale}")
        self.scale = int(scale)
        self.quantize = bool(quantize)
        self.frames = int(self.config["frames"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self._tensor(index, self.plan(index))
        lr = bicubic_lr(hr, self.scale, self.quantize)
        if self.frames == 1:
            return lr[0], hr[0]
        return lr, hr


class PreparedVFI(_Prepared):
    """VFI samples ``(inputs, targets, timesteps)`` from prepared shards, as
    :class:`~inter4k.data.datasets.Inter4KVFI` makes them (same shapes, flips and reversal rule).

    Rendered samples (``inter4k prepare --data``, :mod:`inter4k.data.render`) give their stored
    timesteps and, with ``with_flows=True``, ``flows`` (span - 1, 4, P, P) as
    :class:`~inter4k.data.motion.SyntheticMotionVFI` does; the augmentation moves the flows with the
    frames (:func:`~inter4k.data.datasets.apply_plan_flows`) and a reversed sample's timesteps are
    ``1 - t`` (reversed, so again ascending).
    """

    tasks = ("vfi",)

    def __init__(self, out_dir, augment: Optional[bool] = None, seed: Optional[int] = 0, with_flows: bool = False):
        super().__init__(out_dir, augment, seed)
        self.mode = self.config["mode"]
        self.span = VFI_SPANS[self.mode]
        if with_flows and "flows" not in self.part_files:
            raise ValueError(f"{self.out} holds no true flows (patches cut from footage); render samples with "
                             f"`inter4k prepare --data photos` for flow supervision, or train without it")
        self.with_flows = bool(with_flows)

    def __getitem__(self, index: int):
        """``(inputs, targets, timesteps)``, and ``flows`` when ``with_flows``."""
        plan = self.plan(index)
        inputs, targets, t = split_vfi(self._tensor(index, plan))
        if "times" in self.part_files:
            t = torch.from_numpy(self.raw(index, "times"))
            if plan["reverse"]:
                t = 1.0 - t.flip(0)
        if not self.with_flows:
            return inputs, targets, t
        return inputs, targets, t, apply_plan_flows(torch.from_numpy(self.raw(index, "flows")), plan)
