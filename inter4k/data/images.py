"""Super-resolution pairs from a folder of still images (PNG / JPEG), and a way to fill one.

    write_skimage_images("photos")                    # scikit-image's RGB photographs as PNG
    ds = ImageFolderSR("photos", scale=2, patch_size=96)          # train: (lr (3,48,48), hr (3,96,96))
    val = ImageFolderSR("photos", scale=2, patch_size=None, split="val")  # full images

The same rules as :class:`inter4k.data.datasets.Inter4KSR`:

- **Train** (``augment`` defaults to True for split "train"): ``len = images x samples_per_image``
  (default 32); sample ``i`` is a random crop of image ``i // samples_per_image`` whose top-left corner
  is a multiple of ``scale``, then a horizontal and a vertical flip with probability 1/2 each.
- **Val** (no augmentation by default): one sample per image, a centre crop (corner rounded down to
  a multiple of ``scale``), or with ``patch_size=None`` the full image cropped at the bottom / right
  to a multiple of ``scale``.
- **LR** ``= imresize(hr, 1/scale).clamp(0, 1)`` (MATLAB's antialiased bicubic), float unless
  ``quantize=True``. Values are float32 in [0, 1], channels first, RGB (a grey image is repeated to
  three channels, an alpha channel dropped).
- **Randomness**: sample ``i`` draws from ``numpy.random.default_rng([seed, epoch, i])``
  (:meth:`set_epoch`), the same in every DataLoader worker and every run.
- **Files**: ``files=[...]`` (names relative to the folder), else every ``.png / .jpg / .jpeg``
  in it (sorted; not recursive). Sizes (the area weighting, the crop plans, the patch-size check) are read
  from the files' headers; the pixels are decoded on first use, once per process (each DataLoader
  worker decodes the images it is asked for), and kept in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import atomic
from .datasets import bicubic_lr, crop_window, sample_rng, to_tensor

EXTENSIONS = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "val", "test")
DEFAULT_SAMPLES_PER_IMAGE = 32
# scikit-image's bundled RGB photographs (no download needed); "cat" is "chelsea" again, "logo" and
# "colorwheel" are drawings, so they are left out.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")


def list_images(folder) -> list[str]:
    """The image file names (PNG / JPEG) directly in ``folder``, sorted."""
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


# EXIF orientation (tag 0x0112) -> the array operation that shows the image upright
_ORIENT = {
    2: lambda a: a[:, ::-1],                    # mirrored left-right
    3: lambda a: a[::-1, ::-1],                 # rotated 180
    4: lambda a: a[::-1],                       # mirrored top-bottom
    5: lambda a: a.swapaxes(0, 1),              # transposed
    6: lambda a: np.rot90(a, -1),               # needs 90 clockwise (a phone held upright)
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transversed
    8: lambda a: np.rot90(a, 1),                # needs 90 counter-clockwise
}


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1..8) of an encoded image (JPEG, PNG, WebP, TIFF); 1 when it has none."""
    import io

    from PIL import Image

    # A PNG keeps EXIF only in an eXIf chunk (or, written by older tools, a "Raw profile type exif"
    # text chunk), which may follow the pixels: PIL decodes the whole image to look for it. Without
    # either there is nothing to find, and the second decode of every PNG is saved.
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"eXIf" not in data and b"Raw profile type exif" not in data:
        return 1
    try:
        with Image.open(io.BytesIO(data)) as im:
            value = int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - no readable EXIF: as stored
        return 1
    return value if value in _ORIENT else 1


def decode_image(path) -> np.ndarray:
    """An image file as OpenCV decodes it with ``IMREAD_UNCHANGED`` (BGR, BGRA or grey; uint8 or uint16),
    turned upright by its EXIF orientation (OpenCV applies it only when it converts the pixels, not with
    ``IMREAD_UNCHANGED``).

    Every failure is one line naming the file: FileNotFoundError when it does not exist, ValueError when
    it cannot be read or decoded, when its header declares more pixels than OpenCV decodes (a damaged
    header, or a PNG claiming 100000x100000: ``CV_IO_MAX_IMAGE_PIXELS``, 2^30 unless
    ``OPENCV_IO_MAX_IMAGE_PIXELS`` says otherwise), or when it is neither 8- nor 16-bit.
    """
    import cv2

    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise ValueError(f"{path}: its header declares more pixels than OpenCV decodes (2^30; "
                             "OPENCV_IO_MAX_IMAGE_PIXELS raises the limit): a damaged header, or an image too "
                             "large to process") from None
        raise ValueError(f"{path}: cannot decode as an image ({' '.join(str(exc).split())[-200:]})") from None
    if img is None:
        raise ValueError(f"{path}: cannot decode as an image (corrupt, empty or not a "
                         f"{path.suffix.lstrip('.').upper()} file)")
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: {img.dtype} images are not supported (8- or 16-bit only)")
    turn = _ORIENT.get(exif_orientation(data.tobytes()))
    return np.ascontiguousarray(turn(img)) if turn is not None else img


def image_size(path) -> tuple[int, int]:
    """(height, width) of an image file as :func:`decode_image` returns it (upright by its EXIF orientation),
    read from its header without decoding the pixels.

    FileNotFoundError when it does not exist; ValueError naming the file when its header cannot be read.
    """
    import io

    from PIL import Image

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception as exc:  # noqa: BLE001 - any unreadable header
        raise ValueError(f"{path}: cannot read its size from the header ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    return (w, h) if exif_orientation(data) in (5, 6, 7, 8) else (h, w)  # turned a quarter: sides swap


def read_rgb(path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB (grey repeated, alpha dropped, 16-bit scaled to 8)."""
    import cv2

    path = Path(path)
    img = decode_image(path)
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        raise ValueError(f"{path}: unsupported number of channels {img.shape[2]}")
    return np.ascontiguousarray(img)


def write_skimage_images(folder, names: Optional[Sequence[str]] = None, overwrite: bool = False) -> list[Path]:
    """Save scikit-image's RGB photographs (``skimage.data.<name>()``) as ``<folder>/<name>.png``.

    ``names`` defaults to :data:`SKIMAGE_PHOTOS`. RGBA images lose their alpha; a greyscale one is
    an error (SR is trained on RGB). Existing files are kept unless ``overwrite``. Files are written
    under a temporary name and renamed. Returns the paths, in the order of ``names``.
    """
    import skimage.data

    names = list(SKIMAGE_PHOTOS if names is None else names)
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        if name.startswith("_") or name not in getattr(skimage.data, "__all__", dir(skimage.data)):
            raise ValueError(f"skimage.data has no image {name!r}; RGB photographs: {', '.join(SKIMAGE_PHOTOS)}")
        path = folder / f"{name}.png"
        paths.append(path)
        if path.is_file() and not overwrite:
            continue
        try:
            img = np.asarray(getattr(skimage.data, name)())
        except Exception as exc:  # noqa: BLE001 - e.g. an image that needs the optional pooch download
            raise ValueError(f"skimage.data.{name}() failed: {type(exc).__name__}: {exc}") from None
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
            raise ValueError(f"skimage.data.{name}() is not an RGB image (shape {img.shape}, {img.dtype})")
        write_rgb_png(path, img[..., :3])
    return paths


def motion_blur(img: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    """A straight motion blur of ``length`` pixels at ``angle_deg`` (uint8 in, uint8 out), computed in
    float and rounded; borders are reflected."""
    import cv2

    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    k = cv2.warpAffine(k, rot, (length, length), flags=cv2.INTER_LINEAR)
    k /= k.sum()
    out = cv2.filter2D(img.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def write_rgb_png(path, img: np.ndarray, compression: int = 3) -> None:
    """Write an (H, W, 3) uint8 RGB array as a PNG, atomically (:func:`inter4k.atomic.writing`);
    ``compression`` is OpenCV's PNG level, 0..9."""
    import cv2

    with atomic.writing(Path(path)) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, int(compression)]):
            raise OSError(f"could not write {tmp}")


def smooth_image(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic (h, w, 3) uint8 image with nothing for SR to add: a flat colour, a linear gradient
    (up to the full 0..255 range across the image) or a sum of two or three sinusoids whose periods are
    at least 3/4 of the image's side (at least 30 LR pixels for an x4 patch of 160) and whose amplitudes
    reach 60 levels, each with equal chance, in a random colour."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    kind = int(rng.integers(0, 3))
    base = rng.uniform(30, 225, size=3)
    if kind == 0:
        img = np.broadcast_to(base, (h, w, 3)).copy()
    elif kind == 1:
        gy, gx = rng.uniform(-1, 1, size=(2, 3)) * 180.0
        img = base + (yy / h - 0.5)[..., None] * gy + (xx / w - 0.5)[..., None] * gx
    else:
        img = np.broadcast_to(base, (h, w, 3)).copy()
        for _ in range(int(rng.integers(2, 4))):
            period = rng.uniform(0.75, 4.0) * max(h, w)
            angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
            amp = rng.uniform(5, 60, size=3) if rng.random() < 0.5 else np.full(3, rng.uniform(5, 60))  # or grey
            wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
            img += wave[..., None] * amp
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


class ImageFolderSR(Dataset):
    """SR pairs ``(lr, hr)`` cut from the images of a folder (see the module docstring).

    Args:
        root: the folder of images.
        scale: integer SR factor (>= 1).
        patch_size: HR patch side, a multiple of ``scale``; None for full images (val).
        split: "train" (random crops, augmentation) or "val" / "test" (one centre crop or full image each).
        files: image names relative to ``root`` (default: every PNG / JPEG in it).
        augment: flips (default: for split "train" only).
        seed: base seed of the per-sample generators (None: a fresh draw from torch's generator).
        samples_per_image: samples per image and epoch (default 32 for train, 1 otherwise).
        quantize: round the LR to 8 bits.
        weighting: "equal" (each image gets ``samples_per_image`` samples) or "area" (the epoch's
            ``images x samples_per_image`` samples are shared out in proportion to the images' pixel
            counts, at least one each, so every pixel is about equally likely to be seen: a 4-megapixel
            photograph is not sampled as often as a 300x400 one).
        smooth_prob: train only: the probability that a sample is a synthetic smooth image instead of a
            crop (a flat colour, a linear gradient or a few low sinusoids, 8-bit): the model learns to
            add nothing where there is nothing to add (see :func:`smooth_image`).
        blur_prob: train only: the probability that a sample's HR crop is motion-blurred (a straight blur
            of 3 to 15 pixels at a random angle) before the LR is made from it. The pair stays consistent
            (the target is the blurred crop): the model learns that blurred edges stay blurred, instead
            of sharpening them into a scale-periodic pattern.
    """

    def __init__(self, root, scale: int = 4, patch_size: Optional[int] = 96, split: str = "train",
                 files: Optional[Sequence[str]] = None, augment: Optional[bool] = None, seed: Optional[int] = 0,
                 samples_per_image: Optional[int] = None, quantize: bool = False, weighting: str = "equal",
                 blur_prob: float = 0.0, smooth_prob: float = 0.0):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        if patch_size is not None:
            if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
                raise ValueError(f"patch_size must be a positive integer or None, got {patch_size!r}")
            if patch_size % scale:
                raise ValueError(f"patch_size {patch_size} is not a multiple of scale {scale}")
        if split == "train" and patch_size is None:
            raise ValueError("split 'train' needs a patch_size (full images are for validation)")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such image folder: {self.root}")
        names = list_images(self.root) if files is None else [str(f) for f in files]
        if not names:
            raise FileNotFoundError(f"no PNG / JPEG images in {self.root} "
                                    f"(write some with inter4k.data.images.write_skimage_images)")
        missing = [n for n in names if not (self.root / n).is_file()]
        if missing:
            raise FileNotFoundError(f"images missing from {self.root}: {', '.join(missing[:8])}")
        self.files = names
        self.scale = int(scale)
        self.patch_size = None if patch_size is None else int(patch_size)
        self.split = split
        self.train = split == "train"
        self.augment = self.train if augment is None else bool(augment)
        if samples_per_image is None:
            samples_per_image = DEFAULT_SAMPLES_PER_IMAGE if self.train else 1
        if samples_per_image < 1:
            raise ValueError(f"samples_per_image must be >= 1, got {samples_per_image}")
        self.samples_per_image = int(samples_per_image)
        if weighting not in ("equal", "area"):
            raise ValueError(f"weighting must be 'equal' or 'area', got {weighting!r}")
        if not 0.0 <= float(blur_prob) <= 1.0:
            raise ValueError(f"blur_prob must lie in [0, 1], got {blur_prob!r}")
        if not 0.0 <= float(smooth_prob) <= 1.0:
            raise ValueError(f"smooth_prob must lie in [0, 1], got {smooth_prob!r}")
        self.weighting = weighting
        self.blur_prob = float(blur_prob)
        self.smooth_prob = float(smooth_prob)
        self.seed = seed
        self.quantize = bool(quantize)
        self.epoch = 0
        self._cache: dict[int, np.ndarray] = {}
        self._sizes: dict[int, tuple[int, int]] = {}
        if self.patch_size is not None:
            for i in range(len(self.files)):  # fail early on an image smaller than the patch
                self.size(i)
        self._starts = self._allot()

    def _allot(self) -> np.ndarray:
        """The first sample index of each image (and the total at the end)."""
        n = len(self.files)
        if self.weighting == "equal":
            counts = np.full(n, self.samples_per_image)
        else:
            areas = np.array([float(np.prod(self.size(i))) for i in range(n)])
            total = n * self.samples_per_image
            counts = np.maximum(1, np.floor(areas / areas.sum() * total)).astype(np.int64)
        return np.concatenate([[0], np.cumsum(counts)])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def set_epoch(self, epoch: int) -> None:
        """Mix ``epoch`` into the seed so each epoch draws new crops (reproducibly)."""
        self.epoch = int(epoch)

    def path(self, image: int) -> Path:
        return self.root / self.files[image]

    def image(self, image: int) -> np.ndarray:
        """Image ``image`` (an index into :attr:`files`) as (H, W, 3) uint8, decoded on first use and kept (per
        process: each DataLoader worker decodes the images it is asked for)."""
        img = self._cache.get(image)
        if img is None:
            img = read_rgb(self.path(image))
            if tuple(img.shape[:2]) != self.size(image):  # the plans were made with the header's size
                h, w = self.size(image)
                raise ValueError(f"{self.path(image)}: its header says {w}x{h}, but it decodes to "
                                 f"{img.shape[1]}x{img.shape[0]} (a damaged file?)")
            self._cache[image] = img
        return img

    def size(self, image: int) -> tuple[int, int]:
        """(height, width) of an image, read from its header (:func:`image_size`, no decoding) and checked against
        the patch size."""
        hw = self._sizes.get(image)
        if hw is None:
            hw = self._sizes[image] = image_size(self.path(image))
        p = self.patch_size
        if p is not None and (p > hw[0] or p > hw[1]):
            raise ValueError(f"patch_size {p} is larger than {self.path(image)} ({hw[1]}x{hw[0]})")
        return hw

    def _rng(self, index: int) -> np.random.Generator:
        return sample_rng(self.seed, self.epoch, index)

    def plan(self, index: int) -> dict:
        """What sample ``index`` is: image, crop corner (y, x) and size, flips."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        index %= len(self)
        image = int(np.searchsorted(self._starts, index, side="right")) - 1
        h, w = self.size(image)
        a = self.scale
        rng = self._rng(index) if (self.train or self.augment) else None
        y, x, ph, pw = crop_window(h, w, self.patch_size, a, rng if self.train else None)
        hflip = vflip = False
        if self.augment:
            hflip, vflip = (bool(v) for v in rng.integers(0, 2, size=2))
        blur = None
        if self.train and self.blur_prob > 0 and rng.random() < self.blur_prob:
            blur = (int(rng.integers(3, 16)), float(rng.uniform(0, 180)))
        plan = dict(image=image, file=self.files[image], y=y, x=x, height=ph, width=pw, hflip=hflip, vflip=vflip,
                    blur=blur)
        if self.train and self.smooth_prob > 0 and rng.random() < self.smooth_prob:
            plan["smooth"] = int(rng.integers(0, 2**31))
        return plan

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        plan = self.plan(index)
        img = self.image(plan["image"])
        y, x = plan["y"], plan["x"]
        crop = img[y:y + plan["height"], x:x + plan["width"]]
        if plan.get("smooth") is not None:
            crop = smooth_image(plan["height"], plan["width"], np.random.default_rng(plan["smooth"]))
        if plan.get("blur") is not None:
            crop = motion_blur(crop, *plan["blur"])
        hr = to_tensor(crop)
        dims = [d for d, on in ((-2, plan["vflip"]), (-1, plan["hflip"])) if on]
        if dims:
            hr = hr.flip(dims).contiguous()
        return bicubic_lr(hr, self.scale, self.quantize), hr

    def __getstate__(self):  # do not pickle decoded images into DataLoader workers
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state
