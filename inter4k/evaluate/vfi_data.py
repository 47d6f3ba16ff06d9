"""The held-out frame-interpolation samples the VFI model mode evaluates on.

A *sample* is two input frames ``span`` frames apart and the ``span - 1`` true frames between them
(docs/DATA.md#vfi-modes: span 2 for "30to60", 4 for "15to60", 8 for "8x"); each of those target frames is one
evaluated frame, made at ``t = k / span``.

- **Inter4K root** (``inter4k download`` / ``inter4k sample``): the clips of ``split``
  (:func:`inter4k.data.datasets.resolve_clips`), the first ``limit`` of them. The samples of a clip
  are the ones :class:`~inter4k.data.datasets.Inter4KVFI` plans for val / test: first frames
  ``0, span, 2 span, ...`` (:meth:`Inter4KVFI.starts`); every one of them, or with ``frames=K`` the K
  at the middles of K equal parts (exactly ``Inter4KVFI(split, mode, samples_per_clip=K)``'s samples).
  Whole frames, or with ``patch=P`` the P x P centre crop (``Inter4KVFI(patch_size=P)``'s crop).
  Runs of adjacent samples are decoded in one pass; spread samples by seeking.
- **Synthetic** (``synthetic``, ``synthetic:DIR`` or ``images:DIR``, or a folder of images):
  :class:`~inter4k.data.motion.SyntheticMotionVFI` with ``split`` (default "test": scikit-image's
  held-out photographs :data:`~inter4k.data.motion.TEST_PHOTOS`, never trained on), seed
  :data:`SYNTHETIC_SEED`, the dataset's fixed evaluation samples (its default count: 4 per photograph,
  at least 8, so 20 for the five test photographs), frames of ``patch`` (default 256) pixels; the
  first ``limit`` samples. Each sample is its own clip. ``DIR/<split>`` is used when it holds images,
  else ``DIR``. ``photos`` (``photos:DIR``): the same over the real-photograph corpus's ``split`` folder,
  with realistic motion and camera effects (``realism="real"``, :mod:`inter4k.data.realism`).
- **Real videos** (``videos``, ``videos:DIR``): the opencv-doc videos of :mod:`inter4k.data.videos`
  (built on first use), every sample kept by its plan (a sample across a scene cut or with uneven
  frame timing is left out, as its manifest records); the first ``limit`` videos, with ``frames=K`` the
  K samples at the middles of K equal parts; whole frames or ``patch`` centre crops. That is the
  "test" split; ``split="val"`` gives the samples at the borders between those parts instead (K = 20,
  the benchmarks' count, when ``frames`` is None; :func:`inter4k.data.videos.part_positions`).

``--data`` is read by :mod:`inter4k.data.sources` (the rules training uses too), which opens the
dataset (purpose "test"); this module iterates its samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

from ..data.sources import INTER4K, SYNTHETIC, SYNTHETIC_PATCH, VIDEOS

__all__ = ["VFISample", "VFIData", "sample_starts", "open_vfi_data", "SYNTHETIC_SEED", "SYNTHETIC_PATCH"]

#: The seed of the synthetic evaluation samples (their own stream of the test split; see motion.py).
SYNTHETIC_SEED = 0


@dataclass
class VFISample:
    """One input pair and its targets.

    ``frames`` are the ``span + 1`` frames (span + 1, 3, H, W), uint8 (decoded video) or float in
    [0, 1] (rendered); ``start`` is the index of the first in its clip (0 for a synthetic clip), so
    frame ``k`` of the sample is frame ``start + k`` of the clip.
    """

    clip: str
    start: int
    frames: torch.Tensor

    @property
    def span(self) -> int:
        return int(self.frames.shape[0]) - 1

    def frame(self, k: int) -> torch.Tensor:
        """Frame ``k`` (0 = the first input, span = the second) as (3, H, W) float32 in [0, 1]."""
        f = self.frames[k]
        return f.float().div(255.0) if f.dtype == torch.uint8 else f.float()


def sample_starts(starts: Sequence[int], k: Optional[int], split: str = "test") -> list[int]:
    """The samples of a clip to evaluate: every start, or ``k`` at the middles of ``k`` equal parts
    (the val / test rule of :class:`~inter4k.data.datasets.Inter4KVFI` with ``samples_per_clip=k``);
    ``split="val"``: the starts between those parts instead (:func:`~inter4k.data.videos.part_positions`).

    Examples:
        >>> sample_starts([0, 2, 4, 6, 8, 10], 2), sample_starts([0, 4], None), sample_starts([0, 4], 5)
        ([2, 8], [0, 4], [0, 4])
    """
    from ..data.videos import part_positions

    starts = list(starts)
    return [starts[p] for p in part_positions(len(starts), k, split)]


class VFIData:
    """An iterable of :class:`VFISample` with its plan: ``clips`` [(name, target frames)], ``total``."""

    kind: str
    source: str
    mode: str
    span: int
    clips: list[tuple[str, int]]
    info: dict

    @property
    def total(self) -> int:
        return sum(n for _, n in self.clips)

    def __iter__(self) -> Iterator[VFISample]:  # pragma: no cover - implemented by the subclasses
        raise NotImplementedError


class _Inter4KSamples(VFIData):
    def __init__(self, ds, frames: Optional[int]):
        self.ds = ds
        self.kind, self.source, self.mode, self.span = INTER4K, str(ds.root), ds.mode, ds.span
        self.positions = {c: sample_starts(self.ds.starts(c), frames) for c in self.ds.clips}
        for c, pos in self.positions.items():
            if not pos:
                raise ValueError(f"{self.ds.path(c)} has {self.ds.info(c)[0]} frames: too few for one {self.mode} "
                                 f"sample ({self.span + 1} frames)")
        self.clips = [(str(c), len(self.positions[c]) * (self.span - 1)) for c in self.ds.clips]
        self.info = {"patch": ds.patch_size, "samples": sum(len(p) for p in self.positions.values())}

    def _runs(self, pos: list[int]) -> list[list[int]]:
        """Adjacent samples (each starting where the previous one ends) grouped, to decode in one pass."""
        runs: list[list[int]] = []
        for s in pos:
            if runs and s == runs[-1][-1] + self.span:
                runs[-1].append(s)
            else:
                runs.append([s])
        return runs

    def __iter__(self) -> Iterator[VFISample]:
        from ..data.datasets import crop_window
        from ..video import VideoError, iter_frames

        for clip in self.ds.clips:
            path = self.ds.path(clip)
            _, h, w = self.ds.info(clip)
            y, x, ph, pw = crop_window(h, w, self.ds.patch_size, 1)
            for run in self._runs(self.positions[clip]):
                first, count = run[0], run[-1] + self.span - run[0] + 1
                window: list[torch.Tensor] = []  # the current sample's frames, uint8 (3, ph, pw)
                got = 0
                for i, frame in enumerate(iter_frames(path, start=first, count=count), start=first):
                    got += 1
                    window.append(torch.from_numpy(frame[y:y + ph, x:x + pw]).permute(2, 0, 1).contiguous())
                    if len(window) == self.span + 1:
                        yield VFISample(str(clip), i - self.span, torch.stack(window))
                        window = window[-1:]  # the second input is the next sample's first
                if got != count:
                    raise VideoError(f"{path}: wanted frames {first}..{first + count - 1}, decoded {got} "
                                     f"(the header declares {self.ds.info(clip)[0]})")


class _SyntheticSamples(VFIData):
    def __init__(self, ds, source: str, limit: Optional[int]):
        self.ds = ds
        n = len(self.ds) if limit is None else min(limit, len(self.ds))
        self.kind, self.source, self.mode, self.span = SYNTHETIC, source, ds.mode, ds.span
        self.names = [f"{i}-{Path(self.ds.names[i % len(self.ds.names)]).stem}" for i in range(n)]
        self.clips = [(name, self.span - 1) for name in self.names]
        self.info = {"patch": self.ds.patch_size, "samples": n, "seed": SYNTHETIC_SEED,
                     "realism": self.ds.realism.name, "photos": list(self.ds.names)}

    def __iter__(self) -> Iterator[VFISample]:
        for i, name in enumerate(self.names):
            yield VFISample(name, 0, self.ds.render(self.ds.plan(i)))


class _VideoSamples(VFIData):
    def __init__(self, ds, frames: Optional[int], split: str = "test"):
        self.ds = ds
        self.kind, self.source, self.mode, self.span = VIDEOS, str(ds.root), ds.mode, ds.span
        by_video: dict[int, list[int]] = {}
        for i, (j, _) in enumerate(self.ds.items):
            by_video.setdefault(j, []).append(i)
        self.order = [i for j in sorted(by_video) for i in sample_starts(by_video[j], frames, split)]
        self.clips = []
        for i in self.order:
            clip = self.ds.sample(i)[0]
            if not self.clips or self.clips[-1][0] != clip:
                self.clips.append((clip, 0))
            self.clips[-1] = (clip, self.clips[-1][1] + self.span - 1)
        self.info = {"patch": ds.patch_size, "samples": len(self.order), "videos": [c for c, _ in self.clips]}

    def __iter__(self) -> Iterator[VFISample]:
        for i in self.order:
            clip, start = self.ds.sample(i)
            yield VFISample(clip, start, self.ds.frames(i))


def open_vfi_data(data: Optional[str], split: str = "test", mode: str = "30to60", limit: Optional[int] = None,
                  frames: Optional[int] = None, patch: Optional[int] = None) -> VFIData:
    """The samples of ``data`` (see the module docstring): an Inter4K root (default ``$INTER4K_ROOT`` or
    ``~/datasets/inter4k``), ``synthetic``, ``synthetic:DIR`` / ``images:DIR`` or a folder of images,
    ``photos[:DIR]`` or ``videos[:DIR]``.

    ValueError for an unknown mode or split, a folder of patches made by ``inter4k prepare``, bad
    ``limit`` / ``frames`` / ``patch``; FileNotFoundError for a missing folder.
    """
    from ..data import sources
    from ..data.datasets import SPLITS, VFI_SPANS

    if mode not in VFI_SPANS:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(VFI_SPANS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    for label, v in (("limit", limit), ("frames", frames), ("patch", patch)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{label} must be an int >= 1 or None, got {v!r}")
    if patch is not None and patch < 8:
        raise ValueError(f"patch must be at least 8 pixels, got {patch}")
    spec = sources.parse_data(data, "vfi", purpose="test")
    if spec.kind == INTER4K:  # the clips of the split, the first ``limit``
        ds = sources.open_dataset(spec, "vfi", "test", mode=mode, split=split, limit=limit, patch=patch)
        return _Inter4KSamples(ds, frames)
    if spec.kind == VIDEOS:  # the kept samples of the first ``limit`` videos: test, or val between them
        if split == "train":
            raise ValueError("the videos are never trained on: --split val or test (the default)")
        ds = sources.open_dataset(spec, "vfi", "test", mode=mode, limit=limit, patch=patch)
        if split == "val":
            from ..data.videos import VIDEO_TEST_SAMPLES

            return _VideoSamples(ds, frames or VIDEO_TEST_SAMPLES, "val")
        return _VideoSamples(ds, frames)
    # rendered samples: the dataset's fixed evaluation samples, the first ``limit``
    ds = sources.open_dataset(spec, "vfi", "test", mode=mode, split=split, patch=patch, seed=SYNTHETIC_SEED)
    label = spec.kind if spec.path is None else f"{spec.kind}:{sources.split_or_all(spec.path, split)}"
    return _SyntheticSamples(ds, label, limit)
