"""Where the frames to compare come from: an image, a folder of images, a video, or a folder of clips.

    source = open_source("out/clip_x4.mp4")           # a FrameSource (kind "video")
    for name, frame in source.frames():                 # frame: (3, H, W) float32 in [0, 1]
        ...
    pairs = pair_clips("out/", "gt/")                   # [ClipPair(name, pred, ref)], paired by name

**Kinds** (:func:`classify`):

- a file with an image suffix (:data:`IMAGE_SUFFIXES`): one clip of one frame;
- any other file: a video, decoded with PyAV (:func:`inter4k.video.iter_frames`); a file PyAV cannot
  read is a ValueError naming it;
- a folder with image files directly in it: one clip whose frames are the images, in natural order
  (``frame2.png`` before ``frame10.png``, see :func:`natural_key`);
- a folder without images but with videos (:data:`VIDEO_SUFFIXES`) and/or subfolders of images:
  several clips, one per video (named by its stem) or subfolder (named by the folder).

Names starting with "." are ignored (the temporary ``.name.part.mp4`` files of running writers).
Images are read with OpenCV as RGB: greyscale is repeated to three channels, alpha dropped, 16-bit
divided by 65535 (not rounded to 8 bits).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "FrameSource", "ClipPair", "natural_key", "read_image", "classify",
           "open_source", "pair_clips"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm", ".ts", ".mpg", ".mpeg", ".y4m", ".flv", ".wmv",
                  ".nut", ".h264", ".264", ".hevc")

PathLike = Union[str, os.PathLike]


def natural_key(name: str) -> tuple:
    """Sort key that orders the digit runs of a name by value: ``f2.png`` < ``f10.png``.

    Examples:
        >>> sorted(["f10.png", "f2.png", "F1.png"], key=natural_key)
        ['F1.png', 'f2.png', 'f10.png']
    """
    parts = re.split(r"(\d+)", name)
    # (text, number) alternate; lower-case text for a case-insensitive order, the name itself breaks ties
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p), name


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _visible(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))


def _images_in(folder: Path) -> list[Path]:
    return [p for p in _visible(folder) if p.is_file() and _is_image(p)]


def read_image(path: PathLike) -> torch.Tensor:
    """An image file as a (3, H, W) float32 RGB tensor in [0, 1] (8- or 16-bit; grey and alpha handled)."""
    import cv2

    from ..data.images import decode_image

    path = Path(path)
    img = decode_image(path)
    peak = 255.0 if img.dtype == np.uint8 else 65535.0
    if img.ndim == 2 or img.shape[2] == 1:
        img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(peak).contiguous()


@dataclass(frozen=True)
class FrameSource:
    """One clip's frames: ``kind`` "images" (``files`` in order) or "video" (``path`` decoded)."""

    path: Path
    kind: str
    files: tuple[Path, ...] = ()

    def declared_frames(self) -> Optional[int]:
        """The number of frames if known without decoding: the images' count, or the video's header
        (None when it declares none; a header can be wrong, so mismatches are found while decoding)."""
        if self.kind == "images":
            return len(self.files)
        from ..video import probe

        return probe(self.path).frames

    def frames(self) -> Iterator[tuple[str, torch.Tensor]]:
        """``(name, frame)`` in order; frame (3, H, W) float32 in [0, 1]; name the file name of an
        image, ``"#<index>"`` for a video frame."""
        if self.kind == "images":
            for f in self.files:
                yield f.name, read_image(f)
            return
        from ..data.datasets import to_tensor
        from ..video import iter_frames

        for i, frame in enumerate(iter_frames(self.path)):
            yield f"#{i}", to_tensor(frame)

    def describe(self) -> str:
        if self.kind == "images":
            if len(self.files) == 1 and self.files[0] == self.path:
                return f"image {self.path}"
            return f"image folder {self.path}"
        return f"video {self.path}"


@dataclass(frozen=True)
class ClipPair:
    """A clip to compare: its name and the pred / ref sources, frames paired in order."""

    name: str
    pred: FrameSource
    ref: FrameSource


def open_source(path: PathLike, role: str = "input") -> FrameSource:
    """The single clip at ``path`` (an image, an image folder or a video); a folder of several clips is a
    ValueError (use :func:`pair_clips`)."""
    kind, found = classify(path, role)
    if kind == "multi":
        raise ValueError(f"{role} {path} is a folder of {len(found)} clips; give one video, image or image folder")
    return found


def _video(path: Path, role: str) -> FrameSource:
    from ..video import probe

    probe(path)  # fail now (a ValueError naming the file) rather than halfway through the clips
    return FrameSource(path, "video")


def classify(path: PathLike, role: str = "input"):
    """``("single", FrameSource)`` or ``("multi", {name: FrameSource})`` for a path (see the module
    docstring); FileNotFoundError when it does not exist, ValueError when it holds nothing usable."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{role} {path} does not exist")
    if path.is_file():
        if _is_image(path):
            return "single", FrameSource(path, "images", (path,))
        return "single", _video(path, role)
    images = _images_in(path)
    if images:
        return "single", FrameSource(path, "images", tuple(images))
    clips: dict[str, FrameSource] = {}
    for entry in _visible(path):
        if entry.is_dir():
            inner = _images_in(entry)
            if inner:
                src = FrameSource(entry, "images", tuple(inner))
                name = entry.name
            else:
                continue
        elif entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            src, name = _video(entry, role), entry.stem
        else:
            continue
        if name in clips:
            raise ValueError(f"{role} {path}: two clips are named {name!r} ({clips[name].path.name} and {entry.name})")
        clips[name] = src
    if not clips:
        raise ValueError(f"{role} {path} holds no images ({', '.join(IMAGE_SUFFIXES)}), no videos "
                         f"({', '.join(VIDEO_SUFFIXES[:6])}, ...) and no folders of images")
    return "multi", clips


def _clip_name(src: FrameSource) -> str:
    return src.path.stem if src.path.is_file() else src.path.name


def pair_clips(pred: PathLike, ref: PathLike) -> list[ClipPair]:
    """The clips to compare: one pair when both paths are single clips, else the clips of two folders
    paired by name (in natural order of the names). Unmatched names on either side are a ValueError
    that lists them."""
    pk, pf = classify(pred, "pred")
    rk, rf = classify(ref, "ref")
    if pk == "single" and rk == "single":
        return [ClipPair(_clip_name(rf), pf, rf)]
    if pk != rk:
        many, one = (pred, ref) if pk == "multi" else (ref, pred)
        n = len(pf if pk == "multi" else rf)
        raise ValueError(f"{'pred' if pk == 'multi' else 'ref'} {many} is a folder of {n} clips but "
                         f"{'ref' if pk == 'multi' else 'pred'} {one} is a single clip; give two clips or two "
                         f"folders of clips")
    only_pred = sorted(set(pf) - set(rf), key=natural_key)
    only_ref = sorted(set(rf) - set(pf), key=natural_key)
    if only_pred or only_ref:
        def show(names):
            return ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
        parts = []
        if only_pred:
            parts.append(f"in pred {pred} but not in ref: {show(only_pred)}")
        if only_ref:
            parts.append(f"in ref {ref} but not in pred: {show(only_ref)}")
        raise ValueError("clips are paired by name and some have no partner: " + "; ".join(parts))
    return [ClipPair(name, pf[name], rf[name]) for name in sorted(pf, key=natural_key)]
