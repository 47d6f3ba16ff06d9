"""Frame-interpolation clips with real motion, made on the fly from still photographs.

    ds = SyntheticMotionVFI()                                   # scikit-image's photos, split "train"
    inputs, targets, t = ds[0]                                  # (2,3,256,256), (1,3,256,256), (1,) for 30to60
    ds = SyntheticMotionVFI("photos", mode="8x", patch_size=128)  # the PNG / JPEG files of a folder
    ds = SyntheticMotionVFI([img0, img1], split="val")          # (H, W, 3) uint8 arrays
    ds = SyntheticMotionVFI(corpus / "train", realism="real")   # + blur, noise, H.264, non-rigid motion ...

Each sample is a short clip of ``span + 1`` frames (span = 2, 4, 8 for "30to60", "15to60", "8x",
as :data:`inter4k.data.datasets.VFI_SPANS`) at the normalised times ``tau = k / span``; frames 0 and
``span`` are the inputs, the others the targets, in the format of
:class:`~inter4k.data.datasets.Inter4KVFI`: inputs ``(2, 3, P, P)``, targets ``(span - 1, 3, P, P)``,
timesteps ``(span - 1,)`` = ``k / span``, float32 in [0, 1]. Every frame is *rendered* at its exact
time, so the targets are the true intermediate frames of the motion, not an approximation.

The motion (drawn per sample, see :meth:`SyntheticMotionVFI.plan`) with ``realism="rigid"`` (the default);
``realism="real"`` or a :class:`~inter4k.data.realism.Realism` changes the ranges (displacements up to
64 px at 1080p, more and larger layers) and adds non-rigid fields, motion blur, brightness changes,
sensor noise and H.264, each described in :mod:`inter4k.data.realism`:

- **Camera**: a view of a background photograph whose centre moves at constant velocity (a pan,
  sub-pixel; up to ``max_speed`` output pixels per 60 fps frame, any direction), whose zoom changes
  linearly in time about the view centre (``zoom``; with probability 1/2, up to 1 % per frame) and
  whose angle changes linearly (``rotation``; with probability 1/2, up to 0.5 degrees per frame, from a
  random tilt of up to 10 degrees). The view always stays inside the photograph (the zoom is raised
  for small photographs, the pan shortened if it would leave it), so no border is ever invented.
- **Objects**: ``objects = (lo, hi)`` (default 1 to 3) patches cut from other photographs, each with a
  soft-edged blob mask (:func:`object_mask`, values in [0, 1]), moving on their own straight line at
  constant velocity (up to 1.5 ``max_speed`` px per frame) in front of the background, composited in
  order: ``frame = mask * object + (1 - mask) * frame``.
- **Rendering**: ``cv2.warpAffine`` with the inverse map of each frame's affine transform, bicubic
  (``interpolation="cubic"``, default) or bilinear, in float32; the object masks are warped
  bilinearly (so they stay in [0, 1]). Frames are clamped to [0, 1] and, with ``quantize=True``
  (default), rounded to 8 bits as decoded video is.

**True flows** (``with_flows=True``): each sample also returns ``flows`` (span - 1, 4, P, P) float32,
for every target time t = k / span the backward flows ``F_t->0`` (channels 0, 1) and ``F_t->1``
(channels 2, 3) in output pixels, x then y as :func:`inter4k.models.vfi.backward_warp` takes them:
``F_t->0(x)`` = (where the scene point seen at pixel x of frame t is in frame 0) - x, so
``backward_warp(frame0, F_t->0)`` approximates frame t wherever that point is visible in frame 0.
The background's flow composes the frames' affine camera maps exactly (:meth:`SyntheticMotionVFI.flows`);
an object's is its own translation, used where its mask at time t is > 0.5 (a later object wins,
as in compositing); a layer with a non-rigid field adds the field, inverted exactly for ``F_t->1``
(:func:`~inter4k.data.realism.invert_field`). Occlusions are not marked: a flow points where the point
*is*, visible or not, so forward and backward flows disagree where a point is hidden in the other
frame (:meth:`SyntheticMotionVFI.flow` gives the flow between any two instants). With motion blur the
flows are those of each frame's own instant, the middle of its exposure.

**Randomness**: a training sample ``i`` draws from ``numpy.random.default_rng([seed, epoch, i])``
(:meth:`set_epoch`, as the other datasets); a val / test sample from ``default_rng([seed, stream, i])``
with a stream number of its own (:data:`EVAL_STREAMS`), the same in every epoch and never equal to a
training draw. The realism effects draw from a second generator, the same key followed by 1. Sample ``i``'s background is photograph ``i % len(images)``.

**Photographs** (``images=None``): scikit-image's bundled photographs, nothing downloaded, split as
the bundled SR weights are (:data:`PHOTO_SPLITS`): train :data:`TRAIN_PHOTOS`, val
:data:`VAL_PHOTOS` (rocket, moved out of the training list), test :data:`TEST_PHOTOS` (astronaut,
coffee, the left view of stereo_motorcycle, clock, text: held out, never trained on). Greyscale
photographs are used as RGB with R = G = B.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from .datasets import VFI_SPANS, sample_rng, split_vfi
from .realism import (MAX_SUBFRAMES, REFERENCE_HEIGHT, Realism, field_at, h264_roundtrip, invert_field,
                      random_field, resolve_realism, sensor_noise)

SPLITS = ("train", "val", "test")
TRAIN_PHOTOS = ("chelsea", "immunohistochemistry", "hubble_deep_field", "retina",
                "camera", "brick", "grass", "gravel", "coins", "moon", "page")
VAL_PHOTOS = ("rocket",)
TEST_PHOTOS = ("astronaut", "coffee", "stereo_motorcycle", "clock", "text")
PHOTO_SPLITS = {"train": TRAIN_PHOTOS, "val": VAL_PHOTOS, "test": TEST_PHOTOS}
# Seed streams of the fixed val / test samples (training draws use the epoch there, a small number).
EVAL_STREAMS = {"val": 2 ** 31 + 1, "test": 2 ** 31 + 2}
DEFAULT_TRAIN_SAMPLES = 32   # per image and epoch
DEFAULT_EVAL_SAMPLES = 4     # per image (at least MIN_EVAL_SAMPLES in all)
MIN_EVAL_SAMPLES = 8
INTERPOLATIONS = ("cubic", "linear")
_MARGIN = 3.0        # source pixels kept free around a view (the bicubic kernel reaches 2)
_MAX_TILT = 10.0     # degrees, the random tilt of a view with rotation on
_ROTATE_RATE = 0.5   # degrees per frame, at most
_ZOOM_RATE = 0.01    # relative zoom change per frame, at most
_ZOOM_RANGE = (0.8, 1.25)
_OBJECT_SPEED = 1.5  # x max_speed
_EFFECTS_STREAM = 1  # the realism draws come from a generator of their own (see SyntheticMotionVFI.plan)


def load_photo(name: str) -> np.ndarray:
    """scikit-image's bundled photograph ``name`` as (H, W, 3) uint8 RGB (greyscale repeated to RGB,
    alpha dropped, the left view of a stereo pair). Nothing is downloaded."""
    import skimage.data

    if name.startswith("_") or name not in getattr(skimage.data, "__all__", dir(skimage.data)):
        raise ValueError(f"skimage.data has no image {name!r}; the photographs used here: "
                         f"{', '.join(TRAIN_PHOTOS + VAL_PHOTOS + TEST_PHOTOS)}")
    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
        img = img[0]
    return as_rgb_uint8(np.asarray(img), name)


def as_rgb_uint8(img: np.ndarray, what: str = "image") -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 (or float in [0, 1]) -> (H, W, 3) uint8."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.floating):
            raise TypeError(f"{what}: expected uint8 or float values in [0, 1], got {img.dtype}")
        img = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f"{what}: expected an (H, W) or (H, W, 1 | 3 | 4) image, got shape {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"{what}: an image of {img.shape[1]}x{img.shape[0]} is too small")
    return np.ascontiguousarray(img[:, :, :3])


def object_mask(height: int, width: int, feather: float = 3.0, harmonics: Sequence[tuple] = (),
                margin: float = _MARGIN) -> np.ndarray:
    """A soft-edged blob filling an ``height x width`` box: (height, width) float32 in [0, 1].

    The blob is an ellipse whose radius is modulated by ``1 + sum a cos(k theta + phase)`` for each
    ``(k, a, phase)`` of ``harmonics`` (none: a plain ellipse), scaled so that it stays ``margin``
    pixels inside the box; its edge ramps from 1 to 0 over about ``feather`` pixels. The mask is 0
    on the box border, so a warped object has no hard edge.

    Example:
        >>> m = object_mask(9, 13, feather=2.0, margin=1.0)
        >>> m.shape, float(m.min()), float(m.max()), float(m[4, 6])
        ((9, 13), 0.0, 1.0, 1.0)
    """
    if height < 1 or width < 1:
        raise ValueError(f"object_mask: the box must be at least 1x1, got {width}x{height}")
    if feather <= 0:
        raise ValueError(f"object_mask: feather must be > 0, got {feather}")
    rmax = 1.0 + sum(abs(a) for _, a, _ in harmonics)
    ry = max((height - 1) / 2.0 - margin, 0.5) / rmax
    rx = max((width - 1) / 2.0 - margin, 0.5) / rmax
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    dy, dx = (y - (height - 1) / 2.0) / ry, (x - (width - 1) / 2.0) / rx
    rho = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    radius = np.ones_like(rho)
    for k, a, phase in harmonics:
        radius += a * np.cos(k * theta + phase)
    d = rho / radius  # < 1 inside the blob
    mask = np.clip((1.0 - d) * min(rx, ry) / feather, 0.0, 1.0)
    return mask.astype(np.float32)


def camera_matrix(center: Sequence[float], zoom: float, angle: float, patch: int) -> np.ndarray:
    """The 2x3 map from output (view) pixels to source pixels: the view's centre pixel
    ``((P-1)/2, (P-1)/2)`` shows source point ``center`` (x, y); ``zoom`` output pixels per source
    pixel; rotated by ``angle`` degrees as ``cv2.getRotationMatrix2D`` rotates (counter-clockwise on
    screen). Pixel centres are at integer coordinates (OpenCV's convention)."""
    a = math.radians(angle)
    c, s = math.cos(a) / zoom, math.sin(a) / zoom
    m = (patch - 1) / 2.0
    lin = np.array([[c, -s], [s, c]])
    shift = np.asarray(center, dtype=np.float64) - lin @ np.array([m, m])
    return np.concatenate([lin, shift[:, None]], axis=1)


def _lerp(a: Sequence[float], b: Sequence[float], tau: float) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a + (b - a) * tau


def _camera_at(cam: dict, tau: float, patch: int) -> np.ndarray:
    """The camera's 2x3 view -> source map at time ``tau`` (what :meth:`SyntheticMotionVFI.render` warps with)."""
    zoom = float(_lerp([cam["zoom"][0]], [cam["zoom"][1]], tau)[0])
    angle = float(_lerp([cam["angle"][0]], [cam["angle"][1]], tau)[0])
    return camera_matrix(_lerp(cam["center"][0], cam["center"][1], tau), zoom, angle, patch)


def _affine_flow(src_from_t: np.ndarray, src_from_ref: np.ndarray, patch: int) -> np.ndarray:
    """(2, P, P) flow of every pixel x of a view: ``ref_map^-1(t_map(x)) - x``, (x, y) channels."""
    t3 = np.vstack([src_from_t, [0.0, 0.0, 1.0]])
    r3 = np.vstack([src_from_ref, [0.0, 0.0, 1.0]])
    ref_from_t = np.linalg.solve(r3, t3)[:2]  # compose exactly: view t -> source -> view ref
    ys, xs = np.mgrid[0:patch, 0:patch].astype(np.float64)
    mapped_x = ref_from_t[0, 0] * xs + ref_from_t[0, 1] * ys + ref_from_t[0, 2]
    mapped_y = ref_from_t[1, 0] * xs + ref_from_t[1, 1] * ys + ref_from_t[1, 2]
    return np.stack([mapped_x - xs, mapped_y - ys])


def _layer_map(plan: dict, layer: Optional[int], tau: float) -> np.ndarray:
    """The 2x3 view -> layer map at ``tau`` of the background (``layer`` None: the camera) or of object
    ``layer`` (a translation to its texture box)."""
    if layer is None:
        return _camera_at(plan["camera"], tau, int(plan["patch"]))
    corner = _lerp(plan["objects"][layer]["start"], plan["objects"][layer]["end"], tau)
    return np.array([[1.0, 0.0, -corner[0]], [0.0, 1.0, -corner[1]]])


def _layer_points(affine: np.ndarray, field, tau: float, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """The layer point shown at every view pixel: ``K_tau(A x)`` with ``K_tau(u) = u + tau D(u)`` (float64)."""
    ys, xs = np.mgrid[0:patch, 0:patch].astype(np.float64)
    x = affine[0, 0] * xs + affine[0, 1] * ys + affine[0, 2]
    y = affine[1, 0] * xs + affine[1, 1] * ys + affine[1, 2]
    if field is not None and tau != 0:
        dx, dy = field_at(field, x, y)
        x, y = x + tau * dx, y + tau * dy
    return x, y


def _layer_flow(plan: dict, layer: Optional[int], tau_from: float, tau_to: float) -> np.ndarray:
    """(2, P, P): where the layer point seen at each pixel of the frame at ``tau_from`` is in the frame at
    ``tau_to``, minus the pixel (exact: affine maps composed, a non-rigid field inverted to float64
    precision)."""
    p = int(plan["patch"])
    a_from, a_to = _layer_map(plan, layer, tau_from), _layer_map(plan, layer, tau_to)
    field = (plan["camera"] if layer is None else plan["objects"][layer]).get("field")
    if field is None:
        return _affine_flow(a_from, a_to, p)
    x, y = _layer_points(a_from, field, tau_from, p)
    if tau_to != 0:
        x, y = invert_field(field, tau_to, x, y)
    inv = np.linalg.inv(np.vstack([a_to, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:p, 0:p].astype(np.float64)
    return np.stack([inv[0, 0] * x + inv[0, 1] * y + inv[0, 2] - xs, inv[1, 0] * x + inv[1, 1] * y + inv[1, 2] - ys])


def _clip_motion(plan: dict, zoom: float) -> float:
    """An upper bound of how far any pixel's content moves over the clip (tau 0 -> 1), in output pixels."""
    cam, p = plan["camera"], int(plan["patch"])
    pan = float(np.hypot(*np.subtract(cam["center"][1], cam["center"][0]))) * zoom
    turn = math.radians(abs(cam["angle"][1] - cam["angle"][0])) * p / math.sqrt(2)
    scale = abs(cam["zoom"][1] - cam["zoom"][0]) / zoom * p / math.sqrt(2)
    moves = [pan + turn + scale + _field_size(cam.get("field")) * zoom]
    moves += [float(np.hypot(*np.subtract(ob["end"], ob["start"]))) + _field_size(ob.get("field"))
              for ob in plan["objects"]]
    return max(moves)


def _field_size(field) -> float:
    """The largest displacement of a :func:`~inter4k.data.realism.random_field` (0 for None)."""
    return 0.0 if field is None else float(np.sum(np.hypot(np.asarray(field)[:, 2], np.asarray(field)[:, 3])))


class SyntheticMotionVFI(Dataset):
    """VFI samples ``(inputs, targets, timesteps)`` of synthetic camera and object motion over still
    photographs (see the module docstring).

    Args:
        images: a folder of PNG / JPEG files, a list of (H, W[, C]) arrays (uint8, or float in [0, 1]),
            or None for scikit-image's photographs of ``split`` (:data:`PHOTO_SPLITS`).
        mode: "30to60", "15to60" or "8x" (the span between the two inputs).
        patch_size: the side P of the square frames.
        samples: samples per epoch (default 32 per image for "train", else 4 per image, at least 8).
        seed: base seed of the per-sample generators.
        split: "train" (new motion every epoch) or "val" / "test" (fixed samples).
        objects: (lo, hi): each clip has lo..hi moving objects (inclusive).
        max_speed: the fastest pan, in output pixels per 60 fps frame.
        zoom, rotation: allow zooming / rotating cameras.
        quantize: round the frames to 8 bits.
        interpolation: "cubic" or "linear" (the warps of the background and of the objects).
        with_flows: also return each sample's true backward flows (see the module docstring): samples
            are then ``(inputs, targets, timesteps, flows)``.
        realism: "rigid" (default: the motion above and nothing else), "real" (large displacements,
            more layers, non-rigid motion, motion blur, brightness changes, sensor noise, H.264), or a
            :class:`~inter4k.data.realism.Realism` with single knobs (see :mod:`inter4k.data.realism`).
    """

    def __init__(self, images: Union[str, Path, Sequence[np.ndarray], None] = None, mode: str = "30to60",
                 patch_size: int = 256, samples: Optional[int] = None, seed: int = 0, split: str = "train",
                 objects: tuple[int, int] = (1, 3), max_speed: float = 6.0, zoom: bool = True,
                 rotation: bool = True, quantize: bool = True, interpolation: str = "cubic",
                 with_flows: bool = False, realism: Union[str, Realism, None] = "rigid"):
        if mode not in VFI_SPANS:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(VFI_SPANS)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 8:
            raise ValueError(f"patch_size must be an integer >= 8, got {patch_size!r}")
        lo, hi = (int(v) for v in objects)
        if not 0 <= lo <= hi:
            raise ValueError(f"objects must be (lo, hi) with 0 <= lo <= hi, got {objects!r}")
        if not (isinstance(max_speed, (int, float)) and math.isfinite(max_speed) and max_speed >= 0):
            raise ValueError(f"max_speed must be a finite number >= 0, got {max_speed!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {interpolation!r}; choose from {', '.join(INTERPOLATIONS)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.mode, self.span, self.split = mode, VFI_SPANS[mode], split
        self.patch_size = int(patch_size)
        self.seed, self.epoch = int(seed), 0
        self.objects = (lo, hi)
        self.max_speed = float(max_speed)
        self.zoom, self.rotation = bool(zoom), bool(rotation)
        self.quantize = bool(quantize)
        self.interpolation = interpolation
        self.with_flows = bool(with_flows)
        self.realism = resolve_realism(realism)
        self._cache: dict[int, np.ndarray] = {}
        self._arrays: Optional[list[np.ndarray]] = None
        self._folder: Optional[Path] = None
        self._photos: Optional[tuple[str, ...]] = None
        if images is None:
            self._photos = PHOTO_SPLITS[split]
            self.names = list(self._photos)
        elif isinstance(images, (str, Path)):
            from .images import list_images

            folder = Path(images).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(f"no such image folder: {folder}")
            self.names = list_images(folder)
            if not self.names:
                raise FileNotFoundError(f"no PNG / JPEG images in {folder}")
            self._folder = folder
        else:
            self._arrays = [as_rgb_uint8(a, f"images[{i}]") for i, a in enumerate(images)]
            if not self._arrays:
                raise ValueError("images is an empty list")
            self.names = [f"array {i}" for i in range(len(self._arrays))]
        n = len(self.names)
        if samples is None:
            samples = DEFAULT_TRAIN_SAMPLES * n if split == "train" else max(MIN_EVAL_SAMPLES, DEFAULT_EVAL_SAMPLES * n)
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        self.samples = int(samples)

    # -- images ----------------------------------------------------------------------------------
    def image(self, i: int) -> np.ndarray:
        """Photograph ``i`` as (H, W, 3) float32 in [0, 1] (decoded once per process)."""
        img = self._cache.get(i)
        if img is None:
            if self._arrays is not None:
                raw = self._arrays[i]
            elif self._folder is not None:
                from .images import read_rgb

                raw = read_rgb(self._folder / self.names[i])
            else:
                raw = load_photo(self.names[i])
            img = raw.astype(np.float32) / 255.0
            self._cache[i] = img
        return img

    def __getstate__(self):  # do not pickle decoded photographs into DataLoader workers
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    # -- samples ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.samples

    def set_epoch(self, epoch: int) -> None:
        """Mix ``epoch`` into the seed so each epoch draws new motion (training split only)."""
        self.epoch = int(epoch)

    def timesteps(self) -> torch.Tensor:
        return torch.arange(1, self.span, dtype=torch.float32) / self.span

    def _rng(self, index: int, stream: int = 0) -> np.random.Generator:
        """Sample ``index``'s generator: the motion's (``stream`` 0) or the realism effects' (1)."""
        if self.split == "train":
            key = [self.seed, self.epoch, int(index)]
        else:
            key = [self.seed, EVAL_STREAMS[self.split], int(index)]
        return sample_rng(*key) if stream == 0 else np.random.default_rng(key + [stream])

    def plan(self, index: int) -> dict:
        """What sample ``index`` is: the background photograph and the camera's path, and each object
        (source photograph, box, mask shape, path), and the realism effects. Times are normalised:
        ``tau`` = 0 at the first input, 1 at the second; positions are in pixels (x, y).

        ``camera``: ``center`` (source point at the view centre) at tau 0 and 1, ``zoom`` (output px
        per source px) at tau 0 and 1, ``angle`` (degrees) at tau 0 and 1; each linear in tau; ``field``
        (None, or a non-rigid :func:`~inter4k.data.realism.random_field` in source pixels).
        ``objects[j]``: ``image``, ``box`` (y, x, h, w) in it, ``feather`` and ``harmonics`` of the
        mask, ``start`` (the box's top-left in the view at tau 0) and ``end`` (at tau 1), ``field``
        (None or a field in texture pixels).
        ``effects``: ``shutter`` (exposure / frame interval; 0: no blur), ``subframes`` (renders per
        frame), ``gain`` ((g0, g1) log gains at tau 0 and 1, or None), ``noise`` ((read, shot) sigmas,
        or None), ``noise_seed``, ``crf`` (None: not compressed). ``still``: True for a still scene
        (``realism.still``): the camera's and every object's values at tau 1 are those at tau 0, no
        fields, no blur.

        The motion is drawn from the sample's generator exactly as with ``realism="rigid"`` (the same
        number of draws; "real" only changes ranges); the effects come from a second generator of
        their own, and each of their values is drawn whether or not the effect is on, so switching one
        effect off leaves the rest of the sample as it was.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        index %= len(self)
        rng, fx, real = self._rng(index), self._rng(index, _EFFECTS_STREAM), self.realism
        n, p, span = len(self.names), self.patch_size, self.span
        bg = index % n
        h, w = self.image(bg).shape[:2]
        blurred = fx.random() < real.blur
        shutter = float(fx.uniform(*real.shutter))
        shutter = shutter if blurred else 0.0
        reach = shutter / (2 * span)  # the exposure reaches this far (tau) either side of a frame
        # angle and zoom at tau 0 and 1
        tilt = float(rng.uniform(-_MAX_TILT, _MAX_TILT)) if self.rotation else 0.0
        turn = float(rng.uniform(-1, 1)) * _ROTATE_RATE * span if self.rotation and rng.random() < 0.5 else 0.0
        angles = (tilt, tilt + turn)
        z0 = math.exp(rng.uniform(math.log(_ZOOM_RANGE[0]), math.log(_ZOOM_RANGE[1])))
        z1 = z0 * math.exp(rng.uniform(-1, 1) * _ZOOM_RATE * span) if self.zoom and rng.random() < 0.5 else z0
        # the background's non-rigid field, in source pixels (1080p pixels -> source: min(h, w) / 1080)
        per_ref = min(h, w) / REFERENCE_HEIGHT
        bg_field = self._field(fx, real.nonrigid_amplitude * per_ref, (p - 1) / ((z0 + z1) / 2))
        margin = _MARGIN + _field_size(bg_field)
        fit_taus = np.array([-reach, 1 + reach])  # the first and last instants any frame sees
        fit_angles = angles[0] + (angles[1] - angles[0]) * fit_taus
        spread = max(abs(math.cos(math.radians(a))) + abs(math.sin(math.radians(a))) for a in fit_angles)
        fit = ((p - 1) * spread + 2 * margin) / (min(h, w) - 1)  # the smallest zoom whose view fits
        zmin = float(np.min(z0 + (z1 - z0) * fit_taus))
        if zmin < fit:
            z0, z1 = z0 * fit / zmin, z1 * fit / zmin
        zmean = (z0 + z1) / 2
        frame_scale = zmean * per_ref  # output pixels per 1080p pixel
        # the pan: constant velocity, shortened until the whole path stays inside the photograph
        if real.max_displacement is None:
            speed = float(rng.uniform(0, self.max_speed)) * span / zmean  # source px over the clip
        else:
            speed = float(rng.uniform(0, real.max_displacement * frame_scale)) / zmean
        direction = float(rng.uniform(0, 2 * math.pi))
        vel = np.array([math.cos(direction), math.sin(direction)]) * speed
        taus = np.arange(span + 1) / span
        if reach:
            taus = np.concatenate([taus, fit_taus])
        zooms = z0 + (z1 - z0) * taus
        angs = np.radians(angles[0] + (angles[1] - angles[0]) * taus)
        half = (p - 1) / 2 * (np.abs(np.cos(angs)) + np.abs(np.sin(angs))) / zooms + margin
        for _ in range(60):
            lo = np.max(half[:, None] - vel[None, :] * taus[:, None], axis=0)
            hi = np.min(np.array([w - 1, h - 1])[None, :] - half[:, None] - vel[None, :] * taus[:, None], axis=0)
            if np.all(lo <= hi):
                break
            vel = vel * 0.8
        else:
            vel = np.zeros(2)
            lo, hi = half.max() * np.ones(2), np.array([w - 1, h - 1]) - half.max()
        c0 = lo + (hi - lo) * rng.random(2)
        camera = {"image": bg, "center": (tuple(float(v) for v in c0), tuple(float(v) for v in c0 + vel)),
                  "zoom": (float(z0), float(z1)), "angle": (float(angles[0]), float(angles[1])), "field": bg_field}
        objects = []
        count = real.layers if real.layers is not None else self.objects
        for _ in range(int(rng.integers(count[0], count[1] + 1))):
            src = int(rng.integers(n - 1)) if n > 1 else 0
            src = src + (src >= bg) if n > 1 else 0  # another photograph than the background's
            sh, sw = self.image(src).shape[:2]
            oh = int(min(sh, max(8, round(p * rng.uniform(*real.layer_size)))))
            ow = int(min(sw, max(8, round(p * rng.uniform(*real.layer_size)))))
            oy, ox = int(rng.integers(sh - oh + 1)), int(rng.integers(sw - ow + 1))
            feather = float(rng.uniform(1.5, 4.0))
            harmonics = [(k, float(rng.uniform(0, 0.12)), float(rng.uniform(0, 2 * math.pi))) for k in (2, 3, 4)]
            mid = rng.uniform(0, p, size=2) - np.array([ow, oh]) / 2  # the box's corner at tau 0.5
            if real.max_displacement is None:
                ospeed = float(rng.uniform(0, _OBJECT_SPEED * self.max_speed)) * span
            else:
                ospeed = float(rng.uniform(0, real.max_displacement * frame_scale))
            odir = float(rng.uniform(0, 2 * math.pi))
            ov = np.array([math.cos(odir), math.sin(odir)]) * ospeed
            objects.append({"image": src, "box": (oy, ox, oh, ow), "feather": feather, "harmonics": harmonics,
                            "start": tuple(float(v) for v in mid - ov / 2),
                            "end": tuple(float(v) for v in mid + ov / 2)})
        for ob in objects:  # texture pixels are output pixels
            ob["field"] = self._field(fx, real.nonrigid_amplitude * frame_scale, float(max(ob["box"][2:])))
        plan = {"index": index, "span": span, "patch": p, "camera": camera, "objects": objects}
        plan["effects"] = self._effects(fx, shutter, _clip_motion(plan, zmean))
        # a still scene: drawn last, so every other value of the sample is what it is without the knob
        still = bool(fx.random() < real.still)
        if still:
            camera.update(center=(camera["center"][0],) * 2, zoom=(camera["zoom"][0],) * 2,
                          angle=(camera["angle"][0],) * 2, field=None)
            for ob in objects:
                ob.update(end=ob["start"], field=None)
            plan["effects"].update(shutter=0.0, subframes=1)   # no motion, nothing to blur
        plan["still"] = still
        return plan

    def _field(self, fx: np.random.Generator, amplitude: float, scale: float):
        """A non-rigid field with probability ``realism.nonrigid`` (else None), up to ``amplitude`` px."""
        on = fx.random() < self.realism.nonrigid
        field = random_field(fx, float(fx.uniform(0, amplitude)), scale)
        return field if on else None

    def _effects(self, fx: np.random.Generator, shutter: float, motion: float) -> dict:
        real = self.realism
        during = motion * shutter / self.span  # px the fastest content moves during one exposure
        subframes = min(MAX_SUBFRAMES, 2 * math.ceil(during) + 1) if shutter > 0 else 1
        lit, gain = fx.random() < real.brightness, tuple(float(v) for v in fx.uniform(-1, 1, 2) * real.gain_change)
        noisy, noise = fx.random() < real.noise, (float(fx.uniform(*real.read_noise)), float(fx.uniform(*real.shot_noise)))
        coded, crf = fx.random() < real.compression, int(fx.integers(real.crf[0], real.crf[1] + 1))
        return {"shutter": shutter, "subframes": int(subframes), "gain": gain if lit else None,
                "noise": noise if noisy else None, "noise_seed": int(fx.integers(2 ** 62)), "crf": crf if coded else None}

    def _textures(self, plan: dict) -> list[tuple]:
        """(image, texture mask or None, layer, field) of the background and of each object, in compositing order."""
        cam = plan["camera"]
        layers = [(self.image(cam["image"]), None, None, cam.get("field"))]
        for j, ob in enumerate(plan["objects"]):
            y, x, oh, ow = ob["box"]
            texture = np.ascontiguousarray(self.image(ob["image"])[y:y + oh, x:x + ow])
            layers.append((texture, object_mask(oh, ow, ob["feather"], ob["harmonics"]), j, ob.get("field")))
        return layers

    def _composite(self, plan: dict, layers: list[tuple], tau: float) -> tuple[np.ndarray, np.ndarray]:
        """The scene at ``tau``, unclipped (P, P, 3) float32, and the objects' masks (n, P, P)."""
        import cv2

        p = int(plan["patch"])
        interp = cv2.INTER_CUBIC if self.interpolation == "cubic" else cv2.INTER_LINEAR

        def warp(img, affine, points, flags, border):
            if points is None:
                return cv2.warpAffine(img, affine, (p, p), flags=flags | cv2.WARP_INVERSE_MAP, borderMode=border,
                                      borderValue=0.0)
            return cv2.remap(img, points[0], points[1], flags, borderMode=border, borderValue=0.0)

        masks = np.zeros((len(layers) - 1, p, p), dtype=np.float32)
        frame = None
        for img, mask, j, field in layers:
            affine = _layer_map(plan, j, tau)
            points = None  # warpAffine where the map is affine; a remap through the non-rigid field otherwise
            if field is not None and tau != 0:
                points = tuple(c.astype(np.float32) for c in _layer_points(affine, field, tau, p))
            if j is None:
                frame = warp(img, affine, points, interp, cv2.BORDER_REFLECT101)
                continue
            obj = warp(img, affine, points, interp, cv2.BORDER_REPLICATE)
            alpha = np.clip(warp(mask, affine, points, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT), 0.0, 1.0)
            masks[j] = alpha
            frame = alpha[:, :, None] * obj + (1.0 - alpha[:, :, None]) * frame
        return frame, masks

    def render(self, plan: dict, with_masks: bool = False):
        """The ``span + 1`` frames of a plan, (span + 1, 3, P, P) float32 in [0, 1] (and, with
        ``with_masks``, the objects' warped masks (span + 1, n_objects, P, P) in [0, 1], at each frame's
        own instant).

        With realism effects (``plan["effects"]``): each frame averages ``subframes`` renders over its
        exposure, then gets its brightness gain and is clipped to [0, 1]; sensor noise and H.264 then
        make the observed frames, which replace the two inputs (``clean_targets``) or every frame.
        """
        p, span = int(plan["patch"]), int(plan["span"])
        layers = self._textures(plan)
        fx = plan.get("effects") or {}
        shutter, subframes = float(fx.get("shutter", 0.0)), int(fx.get("subframes", 1))
        offsets = np.linspace(-0.5, 0.5, subframes) * shutter / span if subframes > 1 else np.zeros(1)
        frames = np.empty((span + 1, p, p, 3), dtype=np.float32)
        masks = np.zeros((span + 1, len(layers) - 1, p, p), dtype=np.float32)
        for k in range(span + 1):
            tau = k / span
            total = np.zeros((p, p, 3), dtype=np.float64)
            for i, off in enumerate(offsets):
                frame, m = self._composite(plan, layers, tau + float(off))
                total += frame
                if i == len(offsets) // 2:  # the middle render is the frame's own instant
                    masks[k] = m
            frames[k] = total / len(offsets)
        if fx.get("gain") is not None:
            g0, g1 = fx["gain"]
            frames *= np.exp(g0 + (g1 - g0) * np.arange(span + 1) / span).astype(np.float32)[:, None, None, None]
        frames = np.clip(frames, 0.0, 1.0)
        observed = self._observe(frames, fx)
        if self.quantize:
            frames = np.round(frames * 255.0) / 255.0
        if observed is not None:
            if self.realism.clean_targets:
                frames[0], frames[-1] = observed[0], observed[-1]
            else:
                frames = observed
        out = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))
        return (out, torch.from_numpy(masks)) if with_masks else out

    def _observe(self, frames: np.ndarray, fx: dict) -> Optional[np.ndarray]:
        """What the camera and codec record of the (span + 1, P, P, 3) scene frames: sensor noise, then 8
        bits, then H.264 (None when neither effect is on)."""
        if fx.get("noise") is None and fx.get("crf") is None:
            return None
        seen = frames
        if fx.get("noise") is not None:
            seen = sensor_noise(frames, *fx["noise"], np.random.default_rng(fx["noise_seed"]))
        if fx.get("crf") is None:
            return (np.round(seen * 255.0) / 255.0).astype(np.float32) if self.quantize else seen
        coded = h264_roundtrip(np.round(seen * 255.0).astype(np.uint8), fx["crf"], self.realism.preset)
        return coded.astype(np.float32) / 255.0

    def flow(self, plan: dict, tau_from: float, tau_to: float, masks: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The true flow from the frame at ``tau_from`` to the frame at ``tau_to``: (2, P, P) float32, (x, y)
        in output pixels: for every pixel x, where the scene point seen at x (at the frame's own
        instant) is at ``tau_to``, minus x.

        ``masks``: the objects' masks at ``tau_from`` (n_objects, P, P) (rendered when None); the point seen
        at x belongs to the top-most object whose mask there is > 0.5, else to the background. Occlusion
        is not marked: the flow points where the point *is* at ``tau_to``, whether or not it is visible
        there (so forward and backward flows disagree where a point is hidden in the other frame).
        """
        p = int(plan["patch"])
        if masks is None:
            masks = self._composite(plan, self._textures(plan), tau_from)[1]
        masks = np.asarray(torch.as_tensor(masks))
        if masks.shape != (len(plan["objects"]), p, p):
            raise ValueError(f"flow: masks must be (n_objects, P, P) = {(len(plan['objects']), p, p)}, got "
                             f"{tuple(masks.shape)}")
        out = _layer_flow(plan, None, tau_from, tau_to)
        for j in range(len(plan["objects"])):
            inside = masks[j] > 0.5
            if inside.any():
                out[:, inside] = _layer_flow(plan, j, tau_from, tau_to)[:, inside]
        return torch.from_numpy(out.astype(np.float32))

    def flows(self, plan: dict, masks: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The true backward flows of a plan's targets: (span - 1, 4, P, P) float32, for k = 1 .. span - 1
        (t = k / span) ``F_t->0`` in channels 0, 1 and ``F_t->1`` in 2, 3, (x, y) in output pixels
        (:meth:`flow` from t to 0 and to 1).

        ``masks``: the objects' warped masks of :meth:`render` with ``with_masks=True`` (rendered here
        when None). Background: ``M_0^-1 M_t x - x`` with ``M_k`` the camera map of frame k (and
        ``M_span`` for ``F_t->1``), through the non-rigid field when there is one; an object j: its own
        motion where ``masks[k, j] > 0.5``, objects in compositing order (the top-most wins).
        """
        p, span = int(plan["patch"]), int(plan["span"])
        if masks is None:
            masks = self.render(plan, with_masks=True)[1]
        masks = torch.as_tensor(masks)
        if masks.shape != (span + 1, len(plan["objects"]), p, p):
            want = (span + 1, len(plan["objects"]), p, p)
            raise ValueError(f"flows: masks must be (span + 1, n_objects, P, P) = {want}, got {tuple(masks.shape)}")
        out = torch.empty((span - 1, 4, p, p), dtype=torch.float32)
        for k in range(1, span):
            out[k - 1, 0:2] = self.flow(plan, k / span, 0.0, masks[k])
            out[k - 1, 2:4] = self.flow(plan, k / span, 1.0, masks[k])
        return out

    def __getitem__(self, index: int):
        """``(inputs, targets, timesteps)``, and ``flows`` (span - 1, 4, P, P) when ``with_flows``."""
        plan = self.plan(index)
        if not self.with_flows:
            return split_vfi(self.render(plan))
        frames, masks = self.render(plan, with_masks=True)
        return (*split_vfi(frames), self.flows(plan, masks))
