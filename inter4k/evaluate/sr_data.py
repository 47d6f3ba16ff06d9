"""The (LR, HR) frames the model mode evaluates on: an Inter4K split, or a folder of images.

- **Inter4K root** (``inter4k download`` / ``inter4k sample``): the clips of ``split``
  (:func:`inter4k.data.datasets.resolve_clips`; a sample tree has its own small split), the first
  ``limit`` of them. Each clip gives every frame, or with ``frames=K`` the K frames at the middles of
  K equal parts of the clip, the very frames ``Inter4KSR(split=..., patch_size=None,
  samples_per_clip=K)`` gives. Consecutive frames are decoded in one pass; spread ones by seeking.
- **Images** (``images:DIR``, or a folder with images and no ``Inter4K`` folder): ``DIR/<split>`` when
  it holds images, else ``DIR``; one clip (named after the folder) whose frames are the images, the
  first ``limit`` of them in sorted order (``frames`` does not apply).

Both follow :class:`~inter4k.data.datasets.Inter4KSR`: the HR frame is cut at the bottom / right to
a multiple of ``scale`` and ``LR = imresize(HR, 1/scale).clamp(0, 1)`` (MATLAB's antialiased bicubic;
rounded to 8 bits only with ``quantize``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import torch

__all__ = ["SRItem", "SRData", "frame_positions", "open_sr_data", "IMAGES_PREFIX"]

IMAGES_PREFIX = "images:"


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
    def __init__(self, root: Path, split: str, scale: int, limit: Optional[int], frames: Optional[int],
                 quantize: bool):
        from ..data.datasets import Inter4KSR, resolve_clips

        clips = resolve_clips(root, split, None)
        if limit is not None:
            clips = clips[:limit]
        # the dataset checks the clips (present, decodable, sizes) and knows their frame counts
        self.ds = Inter4KSR(root, split=split, scale=scale, patch_size=None, frames=1, clips=clips,
                            samples_per_clip=1, seed=0, augment=False, quantize=quantize)
        self.kind, self.source, self.scale, self.quantize = "inter4k", str(root), scale, quantize
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
    def __init__(self, folder: Path, split: str, scale: int, limit: Optional[int], quantize: bool):
        from ..data.images import ImageFolderSR, list_images

        if (folder / split).is_dir() and list_images(folder / split):
            folder = folder / split
        files = list_images(folder) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no PNG / JPEG images in {folder}")
        if limit is not None:
            files = files[:limit]
        self.ds = ImageFolderSR(folder, scale=scale, patch_size=None, split="test", files=files, augment=False,
                                quantize=quantize)
        self.kind, self.source = "images", str(folder)
        self.clips = [(folder.name or str(folder), len(files))]

    def __iter__(self) -> Iterator[SRItem]:
        name = self.clips[0][0]
        for i in range(len(self.ds)):
            lr, hr = self.ds[i]
            yield SRItem(name, i, self.ds.files[i], lr, hr)


def open_sr_data(data: Optional[str], split: str = "test", scale: int = 4, limit: Optional[int] = None,
                 frames: Optional[int] = None, quantize: bool = False) -> SRData:
    """The frames of ``data`` (see the module docstring): an Inter4K root (default ``$INTER4K_ROOT`` or
    ``~/datasets/inter4k``), ``images:DIR`` or a folder of images."""
    from ..data import layout
    from ..data.images import list_images

    for label, v in (("limit", limit), ("frames", frames)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"{label} must be an int >= 1 or None, got {v!r}")
    text = None if data is None else str(data)
    if text is not None and text.startswith(IMAGES_PREFIX):
        folder = Path(text[len(IMAGES_PREFIX):]).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist (from --data {text})")
        return _ImageFrames(folder, split, scale, limit, quantize)
    root = layout.resolve_root(text)
    if not root.exists():
        raise FileNotFoundError(f"data folder {root} does not exist: give --data an Inter4K root (inter4k download "
                                f"/ inter4k sample) or images:DIR")
    if not root.is_dir():
        raise NotADirectoryError(f"--data {root} is not a folder")
    if (root / "index.json").is_file():
        raise ValueError(f"{root} is a folder of training patches made by inter4k prepare; evaluate reads whole "
                         f"frames: give the Inter4K root it was made from, or images:DIR")
    if not (root / "Inter4K").is_dir() and (list_images(root) or any(
            (root / s).is_dir() and list_images(root / s) for s in ("train", "val", "test"))):
        return _ImageFrames(root, split, scale, limit, quantize)
    return _Inter4KFrames(root, split, scale, limit, frames, quantize)
