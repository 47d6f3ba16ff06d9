"""The (LR, HR) frames the model mode evaluates on: an Inter4K split, or a folder of images.

- **Inter4K root** (``inter4k download`` / ``inter4k sample``): the clips of ``split``
  (:func:`inter4k.data.datasets.resolve_clips`; a sample tree has its own small split), the first
  ``limit`` of them. Each clip gives every frame, or with ``frames=K`` the K frames at the middles of
  K equal parts of the clip, the very frames ``Inter4KSR(split=..., patch_size=None,
  samples_per_clip=K)`` gives. Consecutive frames are decoded in one pass; spread ones by seeking.
- **Images** (``images:DIR``, or a folder with images and no ``Inter4K`` folder; ``photos[:DIR]``, the
  photograph corpus): ``DIR/<split>`` when it holds images, else ``DIR``; one clip (named after the
  folder) whose frames are the images, the first ``limit`` of them in sorted order (``frames`` does not
  apply).

``--data`` is read by :mod:`inter4k.data.sources` (the rules training uses too), which opens the
dataset (purpose "test"); this module iterates its whole frames.

Both follow :class:`~inter4k.data.datasets.Inter4KSR`: the HR frame is cut at the bottom / right to
a multiple of ``scale`` and ``LR = imresize(HR, 1/scale).clamp(0, 1)`` (MATLAB's antialiased bicubic;
rounded to 8 bits only with ``quantize``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from ..data.sources import IMAGES, INTER4K

__all__ = ["SRItem", "SRData", "frame_positions", "open_sr_data"]


@dataclass
class SRItem:
    """One frame to evaluate: clip name, frame index in the clip, display name, LR and HR (3, h, w)."""

    clip: str
    index: int
    name: str
    lr: torch.Tensor
    hr: torch.Tensor


def frame_positions(n: int, k: Optional[int]) -> list[int]:
    """The frames of an ``n``-frame clip to evaluate: all, or ``k`` at the middles of ``k`` equal parts
    (``Inter4KSR``'s val / test positions).

    Examples:
        >>> frame_positions(60, 2), frame_positions(5, None), frame_positions(3, 10)
        ([15, 45], [0, 1, 2, 3, 4], [0, 1, 2])
    """
    if k is None or k >= n:
        return list(range(n))
    return [int((j + 0.5) * n / k) for j in range(k)]


class SRData:
    """An iterable of :class:`SRItem` with its plan (``clips``: [(name, frames)], ``total`` frames)."""

    kind: str
    source: str
    clips: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.clips)

    def __iter__(self) -> Iterator[SRItem]:  # pragma: no cover - implemented by the subclasses
        raise NotImplementedError


class _Inter4KFrames(SRData):
    def __init__(self, ds, frames: Optional[int]):
        self.ds, self.scale, self.quantize = ds, ds.scale, ds.quantize
        self.kind, self.source = INTER4K, str(ds.root)
        self.positions = {c: frame_positions(self.ds.info(c)[0], frames) for c in self.ds.clips}
        self.clips = [(str(c), len(self.positions[c])) for c in self.ds.clips]

    def _decode(self, clip: int) -> Iterator[tuple[int, torch.Tensor]]:
        from ..data.datasets import to_tensor
        from ..video import VideoError, iter_frames

        path, pos = self.ds.path(clip), self.positions[clip]
        runs = [pos] if pos == list(range(pos[0], pos[0] + len(pos))) else [[p] for p in pos]
        for run in runs:
            got = 0
            for i, frame in zip(run, iter_frames(path, start=run[0], count=len(run))):
                got += 1
                yield i, to_tensor(frame)
            if got != len(run):
                raise VideoError(f"{path}: wanted frames {run[0]}..{run[-1]}, decoded {got} "
                                 f"(the header declares {self.ds.info(clip)[0]})")

    def __iter__(self) -> Iterator[SRItem]:
        from ..data.datasets import bicubic_lr, crop_window

        for clip in self.ds.clips:
            for index, frame in self._decode(clip):
                y, x, h, w = crop_window(frame.shape[-2], frame.shape[-1], None, self.scale)
                hr = frame[:, y:y + h, x:x + w].contiguous()
                yield SRItem(str(clip), index, f"#{index}", bicubic_lr(hr, self.scale, self.quantize), hr)


class _ImageFrames(SRData):
    def __init__(self, ds):
        self.ds = ds
        self.kind, self.source = IMAGES, str(ds.root)
        self.clips = [(ds.root.name or str(ds.root), len(ds.files))]

    def __iter__(self) -> Iterator[SRItem]:
        name = self.clips[0][0]
        for i in range(len(self.ds)):
            lr, hr = self.ds[i]
            yield SRItem(name, i, self.ds.files[i], lr, hr)


def open_sr_data(data: Optional[str], split: str = "test", scale: int = 4, limit: Optional[int] = None,
                 frames: Optional[int] = None, quantize: bool = False) -> SRData:
    """The frames of ``data`` (see the module docstring): an Inter4K root (default ``$INTER4K_ROOT`` or
    ``~/datasets/inter4k``), ``images:DIR``, a folder of images or ``photos[:DIR]``."""
    from ..data.datasets import Inter4KSR
    from ..data.sources import open_dataset, parse_data

    for label, v in (("limit", limit), ("frames", frames)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{label} must be an int >= 1 or None, got {v!r}")
    spec = parse_data(data, "sr", purpose="test")
    ds = open_dataset(spec, "sr", "test", scale=scale, split=split, limit=limit, quantize=quantize)
    return _Inter4KFrames(ds, frames) if isinstance(ds, Inter4KSR) else _ImageFrames(ds)
