"""Video in and out with PyAV (no ffmpeg binary needed).

- :func:`probe` reads a file's streams and says clearly what is wrong with a file that is not a
  decodable video.
- :func:`iter_frames` decodes RGB frames (threaded decoding, optional seek to a start frame).
- :class:`VideoWriter` encodes frames (H.264 by default) and optionally audio, into a temporary name
  that is renamed to the final one only when the file is complete: a crash or Ctrl-C never leaves a
  half-written file that looks finished.
- Temporary names (:func:`part_path`) are unique per writer (``.<stem>.part-<pid>-<random><suffix>``),
  so two runs writing the same file never touch each other's partial file, and each renames only its
  own; :func:`remove_stale_parts` deletes those whose process is gone (a killed run).
  :func:`make_folders` / :func:`remove_folders` undo the folders made for an output that failed.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np


class VideoError(ValueError):
    """A file that cannot be read as a video, with the reason."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction          # average frame rate
    frames: Optional[int]  # as the container declares it (None when it does not)
    duration: Optional[float]  # seconds, from the video stream (or the container)
    codec: str
    pix_fmt: Optional[str]
    audio_streams: int
    subtitle_streams: int

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0


def _open(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None


def probe(path: str | os.PathLike) -> VideoInfo:
    """Stream facts of a video file; :class:`VideoError` if it has no decodable video stream."""
    path = Path(path)
    with _open(path) as c:
        if not c.streams.video:
            raise VideoError(f"{path}: has no video stream")
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate or v.base_rate
        if not rate:
            raise VideoError(f"{path}: the video stream declares no frame rate")
        duration = None
        if v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        elif c.duration is not None:
            duration = c.duration / av.time_base
        return VideoInfo(
            path=path,
            width=v.codec_context.width,
            height=v.codec_context.height,
            fps=Fraction(rate),
            frames=v.frames or None,
            duration=duration,
            codec=v.codec_context.name,
            pix_fmt=v.codec_context.pix_fmt,
            audio_streams=len(c.streams.audio),
            subtitle_streams=len(c.streams.subtitles),
        )


def iter_frames(path: str | os.PathLike, start: int = 0, count: Optional[int] = None, threads: bool = True,
                fmt: str = "rgb24") -> Iterator[np.ndarray]:
    """Decode frames ``start .. start+count-1`` (all from ``start`` when count is None) as HxWx3 uint8.

    Seeks to the keyframe at or before ``start`` and decodes from there, so only the frames a
    caller needs (plus at most one GOP) are decoded. Raises :class:`VideoError` on a decode error,
    naming the frame.
    """
    path = Path(path)
    with _open(path) as c:
        if not c.streams.video:
            raise VideoError(f"{path}: has no video stream")
        v = c.streams.video[0]
        if threads:
            v.thread_type = "AUTO"
        rate = Fraction(v.average_rate or v.guessed_rate)
        tb = v.time_base
        first_pts = v.start_time or 0
        if start > 0 and tb is not None:
            target = first_pts + int(Fraction(start) / rate / tb)
            c.seek(target, stream=v, backward=True, any_frame=False)
        index = None
        yielded = 0
        try:
            for frame in c.decode(v):
                if frame.pts is not None and tb is not None:
                    index = round(float((frame.pts - first_pts) * tb * rate))
                else:
                    index = 0 if index is None else index + 1
                if index < start:
                    continue
                yield frame.to_ndarray(format=fmt)
                yielded += 1
                if count is not None and yielded >= count:
                    return
        except av.error.FFmpegError as exc:
            where = "at its first frame" if index is None else f"after frame {index}"
            raise VideoError(f"{path}: decoding failed {where} ({exc})") from None


def count_frames(path: str | os.PathLike) -> int:
    """Frames that actually decode (not what the header claims)."""
    path = Path(path)
    n = 0
    with _open(path) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        try:
            for _ in c.decode(v):
                n += 1
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed after {n} frames ({exc})") from None
    return n


def part_path(path: Path) -> Path:
    """A temporary name beside ``path`` to write it under before renaming it into place, unique to this
    call: ``.<stem>.part-<pid>-<8 hex digits><suffix>`` (the suffix last, so the format is still
    guessed from it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.part-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it there: never call a file stale
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def remove_stale_parts(path: Path) -> list[Path]:
    """Delete the temporary files of ``path`` (:func:`part_path` names, and the ``.<stem>.part<suffix>``
    of older versions) whose writing process no longer runs on this machine; the paths deleted.
    Another live run's partial file is left alone."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.part(?:-(\d+)-[0-9a-f]+)?{re.escape(path.suffix)}")
    removed = []
    try:
        names = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no folder yet: nothing stale
        return removed
    for p in names:
        pid = pattern.fullmatch(p.name).group(1)
        if pid is not None and _process_alive(int(pid)):
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def make_folders(folder: Path) -> list[Path]:
    """``mkdir -p folder``; the folders it created, outermost first (for :func:`remove_folders`)."""
    folder = Path(folder)
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    missing.reverse()
    for f in missing:
        f.mkdir(exist_ok=True)
    return missing


def remove_folders(made: list[Path]) -> None:
    """Remove the folders :func:`make_folders` created, innermost first, as far as they are empty
    (another run may have put a file there meanwhile)."""
    for f in reversed(made):
        try:
            f.rmdir()
        except FileNotFoundError:  # removed already
            continue
        except OSError:  # not empty: neither are the folders holding it
            return


class VideoWriter:
    """Encode RGB frames (and optionally audio) to ``path``, atomically.

    Args:
        path: the final file; written under :func:`part_path` beside it and renamed on success.
        fps: frame rate (a Fraction keeps 30000/1001 exact).
        size: (width, height).
        codec, crf, preset, pix_fmt: video encoder settings (``crf``/``preset`` for x264/x265).
        audio_rate, audio_channels: add an AAC audio stream; feed it with :meth:`write_audio`.

    Used as a context manager: an exception inside the ``with`` block deletes the partial file.
    """

    def __init__(self, path: str | os.PathLike, fps, size: tuple[int, int], codec: str = "libx264",
                 crf: Optional[int] = 18, preset: Optional[str] = "medium", pix_fmt: str = "yuv420p",
                 audio_rate: Optional[int] = None, audio_channels: int = 2, options: Optional[dict] = None):
        self.path = Path(path)
        self.tmp = part_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(self.path)  # a killed run's partial file of the same output
        self.container = av.open(str(self.tmp), "w", format="mp4" if self.path.suffix.lower() in (".mp4", ".m4v") else None)
        self.stream = self.container.add_stream(codec, rate=Fraction(fps))
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = pix_fmt
        opts = dict(options or {})
        if crf is not None and codec in ("libx264", "libx265"):
            opts.setdefault("crf", str(crf))
        if preset is not None and codec in ("libx264", "libx265"):
            opts.setdefault("preset", preset)
        self.stream.options = opts
        self.audio = None
        if audio_rate:
            self.audio = self.container.add_stream("aac", rate=audio_rate)
            self.audio.layout = "stereo" if audio_channels == 2 else "mono"
        self.frames = 0
        self._audio_samples = 0
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame."""
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(vf):
            self.container.mux(packet)
        self.frames += 1

    def write_audio(self, samples: np.ndarray) -> None:
        """Append audio: float32 in [-1, 1], shape (channels, n)."""
        if self.audio is None:
            raise RuntimeError("VideoWriter was made without an audio stream (audio_rate=None)")
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32), format="fltp",
                                        layout=self.audio.layout.name)
        af.sample_rate = self.audio.rate
        af.pts = self._audio_samples
        af.time_base = Fraction(1, self.audio.rate)
        self._audio_samples += samples.shape[1]
        for packet in self.audio.encode(af):
            self.container.mux(packet)

    def close(self) -> Path:
        """Flush the encoders and rename the file into place."""
        if self._closed:
            return self.path
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        if self.audio is not None:
            for packet in self.audio.encode(None):
                self.container.mux(packet)
        self.container.close()
        self._closed = True
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if not self._closed:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
            self._closed = True
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
