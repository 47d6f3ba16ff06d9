"""Inter4K's facts and folder layout (docs/DATA.md#the-inter4k-data-set), in one place.

The official release unpacks as ``ROOT/Inter4K/60fps/UHD/<n>.mp4`` for n = 1..1000; the derived tree
is ``ROOT/Inter4K/<fps>fps/<RES>/<n>.mp4``. ``ROOT`` defaults to ``$INTER4K_ROOT`` or
``~/datasets/inter4k``. A small synthetic copy made by ``inter4k sample`` has the same layout at a
tenth of the resolution and shorter clips; its ``Inter4K/SAMPLE.json`` says so, and every command
reads the expected geometry from there instead of the official one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

OFFICIAL_URL = "https://tinyurl.com/inter4KUHD"
LICENCE = "CC BY-NC-SA 4.0"
NUM_CLIPS = 1000
SOURCE_FPS = 60
SOURCE_RES = "UHD"
CLIP_SECONDS = 5.0
# Output sizes of the official derivation; other sizes are the same fractions of the source size.
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "UHD": (3840, 2160),
    "QHD": (2560, 1440),
    "FHD": (1920, 1080),
    "HD": (1280, 720),
    "qHD": (960, 540),
    "nHD": (640, 360),
}
FRAME_RATES = (60, 50, 30, 24, 15)
SAMPLE_MARKER = "SAMPLE.json"
_CLIP_NAME = re.compile(r"^(\d+)\.mp4$")


def default_root() -> Path:
    """``$INTER4K_ROOT``, else ``~/datasets/inter4k``."""
    env = os.environ.get("INTER4K_ROOT")
    return Path(env).expanduser() if env else Path.home() / "datasets" / "inter4k"


def resolve_root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else default_root()


def clip_dir(root: Path, fps: int = SOURCE_FPS, res: str = SOURCE_RES) -> Path:
    return Path(root) / "Inter4K" / f"{fps}fps" / res


def clip_path(root: Path, n: int, fps: int = SOURCE_FPS, res: str = SOURCE_RES) -> Path:
    return clip_dir(root, fps, res) / f"{n}.mp4"


def list_clips(root: Path, fps: int = SOURCE_FPS, res: str = SOURCE_RES) -> list[int]:
    """Clip numbers present in one folder of the tree, ascending (temporary files are ignored)."""
    d = clip_dir(root, fps, res)
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if (m := _CLIP_NAME.match(p.name)) and p.is_file())


@dataclass(frozen=True)
class Expected:
    """What every source clip must be: size, frame rate and duration bounds."""

    width: int
    height: int
    fps: Fraction
    min_seconds: float
    max_seconds: float
    sample: bool = False


OFFICIAL = Expected(3840, 2160, Fraction(60), 4.9, 5.1)


def expected(root: Path) -> Expected:
    """The official geometry, or the sample's when ``Inter4K/SAMPLE.json`` is there."""
    marker = Path(root) / "Inter4K" / SAMPLE_MARKER
    if not marker.is_file():
        return OFFICIAL
    meta = json.loads(marker.read_text())
    w, h = meta["size"]
    secs = float(meta["seconds"])
    return Expected(int(w), int(h), Fraction(meta["fps"]), secs - 0.1 * secs, secs + 0.1 * secs, sample=True)


def scaled_size(source: tuple[int, int], res: str) -> tuple[int, int]:
    """Size of resolution ``res`` for a source of size ``source`` (exact for UHD sources, even sizes)."""
    if res not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {res!r}; choose from {', '.join(RESOLUTIONS)}")
    tw, th = RESOLUTIONS[res]
    uw, uh = RESOLUTIONS["UHD"]
    w = round(source[0] * tw / uw / 2) * 2
    h = round(source[1] * th / uh / 2) * 2
    return max(w, 2), max(h, 2)
