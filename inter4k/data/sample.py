"""``inter4k sample``: a small synthetic dataset in the exact Inter4K layout.

Every command can then be tried and tested without the 15 GB download. Each clip is a camera move
over one of the natural photographs that scikit-image ships (pans, zooms, a rotation, a moving
object pasted over the scene, one clip with a scene cut halfway), rendered with sub-pixel accuracy,
encoded as H.264 at high quality, with a stereo AAC audio track of the clip's length. Clips are
``ROOT/Inter4K/60fps/UHD/<n>.mp4`` like the official ones, but at a tenth of UHD (384x216) and
shorter; ``ROOT/Inter4K/SAMPLE.json`` records that, and the other commands read it.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from ..video import VideoWriter
from ..progress import ProgressFn, Reporter, count_form
from . import layout

# scikit-image's bundled RGB photographs (no download needed).
IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
MOTIONS = ("pan", "zoom_in", "pan_rotate", "zoom_out", "object", "cut")
SAMPLE_SIZE = (384, 216)
AUDIO_RATE = 48000


def _image(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(img[..., :3])


def _camera(img: np.ndarray, size: tuple[int, int], cx: float, cy: float, zoom: float, angle: float) -> np.ndarray:
    """Render the view of ``img`` centred at (cx, cy) (fractions of the image), ``zoom`` output pixels
    per image pixel relative to the fit-to-frame scale, rotated by ``angle`` degrees."""
    h, w = img.shape[:2]
    W, H = size
    fit = max(W / w, H / h)  # the whole output is always covered by the image at zoom >= 1
    scale = fit * zoom
    m = cv2.getRotationMatrix2D((cx * w, cy * h), angle, scale)
    m[0, 2] += W / 2 - cx * w
    m[1, 2] += H / 2 - cy * h
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def render_clip(index: int, frames: int, size: tuple[int, int] = SAMPLE_SIZE, seed: int = 0) -> list[np.ndarray]:
    """The RGB frames of sample clip ``index`` (1-based): deterministic for (index, frames, size, seed)."""
    rng = np.random.default_rng(seed * 1000 + index)
    motion = MOTIONS[(index - 1) % len(MOTIONS)]
    img = _image(IMAGES[(index - 1) % len(IMAGES)])
    other = _image(IMAGES[index % len(IMAGES)])
    cx0, cy0 = rng.uniform(0.4, 0.6, size=2)
    dx, dy = rng.uniform(-0.12, 0.12, size=2)
    out = []
    for f in range(frames):
        t = _ease(f / max(frames - 1, 1))
        cx, cy, zoom, angle, src = cx0 + dx * t, cy0 + dy * t, 1.3, 0.0, img
        if motion == "zoom_in":
            zoom = 1.15 + 0.6 * t
        elif motion == "zoom_out":
            zoom = 1.75 - 0.6 * t
        elif motion == "pan_rotate":
            angle = 8.0 * (t - 0.5)
        elif motion == "cut" and f >= frames // 2:
            src = other
        frame = _camera(src, size, cx, cy, zoom, angle)
        if motion == "object":  # a patch of another photo crossing the frame over a slow pan
            ph, pw = size[1] // 3, size[1] // 3
            patch = cv2.resize(other, (pw, ph), interpolation=cv2.INTER_AREA)
            x = int(round(-pw + (size[0] + pw) * f / max(frames - 1, 1)))
            y = int(round(size[1] / 2 - ph / 2 + 0.25 * size[1] * math.sin(2 * math.pi * f / max(frames, 1))))
            x0, x1 = max(x, 0), min(x + pw, size[0])
            y0, y1 = max(y, 0), min(y + ph, size[1])
            if x1 > x0 and y1 > y0:
                frame[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]
        out.append(frame)
    return out


def render_audio(index: int, samples: int, rate: int = AUDIO_RATE) -> np.ndarray:
    """A stereo tone pair with a short click every half second: (2, samples) float32 in [-1, 1]."""
    t = np.arange(samples) / rate
    f = 220.0 * (1 + (index % 7) / 4)
    left = 0.2 * np.sin(2 * np.pi * f * t)
    right = 0.2 * np.sin(2 * np.pi * 1.5 * f * t)
    clicks = (np.mod(t, 0.5) < 0.005) * 0.3
    return np.stack([left + clicks, right + clicks]).astype(np.float32)


def make_sample(root, clips: int = 6, seconds: float = 2.0, fps: int = layout.SOURCE_FPS,
                size: tuple[int, int] = SAMPLE_SIZE, audio: bool = True, crf: int = 12, seed: int = 0,
                progress: Optional[Callable[[int, int], None]] = None,
                on_progress: Optional[ProgressFn] = None) -> list[Path]:
    """Write ``clips`` clips to ``root/Inter4K/<fps>fps/UHD/<n>.mp4`` and ``root/Inter4K/SAMPLE.json``.

    Clips already there are kept (each is written under a temporary name and renamed when complete),
    so an interrupted run resumes. ``on_progress`` gets a :class:`~inter4k.progress.Progress` (stage
    "sample", unit "clips") after each clip; ``progress(done, total)`` is its older form.
    """
    report = Reporter(on_progress, unit="clips", legacy=progress, form=count_form)
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if size[0] % 2 or size[1] % 2:
        raise ValueError(f"size must be even in both dims (H.264 4:2:0), got {size}")
    root = Path(root)
    frames = int(round(seconds * fps))
    paths = []
    for n in range(1, clips + 1):
        path = layout.clip_path(root, n, fps=fps)
        if not path.exists():
            with VideoWriter(path, fps, size, crf=crf, preset="medium", audio_rate=AUDIO_RATE if audio else None) as w:
                for frame in render_clip(n, frames, size, seed):
                    w.write(frame)
                if audio:
                    w.write_audio(render_audio(n, int(round(seconds * AUDIO_RATE))))
        paths.append(path)
        report("sample", n, clips, path.name)
    meta = {
        "made_by": "inter4k sample",
        "size": list(size),
        "fps": fps,
        "seconds": seconds,
        "frames": frames,
        "clips": clips,
        "audio": audio,
        "images": [IMAGES[(n - 1) % len(IMAGES)] for n in range(1, clips + 1)],
        "motions": [MOTIONS[(n - 1) % len(MOTIONS)] for n in range(1, clips + 1)],
        "note": "synthetic camera moves over scikit-image photographs; not Inter4K data",
    }
    marker = root / "Inter4K" / layout.SAMPLE_MARKER
    marker.write_text(json.dumps(meta, indent=2) + "\n")
    return paths


def make_zip(root, zip_path) -> Path:
    """Pack a sample tree as the official zip is packed (members ``Inter4K/60fps/UHD/<n>.mp4``)."""
    root, zip_path = Path(root), Path(zip_path)
    members = sorted((root / "Inter4K").rglob("*"))
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as z:
        for p in members:
            if p.is_file() and not p.name.startswith("."):
                z.write(p, p.relative_to(root).as_posix())
    return zip_path
