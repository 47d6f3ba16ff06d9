"""The photographs the retention benchmark runs on: scikit-image's bundled ones, or a user's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..data.images import EXTENSIONS, list_images, read_rgb

# Natural photographs that ship inside scikit-image (no download): 512x512, 600x400, 451x300,
# 640x427 RGB and the 512x512 grey "camera" (its grey level repeated to R, G, B).
DEFAULT_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def skimage_photo(name: str) -> np.ndarray:
    """``skimage.data.<name>()`` as (H, W, 3) uint8 RGB (grey repeated, alpha dropped)."""
    import skimage.data

    if name.startswith("_") or name not in getattr(skimage.data, "__all__", dir(skimage.data)):
        raise ValueError(f"skimage.data has no image {name!r}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype != np.uint8:
        raise ValueError(f"skimage.data.{name}() is not an 8-bit image ({img.dtype})")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"skimage.data.{name}() is not an RGB or grey image (shape {img.shape})")
    return np.ascontiguousarray(img[:, :, :3])


def load_images(folder=None, names: Optional[Sequence[str]] = None) -> tuple[list[tuple[str, np.ndarray]], str]:
    """The benchmark's images as ``[(name, (H, W, 3) uint8 RGB), ...]`` and a description of the source.

    ``folder=None``: scikit-image's photographs ``names`` (default :data:`DEFAULT_IMAGES`). Otherwise
    every PNG / JPEG directly in ``folder`` (sorted by name); a missing folder is a
    FileNotFoundError, one without images a ValueError.
    """
    if folder is None:
        names = list(DEFAULT_IMAGES if names is None else names)
        return [(name, skimage_photo(name)) for name in names], "scikit-image: " + ", ".join(names)
    folder = Path(folder).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"--images must be a folder of images, got the file {folder}")
    files = list_images(folder)
    if not files:
        raise ValueError(f"no images ({', '.join(EXTENSIONS)}) in {folder}")
    return [(Path(f).stem, read_rgb(folder / f)) for f in files], str(folder)
