"""What makes a synthetic VFI clip look like real footage: the options of
:class:`~inter4k.data.motion.SyntheticMotionVFI` beyond its rigid motion, and the effects themselves.

    SyntheticMotionVFI(images, realism="rigid")           # the original clips (the default)
    SyntheticMotionVFI(images, realism="real")            # every effect below, at the rates of REALISM["real"]
    SyntheticMotionVFI(images, realism=Realism(blur=1.0))  # rigid motion, always motion-blurred

A :class:`Realism` holds one knob per effect (a probability per clip and a range); docs/VFI.md lists
them with the values of the two presets (:data:`REALISM`). The effects, in the order they are applied:

1. **Large displacements** (``max_displacement``): the camera's and each layer's displacement between
   the two inputs is drawn uniformly up to ``max_displacement`` pixels *at 1080p*, scaled to the
   clip: a photograph is taken as a video frame whose shorter side is the photograph's shorter side
   in output pixels (``zoom * min(h, w)``), so a 2560x1600 photograph at zoom 1 moves up to
   64 * 1600 / 1080 = 95 px, a 512 x 512 one up to 30 px.
2. **Layers** (``layers``, ``layer_size``): more and larger independently moving layers (the
   dataset's soft-masked objects cut from other photographs), so occlusions and disocclusions are
   frequent.
3. **Non-rigid motion** (``nonrigid``, ``nonrigid_amplitude``): a smooth random displacement field
   :func:`random_field` per layer (background included), ``D(u) = sum_m a_m sin(k_m . u + phi_m)`` in
   the layer's own coordinates, applied as ``u + tau D(u)``: nothing at the first input, all of it at
   the second. Its Lipschitz constant is kept <= :data:`FIELD_LIPSCHITZ` (0.4), so ``u -> u + tau D(u)``
   never folds and is inverted exactly by a fixed-point iteration (:func:`invert_field`), which gives
   exact flows.
4. **Motion blur** (``blur``, ``shutter``): the frame is the average of ``subframes`` renders spread
   evenly over the exposure, ``shutter`` x the frame interval (1 / span of the input interval)
   centred on the frame's time. The count is odd (the middle render is the frame's own instant) and
   grows with the motion during the exposure, up to :data:`MAX_SUBFRAMES`.
5. **Brightness change** (``brightness``, ``gain_change``): every frame times ``exp(g0 + (g1 - g0) tau)``,
   g0, g1 uniform in +-``gain_change`` (an exposure or lighting drift through the clip), then clipped
   to [0, 1] as a sensor saturates.
6. **Sensor noise** (``noise``, ``read_noise``, ``shot_noise``): Gaussian, variance
   ``read^2 + shot^2 * value`` (signal-dependent, as photon noise), independent per pixel, channel and
   frame, then rounded to 8 bits.
7. **H.264** (``compression``, ``crf``, ``preset``): the clip's frames are encoded with libx264
   (yuv420p, one GOP, ``crf`` drawn uniformly from the range) and decoded back (:func:`h264_roundtrip`).

8. **Still scenes** (``still``): with this probability nothing moves (camera, layers, fields); the frames
   differ only by the effects that change in time (brightness, noise, H.264). Real footage has still
   shots and still backgrounds, and a model that never saw one invents motion there (docs/VFI.md).

Effects 1-5 belong to the scene and the camera: the targets have them too (a real in-between frame
is blurred and lit as it was filmed). Effects 6-7 are measurement artefacts: with ``clean_targets``
(default) only the two inputs carry them and the targets are the clean frames the model should
produce; ``clean_targets=False`` degrades every frame, as a real video's would be.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Optional, Union

import numpy as np

__all__ = ["Realism", "REALISM", "REFERENCE_HEIGHT", "MAX_SUBFRAMES", "FIELD_LIPSCHITZ", "resolve_realism",
           "FIELD_TOLERANCE", "random_field", "field_at", "invert_field", "sensor_noise", "h264_roundtrip"]

#: The frame height at which ``max_displacement`` and ``nonrigid_amplitude`` are given.
REFERENCE_HEIGHT = 1080
#: The most renders averaged into one motion-blurred frame.
MAX_SUBFRAMES = 17
#: The bound on the Jacobian norm of a non-rigid field (< 1: the deformation never folds).
FIELD_LIPSCHITZ = 0.4
#: Where :func:`invert_field` stops: the last iteration moved no point by more (pixels).
FIELD_TOLERANCE = 1e-9
_FIELD_MODES = 4
_FIELD_ITERATIONS = 60


def _probability(name: str, v) -> None:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= v <= 1.0:
        raise ValueError(f"Realism: {name} must be a probability in [0, 1], got {v!r}")


def _range(name: str, v, lo: float = 0.0, hi: float = math.inf, integer: bool = False) -> None:
    ok = isinstance(v, (tuple, list)) and len(v) == 2 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and (not integer or x == int(x))
        for x in v)
    if not ok or not lo <= v[0] <= v[1] <= hi:
        raise ValueError(f"Realism: {name} must be ({'integers ' if integer else ''}lo, hi) with "
                         f"{lo} <= lo <= hi <= {hi}, got {v!r}")


@dataclass(frozen=True)
class Realism:
    """The realism options of a synthetic clip (see the module docstring; probabilities are per clip).

    ``Realism()`` is the rigid motion of the original generator (every effect off);
    :data:`REALISM` ``["real"]`` turns everything on. Change single knobs with
    ``dataclasses.replace(REALISM["real"], compression=0.0)``.
    """

    max_displacement: Optional[float] = None      # px at 1080p between the inputs; None: max_speed per frame
    layers: Optional[tuple[int, int]] = None      # (lo, hi) layers per clip; None: the dataset's objects
    layer_size: tuple[float, float] = (1 / 6, 1 / 2.5)  # layer box side, fraction of the patch
    nonrigid: float = 0.0                          # probability of a non-rigid field, per layer
    nonrigid_amplitude: float = 12.0               # px at 1080p, the largest field displacement
    blur: float = 0.0                              # probability of motion blur
    shutter: tuple[float, float] = (0.25, 1.0)     # exposure / frame interval, when blurred
    brightness: float = 0.0                        # probability of a brightness change
    gain_change: float = 0.15                      # |log gain| at either end, at most
    noise: float = 0.0                             # probability of sensor noise
    read_noise: tuple[float, float] = (0.5 / 255, 3 / 255)   # sigma of the signal-independent part
    shot_noise: tuple[float, float] = (0.0, 0.02)            # sigma at value 1 of the photon part
    compression: float = 0.0                       # probability of H.264
    crf: tuple[int, int] = (18, 32)                # libx264 CRF range (inclusive)
    preset: str = "medium"                         # libx264 preset
    clean_targets: bool = True                     # noise and compression on the inputs only
    still: float = 0.0                             # probability of a still scene: nothing moves

    def __post_init__(self) -> None:
        for name in ("nonrigid", "blur", "brightness", "noise", "compression", "still"):
            _probability(name, getattr(self, name))
        md = self.max_displacement
        if md is not None and (not isinstance(md, (int, float)) or isinstance(md, bool) or not math.isfinite(md)
                               or md < 0):
            raise ValueError(f"Realism: max_displacement must be None or a finite number >= 0, got {md!r}")
        if self.layers is not None:
            _range("layers", self.layers, integer=True)
        _range("layer_size", self.layer_size, lo=1e-3, hi=1.0)
        _range("shutter", self.shutter, hi=1.0)
        _range("read_noise", self.read_noise, hi=1.0)
        _range("shot_noise", self.shot_noise, hi=1.0)
        _range("crf", self.crf, hi=51, integer=True)
        for name in ("nonrigid_amplitude", "gain_change"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"Realism: {name} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.preset, str) or not self.preset:
            raise ValueError(f"Realism: preset must be a libx264 preset name, got {self.preset!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def name(self) -> Optional[str]:
        """The name of the preset (:data:`REALISM`) with these values, else None."""
        return next((k for k, v in REALISM.items() if v == self), None)


_REAL = Realism(max_displacement=64.0, layers=(1, 4), layer_size=(1 / 6, 1 / 1.8), nonrigid=0.5, blur=0.5,
                brightness=0.5, noise=0.5, compression=0.75)

#: The presets: "rigid" (the original clips), "real" (every effect, noise and H.264 on VFI's inputs only,
#: one clip in ten still;
#: docs/VFI.md gives the reasons), and for video SR, where every frame is an input: "scene" (real's
#: scene effects, no noise or H.264: the clips of a clean camera) and "recorded" (real's effects on
#: every frame: what a consumer camera and its codec record).
REALISM: dict[str, Realism] = {
    "rigid": Realism(),
    "real": replace(_REAL, still=0.1),
    "scene": replace(_REAL, noise=0.0, compression=0.0),
    "recorded": replace(_REAL, clean_targets=False),
}


def resolve_realism(value: Union[str, Realism, dict, None]) -> Realism:
    """A :class:`Realism` from a preset name, a Realism, a dict of its fields or None ("rigid")."""
    if value is None:
        return REALISM["rigid"]
    if isinstance(value, Realism):
        return value
    if isinstance(value, dict):
        known = {f.name for f in fields(Realism)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown realism options {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return Realism(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
    if isinstance(value, str) and value in REALISM:
        return REALISM[value]
    raise ValueError(f"unknown realism {value!r}; choose from {', '.join(REALISM)} (or pass a Realism)")


# --- non-rigid fields --------------------------------------------------------------------------------------

def random_field(rng: np.random.Generator, amplitude: float, scale: float) -> np.ndarray:
    """A smooth random displacement field of at most ``amplitude`` pixels whose wavelengths are
    ``scale / 2 .. 2 scale`` pixels: (modes, 5) rows ``(kx, ky, ax, ay, phase)`` of
    ``D(u) = sum a sin(k . u + phase)``, scaled down if needed so that ``sum |a| |k| <= FIELD_LIPSCHITZ``.

    Example:
        >>> f = random_field(np.random.default_rng(0), 5.0, 100.0)
        >>> bool(np.sum(np.hypot(f[:, 0], f[:, 1]) * np.hypot(f[:, 2], f[:, 3])) <= FIELD_LIPSCHITZ + 1e-12)
        True
    """
    wavelength = rng.uniform(scale / 2, 2 * scale, _FIELD_MODES)
    direction = rng.uniform(0, 2 * math.pi, _FIELD_MODES)
    k = (2 * math.pi / wavelength)[:, None] * np.stack([np.cos(direction), np.sin(direction)], 1)
    size = rng.uniform(0.2, 1.0, _FIELD_MODES)
    size *= amplitude / size.sum()
    heading = rng.uniform(0, 2 * math.pi, _FIELD_MODES)
    a = size[:, None] * np.stack([np.cos(heading), np.sin(heading)], 1)
    phase = rng.uniform(0, 2 * math.pi, _FIELD_MODES)
    lipschitz = float(np.sum(np.hypot(*k.T) * size))
    if lipschitz > FIELD_LIPSCHITZ:
        a *= FIELD_LIPSCHITZ / lipschitz
    return np.concatenate([k, a, phase[:, None]], 1)


def field_at(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``D(x, y)`` of a :func:`random_field` at points (arrays of any shape), float64."""
    dx, dy = np.zeros_like(x, dtype=np.float64), np.zeros_like(y, dtype=np.float64)
    for kx, ky, ax, ay, phase in np.asarray(field, dtype=np.float64):
        s = np.sin(kx * x + ky * y + phase)
        dx += ax * s
        dy += ay * s
    return dx, dy


def invert_field(field: np.ndarray, tau: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points u with ``u + tau D(u) = (x, y)``, by fixed-point iteration ``u <- (x, y) - tau D(u)``: a
    contraction (``tau |grad D| <= FIELD_LIPSCHITZ < 1``), iterated until no point moves by more than
    :data:`FIELD_TOLERANCE` pixels (at most 60 times)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ux, uy = x, y
    for _ in range(_FIELD_ITERATIONS):
        dx, dy = field_at(field, ux, uy)
        nx, ny = x - tau * dx, y - tau * dy
        step = max(float(np.max(np.abs(nx - ux), initial=0.0)), float(np.max(np.abs(ny - uy), initial=0.0)))
        ux, uy = nx, ny
        if step < FIELD_TOLERANCE:
            break
    return ux, uy


# --- measurement: noise and compression --------------------------------------------------------------------

def sensor_noise(frames: np.ndarray, read: float, shot: float, rng: np.random.Generator) -> np.ndarray:
    """``frames`` (float in [0, 1]) plus Gaussian noise of variance ``read^2 + shot^2 * frames``, clipped
    to [0, 1] (float32)."""
    sigma = np.sqrt(read ** 2 + shot ** 2 * np.clip(frames, 0.0, 1.0))
    noisy = frames + sigma * rng.standard_normal(frames.shape)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def h264_roundtrip(frames: np.ndarray, crf: int, preset: str = "medium") -> np.ndarray:
    """Encode (T, H, W, 3) uint8 RGB frames as one H.264 stream (libx264, yuv420p, CRF ``crf``, one GOP,
    one thread and no MB-tree, so the result is reproducible) and decode it back: (T, H, W, 3) uint8. Odd sizes are
    edge-padded to even ones (4:2:0) and cropped back. RuntimeError if the decoder returns another
    number of frames."""
    import av

    from ..video import FrameConverter

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"h264_roundtrip: expected (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height = w + pw, h + ph
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, 60)
    enc.framerate = Fraction(60)
    enc.thread_count = 1
    # mbtree off: on clips of a few frames it made libx264's output vary from run to run (measured: 1 run in
    # 8 to 70 gave other packets for the same frames); without it, 400 runs out of 400 were identical
    enc.options = {"crf": str(int(crf)), "preset": preset, "threads": "1", "keyint": str(max(t, 1)),
                   "x264-params": "mbtree=0"}
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    convert = FrameConverter()
    out = []

    def decode(packets) -> None:  # at once: a packet's buffer is not guaranteed to outlive the next encode call
        for packet in packets:
            out.extend(convert.array(f, "rgb24") for f in dec.decode(packet))

    for i, rgb in enumerate(frames):
        vf = convert.frame(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"), format="yuv420p")
        vf.pts = i
        decode(enc.encode(vf))
    decode(enc.encode(None))
    out.extend(convert.array(f, "rgb24") for f in dec.decode(None))
    if len(out) != t:
        raise RuntimeError(f"h264_roundtrip: encoded {t} frames, decoded {len(out)}")
    return np.stack(out)[:, :h, :w]
