"""``inter4k verify``: check every source clip of an Inter4K tree.

Each ``ROOT/Inter4K/60fps/UHD/<n>.mp4`` must

- open and decode to its end with PyAV (every frame is decoded and counted; a decode error, a file
  that does not open, e.g. a truncated download whose ``moov`` index is missing, or fewer decoded
  frames than the container declares is a failure that says what happened);
- have the expected size, frame rate and a duration within bounds (:func:`layout.expected`: the
  official 3840x2160, 60 fps, 4.9-5.1 s, or the geometry recorded in a sample's ``SAMPLE.json``);
- decode to a frame count within +-1 of fps x duration.

Clip numbers missing from the expected set (1..1000, or 1..clips for a sample) are reported too.
Clips are checked in parallel, one clip per task of a process pool.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import av

from ..progress import ProgressFn, Reporter, item_form
from . import layout
from ._parallel import run_jobs


@dataclass
class ClipCheck:
    """What :func:`check_clip` found for one clip. ``ok`` is True when ``problems`` is empty."""

    clip: int
    path: Path
    problems: list[str] = field(default_factory=list)
    width: Optional[int] = None
    height: Optional[int] = None
    fps: Optional[Fraction] = None
    duration: Optional[float] = None      # seconds, as the video stream (or the container) declares it
    declared_frames: Optional[int] = None  # as the container declares it
    decoded_frames: Optional[int] = None   # frames that actually decoded
    has_audio: Optional[bool] = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["fps"] = None if self.fps is None else str(self.fps)
        d["ok"] = self.ok
        return d


@dataclass
class VerifyReport:
    """Every clip's :class:`ClipCheck`, the clip numbers missing from the expected set, and the
    numbers present but outside it (reported, not a failure)."""

    root: Path
    expected: layout.Expected
    clips: list[ClipCheck]
    missing: list[int]
    unexpected: list[int] = field(default_factory=list)

    @property
    def failures(self) -> list[ClipCheck]:
        return [c for c in self.clips if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.missing

    def to_dict(self) -> dict:
        e = self.expected
        return {
            "root": str(self.root),
            "expected": {"width": e.width, "height": e.height, "fps": str(e.fps), "min_seconds": e.min_seconds,
                         "max_seconds": e.max_seconds, "sample": e.sample},
            "ok": self.ok,
            "checked": len(self.clips),
            "failed": len(self.failures),
            "missing": self.missing,
            "unexpected": self.unexpected,
            "clips": [c.to_dict() for c in self.clips],
        }


def _fmt_fps(fps: Fraction) -> str:
    return str(int(fps)) if fps.denominator == 1 else f"{float(fps):.3f}"


def check_clip(path: str | os.PathLike, expected: layout.Expected, clip: Optional[int] = None) -> ClipCheck:
    """Decode ``path`` to its end and compare it with ``expected``; never raises for a bad file."""
    path = Path(path)
    if clip is None:
        clip = int(path.stem) if path.stem.isdigit() else 0
    res = ClipCheck(clip=clip, path=path)
    problems = res.problems
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        problems.append("file is missing")
        return res
    except av.error.FFmpegError as exc:
        size = path.stat().st_size if path.exists() else 0
        reason = getattr(exc, "strerror", None) or str(exc)
        hint = "; truncated or incomplete?" if "Invalid data" in reason or "End of file" in reason else ""
        problems.append(f"does not open ({reason}; {size} bytes{hint})")
        return res
    with container:
        if not container.streams.video:
            problems.append("has no video stream")
            return res
        v = container.streams.video[0]
        v.thread_type = "AUTO"
        res.has_audio = bool(container.streams.audio)
        cc = v.codec_context
        res.width, res.height = cc.width, cc.height
        rate = v.average_rate or v.guessed_rate or v.base_rate
        res.fps = Fraction(rate) if rate else None
        if v.duration is not None and v.time_base is not None:
            res.duration = float(v.duration * v.time_base)
        elif container.duration is not None:
            res.duration = container.duration / av.time_base
        res.declared_frames = v.frames or None
        n = 0
        decode_error = None
        try:
            for _ in container.decode(v):
                n += 1
        except av.error.FFmpegError as exc:
            decode_error = f"decode error after {n} frames: {exc}"
        res.decoded_frames = n
    if decode_error:
        problems.append(decode_error)
    if n == 0 and not decode_error:
        problems.append("no frame decodes")
    if res.declared_frames and n < res.declared_frames:
        problems.append(f"truncated: {n} of the {res.declared_frames} frames the file declares decode")
    if (res.width, res.height) != (expected.width, expected.height):
        problems.append(f"size {res.width}x{res.height}, expected {expected.width}x{expected.height}")
    if res.fps is None:
        problems.append("declares no frame rate")
    elif res.fps != expected.fps:
        problems.append(f"{_fmt_fps(res.fps)} fps, expected {_fmt_fps(expected.fps)}")
    if res.duration is None:
        problems.append("declares no duration")
    else:
        if not expected.min_seconds <= res.duration <= expected.max_seconds:
            problems.append(f"duration {res.duration:.3f} s, expected {expected.min_seconds:g}-{expected.max_seconds:g} s")
        if res.fps and n and abs(n - float(res.fps) * res.duration) > 1:
            problems.append(f"{n} frames decode, but {_fmt_fps(res.fps)} fps x {res.duration:.3f} s "
                            f"= {float(res.fps) * res.duration:.1f}")
    return res


def expected_clips(root: Path, exp: Optional[layout.Expected] = None) -> list[int]:
    """The clip numbers a complete tree has: 1..1000, or 1..clips for a sample."""
    exp = exp or layout.expected(root)
    if exp.sample:
        meta = json.loads((Path(root) / "Inter4K" / layout.SAMPLE_MARKER).read_text())
        return list(range(1, int(meta["clips"]) + 1))
    return list(range(1, layout.NUM_CLIPS + 1))


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def verify(root=None, workers: Optional[int] = None,
           progress: Optional[Callable[[int, int, ClipCheck], None]] = None,
           on_progress: Optional[ProgressFn] = None) -> VerifyReport:
    """Check every source clip under ``root`` (default :func:`layout.default_root`).

    ``workers`` processes (default min(4, cores); 1 checks in this process).
    ``on_progress`` gets a :class:`~inter4k.progress.Progress` (stage "verify", unit "clips", note
    "<n>.mp4 ok|FAIL", info ``check``) as each clip finishes; ``progress(done, total, check)`` is its
    older form. Raises FileNotFoundError when there is no source folder or no clip in it at all.
    """
    report = Reporter(on_progress, unit="clips", legacy=progress, form=item_form("check"))
    root = layout.resolve_root(root)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    src = layout.clip_dir(root)
    numbers = layout.list_clips(root)
    if not numbers:
        raise FileNotFoundError(f"no clips in {src} (fetch them with `inter4k download`, "
                                f"or make a small synthetic set with `inter4k sample`)")
    exp = layout.expected(root)
    wanted = expected_clips(root, exp)
    present = set(numbers)
    missing = [n for n in wanted if n not in present]
    unexpected = sorted(present - set(wanted))
    checks: list[ClipCheck] = []
    total = len(numbers)

    def done(c: ClipCheck) -> None:
        checks.append(c)
        report("verify", len(checks), total, f"{c.clip}.mp4 {'ok' if c.ok else 'FAIL'}", check=c)

    run_jobs(check_clip, [(layout.clip_path(root, n), exp, n) for n in numbers], workers, done)
    checks.sort(key=lambda c: c.clip)
    return VerifyReport(root=root, expected=exp, clips=checks, missing=missing, unexpected=unexpected)
