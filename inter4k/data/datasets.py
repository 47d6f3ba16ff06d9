"""PyTorch datasets that decode training / evaluation samples straight from the Inter4K clips.

:class:`Inter4KSR` gives super-resolution pairs ``(lr, hr)``; :class:`Inter4KVFI` gives frame
interpolation triples ``(inputs, targets, timesteps)`` following docs/DATA.md#vfi-modes. Both read
``ROOT/Inter4K/60fps/<res>/<n>.mp4`` (``res`` UHD by default) and decode, for each sample, only the
frames it needs: :func:`inter4k.video.iter_frames` seeks to the keyframe before the first one and
decodes from there (threaded PyAV). For long training runs, cut patches once with
``inter4k prepare`` and use :class:`inter4k.data.prepare.PreparedSR` / ``PreparedVFI`` instead,
which give the same samples without decoding video.

Common rules
------------
- **Clips**: ``clips=`` (a list of clip numbers) or, when None, :func:`inter4k.data.splits.load_split`
  for ``split`` (a sample tree made by ``inter4k sample`` has its own small split).
- **Values**: float32 in [0, 1], channels first: ``(3, H, W)`` per frame, ``(T, 3, H, W)`` for
  several frames.
- **Train** (``augment`` defaults to True for split "train"): a uniformly random clip position, a
  random crop aligned to the scale (SR: its top-left corner is a multiple of ``scale``, so an LR crop
  of a derived file lines up), a horizontal flip and a vertical flip, each with probability 1/2,
  and for sequences a temporal reversal with probability 1/2. ``len = clips x samples_per_clip``
  (default 4 per clip); sample ``i`` is from clip ``clips[i // samples_per_clip]``.
- **Val / test** (no augmentation): for each clip, ``samples_per_clip`` (default 1) positions spread
  evenly over the clip (the middles of equal parts) and a centre crop (its corner rounded down to a
  multiple of the scale), or the full frame with ``patch_size=None`` (SR: cropped at the bottom /
  right to a multiple of the scale). The list of (clip, frame) is fixed: two datasets made with the
  same arguments give identical samples.
- **Randomness** is reproducible: sample ``i`` draws from ``numpy.random.default_rng([seed, epoch,
  i])``, so it is the same in every DataLoader worker and on every run; call :meth:`set_epoch` at the
  start of each epoch to get new crops (like ``DistributedSampler.set_epoch``). ``seed=None`` draws a
  fresh seed from torch's generator for every sample instead (which DataLoader seeds per worker).
- :meth:`plan` returns what sample ``i`` is made of (clip, frames, crop corner, flips, reversal), so
  a sample can be checked against the decoded video.

Super-resolution LR
-------------------
- ``lr_source="bicubic"`` (default): ``lr = imresize(hr, 1/scale).clamp(0, 1)``, MATLAB's
  antialiased bicubic (:mod:`inter4k.data.resize`) applied to the HR patch after cropping and
  flipping (so the patch border uses MATLAB's symmetric padding, exactly as a stored HR patch would).
  The result is clamped to [0, 1] (as MATLAB's uint8 output saturates) but kept in float: no
  rounding to 8 bits unless ``quantize=True`` (``round(255 lr) / 255``, the usual "save the LR as
  PNG" convention of SR benchmarks).
- ``lr_source="derived"``: the LR frame comes from the derived tree that ``inter4k derive`` makes,
  ``Inter4K/60fps/<LR>/<n>.mp4``, and the aligned patch (corner / scale, size patch / scale) is cut
  from it. The LR resolution is the one whose width is the source's divided by ``scale``: from UHD
  (3840x2160), x2 -> FHD (1920x1080), x3 -> HD (1280x720), x4 -> qHD (960x540); from QHD, x2 -> HD,
  x4 -> nHD; from FHD, x2 -> qHD, x3 -> nHD. Missing files are an error naming the path and the
  command to make them.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..video import VideoError, iter_frames, probe
from . import layout
from .resize import imresize

SPLITS = ("train", "val", "test")
SCALES = (2, 3, 4)
LR_SOURCES = ("bicubic", "derived")
# VFI modes (docs/DATA.md#vfi-modes): frames between two inputs that are `span` frames apart.
VFI_SPANS = {"30to60": 2, "15to60": 4, "8x": 8}
DEFAULT_TRAIN_SAMPLES = 4
DEFAULT_EVAL_SAMPLES = 1


def derived_resolution(scale: int, source: str = layout.SOURCE_RES) -> str:
    """The derived resolution that is the ``source`` resolution divided by ``scale``."""
    if source not in layout.RESOLUTIONS:
        raise ValueError(f"unknown resolution {source!r}; choose from {', '.join(layout.RESOLUTIONS)}")
    sw, sh = layout.RESOLUTIONS[source]
    for name, (w, h) in layout.RESOLUTIONS.items():
        if w * scale == sw and h * scale == sh:
            return name
    raise ValueError(f"no derived resolution is {source} ({sw}x{sh}) / {scale}; "
                     f"use lr_source='bicubic' for this scale")


def quantize_01(x: torch.Tensor) -> torch.Tensor:
    """Round values in [0, 1] to the nearest multiple of 1/255 (an 8-bit image)."""
    return torch.round(x * 255.0) / 255.0


def bicubic_lr(hr: torch.Tensor, scale: int, quantize: bool = False) -> torch.Tensor:
    """The LR of an HR patch: ``imresize(hr, 1/scale)`` clamped to [0, 1] (and quantised)."""
    lr = imresize(hr, scale=1.0 / scale).clamp_(0.0, 1.0)
    return quantize_01(lr) if quantize else lr


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float32 in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.movedim(-1, -3).float().div_(255.0).contiguous()


def resolve_clips(root: Path, split: str, clips: Optional[Sequence[int]], res: str = layout.SOURCE_RES) -> list[int]:
    """The clip numbers to use (``clips`` or the split's), checked to exist under ``root``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    folder = layout.clip_dir(root, layout.SOURCE_FPS, res)
    present = layout.list_clips(root, layout.SOURCE_FPS, res)
    if not present:
        raise FileNotFoundError(
            f"no clips in {folder}: download Inter4K with `inter4k download --root {root}` "
            f"or make a small synthetic copy with `inter4k sample --root {root}`")
    if clips is None:
        from .splits import load_split  # lazily: the split module reads a shipped file

        clips = load_split(split, root)
    clips = [int(c) for c in clips]
    if not clips:
        raise ValueError(f"no clips selected for split {split!r}")
    have = set(present)
    missing = [c for c in clips if c not in have]
    if missing:
        shown = ", ".join(str(c) for c in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise FileNotFoundError(
            f"{len(missing)} of the {len(clips)} clips of split {split!r} are missing from {folder} "
            f"(clips {shown}); finish the download (`inter4k download`), or pass clips= explicitly")
    return clips


def sample_rng(seed: Optional[int], epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch``: the same in every process and run for a given
    seed (so DataLoader workers and resumed runs agree); drawn from torch's RNG when seed is None."""
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2 ** 62, ()).item()))
    return np.random.default_rng([int(seed), epoch, int(index)])


def crop_window(h: int, w: int, patch: Optional[int], align: int, rng=None) -> tuple[int, int, int, int]:
    """(y, x, height, width) of a crop of an h x w frame, corner aligned to ``align``: the whole
    frame cut to a multiple of ``align`` when ``patch`` is None; a random square patch when ``rng``
    is given (training); else the centre patch (validation and test)."""
    if patch is None:
        return 0, 0, h - h % align, w - w % align
    if rng is not None:
        return align * int(rng.integers((h - patch) // align + 1)), align * int(rng.integers((w - patch) // align + 1)), patch, patch
    return (h - patch) // 2 // align * align, (w - patch) // 2 // align * align, patch, patch


class _ClipDataset(Dataset):
    """What both datasets share: clip lists, probing, seeded plans, crops and decoding."""

    window: int  # frames decoded per sample
    align: int   # crop corners are multiples of this

    def __init__(self, root, split: str, clips, patch_size: Optional[int], samples_per_clip: Optional[int],
                 seed: Optional[int], augment: Optional[bool], res: str, decode_threads: bool):
        if res not in layout.RESOLUTIONS:
            raise ValueError(f"unknown resolution {res!r}; choose from {', '.join(layout.RESOLUTIONS)}")
        if patch_size is not None and (not isinstance(patch_size, (int, np.integer)) or patch_size < 1):
            raise ValueError(f"patch_size must be a positive integer or None, got {patch_size!r}")
        self.root = layout.resolve_root(root)
        self.split = split
        self.res = res
        self.clips = resolve_clips(self.root, split, clips, res)
        self.patch_size = None if patch_size is None else int(patch_size)
        self.train = split == "train"
        self.augment = self.train if augment is None else bool(augment)
        if samples_per_clip is None:
            samples_per_clip = DEFAULT_TRAIN_SAMPLES if self.train else DEFAULT_EVAL_SAMPLES
        if samples_per_clip < 1:
            raise ValueError(f"samples_per_clip must be >= 1, got {samples_per_clip}")
        self.samples_per_clip = int(samples_per_clip)
        self.seed = seed
        self.epoch = 0
        self.decode_threads = decode_threads
        self._info: dict[int, tuple[int, int, int]] = {}

    # -- clips -----------------------------------------------------------------------------------
    def path(self, clip: int) -> Path:
        return layout.clip_path(self.root, clip, layout.SOURCE_FPS, self.res)

    def info(self, clip: int) -> tuple[int, int, int]:
        """(frames, height, width) of a clip (probed once, then cached)."""
        hit = self._info.get(clip)
        if hit is None:
            vi = probe(self.path(clip))
            frames = vi.frames
            if frames is None:
                from ..video import count_frames

                frames = count_frames(self.path(clip))
            hit = (int(frames), vi.height, vi.width)
            self._info[clip] = hit
            self._check_clip(clip, *hit)
        return hit

    def _check_clip(self, clip: int, frames: int, height: int, width: int) -> None:
        p = self.patch_size
        if p is not None and (p > height or p > width):
            raise ValueError(f"patch_size {p} is larger than the frames of {self.path(clip)} ({width}x{height})")
        if frames < self.window:
            raise ValueError(f"{self.path(clip)} has {frames} frames; a sample needs {self.window}")

    def starts(self, clip: int) -> list[int]:
        """Every valid first frame of a sample in ``clip``."""
        frames = self.info(clip)[0]
        return list(range(0, frames - self.window + 1))

    def set_epoch(self, epoch: int) -> None:
        """Mix ``epoch`` into the seed so each epoch draws new crops (reproducibly)."""
        self.epoch = int(epoch)

    @cached_property
    def _eval_items(self) -> list[tuple[int, int]]:
        items = []
        for clip in self.clips:
            starts = self.starts(clip)
            n = len(starts)
            for j in range(self.samples_per_clip):
                items.append((clip, starts[min(n - 1, int((j + 0.5) * n / self.samples_per_clip))]))
        return items

    def __len__(self) -> int:
        return len(self.clips) * self.samples_per_clip

    def _rng(self, index: int) -> np.random.Generator:
        return sample_rng(self.seed, self.epoch, index)

    def plan(self, index: int) -> dict:
        """What sample ``index`` is: clip, first frame, crop corner (y, x) and size, flips, reversal."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        index = index % len(self)
        if self.train:
            rng = self._rng(index)
            clip = self.clips[index // self.samples_per_clip]
            starts = self.starts(clip)
            start = starts[int(rng.integers(len(starts)))]
        else:
            rng = self._rng(index) if self.augment else None
            clip, start = self._eval_items[index]
        _, h, w = self.info(clip)
        a = self.align
        y, x, ph, pw = crop_window(h, w, self.patch_size, a, rng if self.train else None)
        hflip = vflip = reverse = False
        if self.augment:
            hflip, vflip, reverse = (bool(v) for v in rng.integers(0, 2, size=3))
            reverse = reverse and self.window > 1
        return dict(clip=clip, start=start, frames=self.window, y=y, x=x, height=ph, width=pw,
                    hflip=hflip, vflip=vflip, reverse=reverse)

    def _decode(self, path: Path, start: int, count: int) -> np.ndarray:
        if not path.is_file():
            raise FileNotFoundError(f"no such clip: {path}")
        frames = list(iter_frames(path, start=start, count=count, threads=self.decode_threads))
        if len(frames) != count:
            raise VideoError(f"{path}: wanted frames {start}..{start + count - 1}, decoded {len(frames)}")
        return np.stack(frames)

    def _crop_decode(self, plan: dict, path: Optional[Path] = None, div: int = 1) -> torch.Tensor:
        """(T, 3, h, w) float32 of the plan's crop (coordinates divided by ``div``), flipped/reversed."""
        frames = self._decode(path or self.path(plan["clip"]), plan["start"], plan["frames"])
        y, x, h, w = plan["y"] // div, plan["x"] // div, plan["height"] // div, plan["width"] // div
        frames = frames[:, y:y + h, x:x + w]
        if frames.shape[1:3] != (h, w):
            raise ValueError(f"{path or self.path(plan['clip'])}: frames of {frames.shape[2]}x{frames.shape[1]} "
                             f"are too small for a crop at ({x}, {y}) of {w}x{h}")
        return apply_plan(to_tensor(frames), plan)


def apply_plan(t: torch.Tensor, plan: dict) -> torch.Tensor:
    """Temporal reversal (dim 0), a transpose (``plan["transpose"]`` when present: rows <-> columns)
    and then flips (dims -1 / -2) of a (T, 3, h, w) tensor, as planned."""
    if plan.get("transpose"):
        t = t.transpose(-1, -2)
    dims = [d for d, on in ((0, plan["reverse"]), (-2, plan["vflip"]), (-1, plan["hflip"])) if on]
    return t.flip(dims) if dims else t


def apply_plan_flows(flows: torch.Tensor, plan: dict) -> torch.Tensor:
    """The true backward flows of a VFI sample whose frames :func:`apply_plan` changed with ``plan``.

    ``flows`` (T, 4, h, w): for each target ``F_t->0`` (channels 0, 1) and ``F_t->1`` (2, 3), (x, y) in
    pixels, so that ``backward_warp(frame0, F_t->0)`` approximates target t. Reversal makes frame 1 the
    first input and target k target T - 1 - k: the targets' order reverses and the two flows swap (a
    flow *from* the target needs no negating). A transpose swaps x and y; a flip mirrors the field and
    negates its component along the flipped axis.

    Example:
        >>> f = torch.zeros(1, 4, 2, 3); f[:, 0] = 1.0                   # F_t->0 one pixel to the right
        >>> g = apply_plan_flows(f, dict(hflip=True, vflip=False, reverse=True, transpose=False))
        >>> g[0, 2, 0, 0].item(), g[0, :2].abs().max().item()            # now F_t->1, to the left
        (-1.0, 0.0)
    """
    if plan["reverse"]:
        flows = flows.flip(0)[:, [2, 3, 0, 1]]
    if plan.get("transpose"):
        flows = flows.transpose(-1, -2)[:, [1, 0, 3, 2]]
    dims, sign = [], torch.ones(4, dtype=flows.dtype)
    if plan["vflip"]:
        dims.append(-2)
        sign[[1, 3]] = -1.0
    if plan["hflip"]:
        dims.append(-1)
        sign[[0, 2]] = -1.0
    if dims:
        flows = flows.flip(dims) * sign.view(1, 4, 1, 1)
    return flows.contiguous()


class Inter4KSR(_ClipDataset):
    """Super-resolution pairs ``(lr, hr)`` decoded from the clips (see the module docstring).

    Args:
        root: the dataset root (default ``$INTER4K_ROOT`` or ``~/datasets/inter4k``).
        split: "train", "val" or "test" (the clips, and whether to augment by default).
        scale: 2, 3 or 4.
        patch_size: HR patch side (a multiple of ``scale``), or None for full frames.
        frames: 1 gives ``(3, h, w)`` tensors; T > 1 gives ``(T, 3, h, w)`` of T consecutive frames.
        lr_source: "bicubic" (MATLAB imresize of the HR patch) or "derived" (the derived file).
        clips: clip numbers to use instead of the split's.
        samples_per_clip: samples per clip and epoch (default 4 for train, 1 for val/test).
        seed: base seed of the per-sample generators (None: not reproducible).
        quantize: round the bicubic LR to 8 bits (default: keep float).
        augment: flips / reversal (default: for split "train" only).
        res: the HR resolution folder (default "UHD", the source).
        decode_threads: threaded PyAV decoding.
    """

    def __init__(self, root=None, split: str = "train", scale: int = 4, patch_size: Optional[int] = 192,
                 frames: int = 1, lr_source: str = "bicubic", clips: Optional[Sequence[int]] = None,
                 samples_per_clip: Optional[int] = None, seed: Optional[int] = 0, quantize: bool = False,
                 augment: Optional[bool] = None, res: str = layout.SOURCE_RES, decode_threads: bool = True):
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(map(str, SCALES))}")
        if lr_source not in LR_SOURCES:
            raise ValueError(f"unknown lr_source {lr_source!r}; choose from {', '.join(LR_SOURCES)}")
        if patch_size is not None and patch_size % scale:
            raise ValueError(f"patch_size {patch_size} is not a multiple of scale {scale}")
        if not isinstance(frames, (int, np.integer)) or frames < 1:
            raise ValueError(f"frames must be a positive integer, got {frames!r}")
        self.scale = int(scale)
        self.frames = int(frames)
        self.window = self.frames
        self.align = self.scale
        self.lr_source = lr_source
        self.quantize = bool(quantize)
        super().__init__(root, split, clips, patch_size, samples_per_clip, seed, augment, res, decode_threads)
        self.lr_res = derived_resolution(self.scale, res) if lr_source == "derived" else None
        self._derived_ok: set[int] = set()
        if self.lr_res is not None:
            self._check_derived(self.clips[0])
        self.info(self.clips[0])  # fail early on a patch larger than the frames

    def lr_path(self, clip: int) -> Path:
        return layout.clip_path(self.root, clip, layout.SOURCE_FPS, self.lr_res)

    def _check_derived(self, clip: int) -> None:
        if clip in self._derived_ok:
            return
        path = self.lr_path(clip)
        if not path.is_file():
            raise FileNotFoundError(
                f"lr_source='derived' needs {path} (the {self.lr_res} version of clip {clip}, x{self.scale} "
                f"below {self.res}); make the derived tree with `inter4k derive --root {self.root}`, "
                f"or use lr_source='bicubic'")
        frames, h, w = self.info(clip)
        vi = probe(path)
        if (vi.width * self.scale, vi.height * self.scale) != (w, h):
            raise ValueError(f"{path} is {vi.width}x{vi.height}, not the {self.res} frames ({w}x{h}) / {self.scale}")
        self._derived_ok.add(clip)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        plan = self.plan(index)
        hr = self._crop_decode(plan)
        if self.lr_res is None:
            lr = bicubic_lr(hr, self.scale, self.quantize)
        else:
            self._check_derived(plan["clip"])
            lr = self._crop_decode(plan, self.lr_path(plan["clip"]), div=self.scale)
        if self.frames == 1:
            return lr[0], hr[0]
        return lr, hr


class Inter4KVFI(_ClipDataset):
    """Frame interpolation samples ``(inputs, targets, timesteps)`` (docs/DATA.md#vfi-modes).

    ``mode`` "30to60": inputs frames 2k and 2k+2, target 2k+1, t = 0.5; "15to60": inputs 4k and 4k+4,
    targets 4k+1..4k+3, t = 0.25, 0.5, 0.75; "8x": inputs 8k and 8k+8, targets 8k+1..8k+7, t = i/8.
    Shapes: inputs ``(2, 3, P, P)``, targets ``(T, 3, P, P)``, timesteps ``(T,)`` float32. A temporal
    reversal (train) swaps the inputs, reverses the targets and maps t to 1 - t (so timesteps stay
    ascending and each target keeps its true time between the, now swapped, inputs).

    Args: as :class:`Inter4KSR` (``patch_size`` default 256, None for full frames; no scale).
    """

    def __init__(self, root=None, split: str = "train", mode: str = "30to60", patch_size: Optional[int] = 256,
                 clips: Optional[Sequence[int]] = None, samples_per_clip: Optional[int] = None,
                 seed: Optional[int] = 0, augment: Optional[bool] = None, res: str = layout.SOURCE_RES,
                 decode_threads: bool = True):
        if mode not in VFI_SPANS:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(VFI_SPANS)}")
        self.mode = mode
        self.span = VFI_SPANS[mode]
        self.window = self.span + 1
        self.align = 1
        super().__init__(root, split, clips, patch_size, samples_per_clip, seed, augment, res, decode_threads)
        self.info(self.clips[0])

    def starts(self, clip: int) -> list[int]:
        frames = self.info(clip)[0]
        return list(range(0, frames - self.span, self.span))  # 0, span, 2 span, ... with base + span < frames

    def timesteps(self) -> torch.Tensor:
        return torch.arange(1, self.span, dtype=torch.float32) / self.span

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        plan = self.plan(index)
        seq = self._crop_decode(plan)  # reversal already applied: seq[0] and seq[-1] are the inputs
        return split_vfi(seq)


def split_vfi(seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(span+1, 3, h, w) frames -> inputs (2, ...), targets (span-1, ...), timesteps (span-1,).

    For a reversed sequence the targets come out reversed and each t is 1 - t of its original, which
    is again i / span in ascending order: the same timesteps.
    """
    span = seq.shape[0] - 1
    inputs = torch.stack([seq[0], seq[-1]])
    targets = seq[1:-1].contiguous()
    t = torch.arange(1, span, dtype=torch.float32) / span
    return inputs, targets, t
