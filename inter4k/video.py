"""Video in and out with PyAV (no ffmpeg binary needed).

- :func:`probe` reads a file's streams and says clearly what is wrong with a file that is not a
  decodable video.
- :func:`iter_frames` decodes RGB frames (threaded decoding, optional seek to a start frame).
- :class:`FrameConverter` changes a frame's pixel format with a scaler of its own; every decode and
  encode loop here makes one instead of calling ``VideoFrame.to_ndarray(format=...)``, which is not
  safe across a fork (see the class).
- :class:`VideoWriter` encodes frames (H.264 by default) and optionally audio, into a temporary name
  that is renamed to the final one only when the file is complete: a crash or Ctrl-C never leaves a
  half-written file that looks finished.
- Temporary names (:func:`inter4k.atomic.part_path`) are unique per writer
  (``.<stem>.part-<pid>-<random><suffix>``), so two runs writing the same file never touch each other's
  partial file, and each renames only its own; :func:`inter4k.atomic.remove_stale_parts` deletes those
  whose process is gone (a killed run).
  :func:`make_folders` / :func:`remove_folders` undo the folders made for an output that failed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from .atomic import part_path, publish, remove_stale_parts  # noqa: F401 (part of this module's API)


class VideoError(ValueError):
    """A file that cannot be read as a video, with the reason."""


class FrameConverter:
    """Pixel-format conversion with a swscale context owned by the loop that makes it.

    Since PyAV 18.1.1, ``VideoFrame.reformat`` and ``to_ndarray(format=...)`` share one swscale context
    per thread. A process forked after its first use (a DataLoader worker, a ``prepare`` worker)
    inherits that context but not its slice threads, and the child's first conversion waits for them
    for ever. A converter made in the process that uses it starts its threads there. Make one per
    decode or encode loop: FFmpeg 8 keeps some megabytes of scaler state for a context's lifetime.

    Example:
        >>> frame = av.VideoFrame.from_ndarray(np.zeros((4, 6, 3), np.uint8), format="rgb24")
        >>> FrameConverter().array(frame, "yuv420p").shape
        (6, 6)
    """

    def __init__(self) -> None:
        self._sws = VideoReformatter()

    def frame(self, frame: av.VideoFrame, **kwargs) -> av.VideoFrame:
        """``frame`` converted, with ``VideoReformatter.reformat``'s keyword arguments."""
        return self._sws.reformat(frame, **kwargs)

    def array(self, frame: av.VideoFrame, fmt: str, **kwargs) -> np.ndarray:
        """``frame`` as an array in pixel format ``fmt`` (the layout of ``VideoFrame.to_ndarray``)."""
        return self._sws.reformat(frame, format=fmt, **kwargs).to_ndarray()


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
                fmt: str = "rgb24", seek: bool = True) -> Iterator[np.ndarray]:
    """Decode frames ``start .. start+count-1`` (all from ``start`` when count is None) as HxWx3 uint8.

    Seeks to the keyframe at or before ``start`` and decodes from there, so only the frames a
    caller needs (plus at most one GOP) are decoded; frames are numbered by their timestamps. With
    ``seek=False`` it decodes from the beginning and numbers the frames in decoding output order from 0,
    for files whose seeking and timestamps are unreliable (AVI files with B-frames). Raises
    :class:`VideoError` on a decode error, naming the frame.
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
        if seek and start > 0 and tb is not None:
            target = first_pts + int(Fraction(start) / rate / tb)
            c.seek(target, stream=v, backward=True, any_frame=False)
        index = None
        yielded = 0
        convert = FrameConverter()
        try:
            for frame in c.decode(v):
                if seek and frame.pts is not None and tb is not None:
                    index = round(float((frame.pts - first_pts) * tb * rate))
                else:
                    index = 0 if index is None else index + 1
                if index < start:
                    continue
                yield convert.array(frame, fmt)
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


# swscale flags for RGB <-> YUV: exact rounding and full chroma interpolation. The defaults make a
# YUV -> RGB -> YUV -> RGB round trip about 1 level darker on average; these make it unbiased
# (mean error < 0.05 levels) for a few ms per 1440p frame.
EXACT_SWS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def standard_colour(height: int) -> tuple[str, int, int, int]:
    """(swscale colorspace name, AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic) of the
    usual standard for a frame height: BT.709 from 720 lines, SMPTE 170M (BT.601 525) below."""
    if height >= 720:
        return "ITU709", 1, 1, 1
    return "ITU601", 6, 6, 6


class VideoWriter:
    """Encode RGB frames (and optionally audio) to ``path``, atomically: the one video writer of inter4k
    (``derive``, ``sample``, and the ``upscale`` / ``interpolate`` pipeline).

    Args:
        path: the final file; written under :func:`part_path` beside it (the suffix picks the container)
            and renamed on success (:func:`inter4k.atomic.publish`). The folders made for it, and the
            partial file, are removed again when it fails.
        fps: frame rate (a Fraction keeps 30000/1001 exact).
        size: (width, height).
        codec, crf, preset, pix_fmt: video encoder settings (``crf``/``preset`` for x264/x265; ``options``
            are passed to the encoder as they are).
        audio_rate, audio_channels: add an AAC audio stream; feed it with :meth:`write_audio`. Other
            streams (copies of an input's) are added and muxed through :attr:`container`.
        tag_colour: convert RGB to a YUV ``pix_fmt`` with the standard matrix of the frame height (BT.709
            from 720 lines, BT.601 below; limited range, exact rounding) and tag the stream with it.

    Frames are H x W x 3 RGB, uint8 or (16-bit formats) uint16. :meth:`write` takes each frame's
    ``pts`` / ``duration`` (in :meth:`start`'s time base) when the caller times them; the packets then
    keep the frames' durations (encoders leave them at 0 and muxers would guess the last one).
    Used as a context manager: an exception inside the ``with`` block deletes the partial file.
    """

    def __init__(self, path: str | os.PathLike, fps, size: tuple[int, int], codec: str = "libx264",
                 crf: Optional[int] = 18, preset: Optional[str] = "medium", pix_fmt: str = "yuv420p",
                 audio_rate: Optional[int] = None, audio_channels: int = 2, options: Optional[dict] = None,
                 tag_colour: bool = False):
        self.path = Path(path)
        self.tmp = part_path(self.path)
        self.frames = 0
        self._audio_samples = 0
        self._durations: dict[int, int] = {}  # pts -> duration of the frames given to the encoder
        self._started = self._flushed = self._closed = False
        self.display_matrix: Optional[list[int]] = None  # set before the first frame to keep a rotation
        remove_stale_parts(self.path)  # a killed run's partial file of the same output
        self.made = make_folders(self.path.parent)
        try:
            self.container = av.open(str(self.tmp), "w")
        except (av.error.FFmpegError, ValueError) as exc:
            remove_folders(self.made)
            raise ValueError(f"{self.path}: cannot write this kind of file ({exc})") from None
        try:
            self._add_video(codec, fps, size, crf, preset, pix_fmt, options, tag_colour)
            self.audio = None
            if audio_rate:
                self.audio = self.container.add_stream("aac", rate=audio_rate)
                self.audio.layout = "stereo" if audio_channels == 2 else "mono"
        except BaseException:
            self.abort()
            raise

    def _add_video(self, codec, fps, size, crf, preset, pix_fmt, options, tag_colour) -> None:
        try:
            self.stream = self.container.add_stream(codec, rate=Fraction(fps))
        except ValueError as exc:
            raise ValueError(f"{self.path}: the {self.container.format.name} container cannot hold {codec} "
                             f"video ({exc}); use an .mp4 / .mkv output or another codec") from None
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = pix_fmt
        opts = dict(options or {})
        if crf is not None and codec in ("libx264", "libx265"):
            opts.setdefault("crf", str(crf))
        if preset is not None and codec in ("libx264", "libx265"):
            opts.setdefault("preset", preset)
        self.stream.options = opts
        self.pix_fmt = pix_fmt
        self._convert = FrameConverter()
        self.sws_space: Optional[str] = None  # None: PyAV's own conversion
        if tag_colour and pix_fmt.startswith(("yuv", "nv", "p0")):
            self.sws_space, spc, pri, trc = standard_colour(size[1])
            for name, value in (("colorspace", spc), ("color_primaries", pri), ("color_trc", trc),
                                ("color_range", 1)):
                try:
                    setattr(self.stream.codec_context, name, value)
                except (AttributeError, TypeError, ValueError):
                    pass

    def start(self, time_base: Optional[Fraction] = None) -> None:
        """Fix the video time base (default: the encoder's, 1/fps) and the display matrix; done by the
        first :meth:`write` when not called before."""
        if self._started:
            return
        self._started = True
        if self.display_matrix is not None:  # the input's rotation, kept
            self.stream.set_display_matrix(self.display_matrix)
        if time_base is not None:
            self.stream.codec_context.time_base = time_base
            self.stream.time_base = time_base

    def _mux_video(self, packets) -> None:
        for pk in packets:
            if not pk.duration and pk.pts is not None:
                d = self._durations.pop(pk.pts, None)
                if d:
                    pk.duration = d
            self.container.mux(pk)

    def write(self, frame: np.ndarray | av.VideoFrame, pts: Optional[int] = None,
              duration: Optional[int] = None) -> None:
        """Append one frame, at ``pts`` for ``duration`` (time-base units) when given: an H x W x 3 RGB
        array (uint8, or uint16 for deeper formats), or an ``av.VideoFrame`` already in the stream's
        pixel format (e.g. planes cut from a decoded source)."""
        self.start()
        if isinstance(frame, av.VideoFrame):
            vf = frame
        else:
            fmt = "rgb48le" if frame.dtype == np.uint16 else "rgb24"
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=fmt)
            if self.sws_space is not None:
                vf = self._convert.frame(vf, format=self.pix_fmt, dst_colorspace=self.sws_space,
                                         dst_color_range="MPEG", interpolation=EXACT_SWS)
        if pts is not None:
            vf.pts = pts
            vf.time_base = self.stream.codec_context.time_base
        if duration:
            if pts is not None:
                self._durations[pts] = duration
            try:
                vf.duration = duration
            except (AttributeError, TypeError, ValueError):
                pass
        self._mux_video(self.stream.encode(vf))
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

    def flush(self) -> None:
        """Drain the video (and own audio) encoder into the file; :meth:`close` does it when not done."""
        if self._flushed:
            return
        self._flushed = True
        if self.frames:
            self._mux_video(self.stream.encode(None))
        if self.audio is not None:
            for packet in self.audio.encode(None):
                self.container.mux(packet)

    def close(self) -> Path:
        """Flush the encoders and rename the file into place."""
        if self._closed:
            return self.path
        self.flush()
        self.container.close()
        self._closed = True
        return publish(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial file, and the folders made for it (as far as they are empty)."""
        if not self._closed:
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
            self._closed = True
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if not self.path.exists():
            remove_folders(self.made)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
