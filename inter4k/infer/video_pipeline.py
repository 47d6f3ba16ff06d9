"""Decode -> model -> encode for whole videos, with PyAV, keeping every frame, timestamp and side stream.

Three stages overlap (so the device is never waiting on the codecs):

    decode thread ──(bounded queue)──> inference (the calling thread) ──(bounded queue)──> encode thread

- **decode thread**: demuxes the input once, decodes the video to RGB24 ``uint8`` batches of
  ``batch`` frames (with each frame's pts and time base) and passes the packets of the audio and
  subtitle streams along with the batch they were read with.
- **inference** (the caller's thread, which is the only one that touches the device): runs the
  ``infer`` function on each batch, reports progress, forwards the result.
- **encode thread**: hands each RGB frame, with the input frame's own pts (so variable frame rates and
  A/V sync are kept), to the one video writer (:class:`inter4k.video.VideoWriter`: pixel format,
  colour, packet durations), and muxes the copied packets into the same container.

Queues hold a few batches, so memory stays bounded whatever the length of the video. An error in any
stage (or Ctrl-C, or SIGTERM) stops the other two, closes both files and deletes the partial output
and the folders made for it. The output is written under a name unique to the run beside the final
one (:func:`inter4k.atomic.part_path`) and renamed into place only when complete.

- **Output containers**: .mp4, .m4v, .mov, .mkv and .webm (:data:`OUTPUT_SUFFIXES`), which store each
  frame's own time; any other (.avi keeps no timestamps, only a frame rate) is refused up front.
- **Partial input** (:func:`run_video` with ``allow_partial``): the video stream ends before what its
  container declares (fewer packets than its declared frame count, as an MP4 sample table gives; or,
  without a count, decoded frames that stop more than 1.5 frame intervals short of the stream's own
  declared duration, as Matroska's per-track DURATION gives), or the decoder fails after at least one
  frame. That is a :class:`PartialInputError` (nothing written) unless ``allow_partial``, which writes
  the frames that decode and reports ``missing_frames`` and ``partial``. The container's overall
  duration is not used: audio may outlast the video.
- **Bit depth**: frames go through the model as 8-bit RGB, or as 16-bit RGB (``uint16``) when the input
  or the output pixel format has more than 8 bits per component (10-bit input or ``yuv420p10le``).
- **Rotation**: the input's display matrix (a phone video's "rotate 90") is written on the output
  stream, so players turn it the same way; the pixels are not rotated.

Streams:

- **Video**: the first video stream. Output frame *i* gets decoded frame *i*'s pts in the input
  stream's time base (the output stream uses that time base, unless the muxer insists on another, in
  which case the times are rescaled exactly when they can be), and its duration; frames without a
  pts (raw elementary streams) are timed ``i / frame rate``. A pts that does not increase is moved
  to one tick after the previous one (with a warning) because encoders refuse such input.
- **Timed mode** (frame interpolation, :func:`run_video` with ``timed=True``): the infer function
  returns its own frames with their own timestamps (any number per batch, plus a final flush), and
  the output stream takes their time base instead of the input's.
- **Audio / subtitles**: each stream is copied packet for packet (no re-encoding) when the output
  container can hold its codec. Otherwise audio is decoded and re-encoded to AAC (same rate and
  channel count; for a container that takes no AAC, such as WebM, its default audio codec or Opus)
  and subtitles are dropped; both cases warn. Data and attachment streams are not copied.
- **Colour**: frames are decoded to RGB with their own colour matrix (BT.601 when untagged) and
  encoded with BT.709 for outputs 720 lines or taller (BT.601 below), tagged accordingly, limited
  range; both conversions use exact rounding and full chroma interpolation (swscale's defaults
  darken a round trip by about one level).
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional

import av
import numpy as np
import torch

from ..video import EXACT_SWS, FrameConverter, VideoError, VideoWriter

__all__ = ["EncodeSettings", "VideoRunResult", "VIDEO_SUFFIXES", "OUTPUT_SUFFIXES", "default_video_suffix",
           "output_suffix_error", "open_video", "run_video", "X264_PRESETS", "check_encoder", "PartialInputError"]

#: Output containers kept as given for the default output name; any other input suffix gives .mp4.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v")
#: The containers a video output may have: each stores every frame's own timestamp (.webm needs a
#: VP8 / VP9 / AV1 --codec).
OUTPUT_SUFFIXES = VIDEO_SUFFIXES + (".webm",)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
_CRF_CODECS = ("libx264", "libx264rgb", "libx265", "libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1")
_PRESET_CODECS = ("libx264", "libx264rgb", "libx265")
_SUBSAMPLED = ("420", "422", "411", "410", "nv12", "nv16", "nv21", "p010", "p016")
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_POLL = 0.1  # seconds between checks of the stop flag while a queue is full / empty


def default_video_suffix(path: Path) -> str:
    s = path.suffix.lower()
    return s if s in VIDEO_SUFFIXES else ".mp4"


def output_suffix_error(dst: Path) -> Optional[str]:
    """Why ``dst`` cannot be a video output (its container is not one of :data:`OUTPUT_SUFFIXES`), or None."""
    if dst.suffix.lower() in OUTPUT_SUFFIXES:
        return None
    kind = f"{dst.suffix} outputs are" if dst.suffix else "an output without a suffix is"
    return (f"{dst}: {kind} not supported (the container must keep each frame's timestamp); "
            f"use {', '.join(OUTPUT_SUFFIXES)}")


class PartialInputError(VideoError):
    """The input video ends before what its container declares, or stops decoding part way."""


def _bits(pix_fmt: Optional[str]) -> int:
    """Bits per component of a pixel format (8 when unknown)."""
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except Exception:  # noqa: BLE001 - None or a name this FFmpeg does not know
        return 8


def _declared_end(v) -> Optional[float]:
    """Where the video stream itself says it ends (seconds): its duration from its start, or Matroska's
    per-track DURATION tag; None when it says nothing."""
    tb = v.time_base
    start = float((v.start_time or 0) * tb) if tb is not None else 0.0
    if v.duration and tb is not None:
        return start + float(v.duration * tb)
    tag = (v.metadata or {}).get("DURATION")
    if tag:
        try:
            h, m, sec = tag.split(":")
            return start + int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            return None
    return None


def _display_matrix(frame) -> Optional[list[int]]:
    """The 9 int32 of a decoded frame's display matrix (rotation / flips), or None."""
    # by name: iterating side_data gives the entries up to PyAV 18.1.0 and their types from 18.1.1
    sd = frame.side_data.get("DISPLAYMATRIX")
    if sd is None:
        return None
    matrix = np.frombuffer(bytes(sd), dtype=np.int32)
    return [int(v) for v in matrix[:9]] if matrix.size >= 9 else None


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: Optional[int] = 18
    preset: Optional[str] = "medium"
    pix_fmt: str = "yuv420p"
    options: Optional[dict] = None

    def encoder_options(self) -> dict:
        opts = dict(self.options or {})
        if self.crf is not None and self.codec in _CRF_CODECS:
            opts.setdefault("crf", str(self.crf))
            if self.codec in ("libvpx", "libvpx-vp9"):
                opts.setdefault("b", "0")
        if self.preset is not None and self.codec in _PRESET_CODECS:
            opts.setdefault("preset", self.preset)
        return opts


def check_encoder(enc: EncodeSettings) -> None:
    """ValueError for an encoder, CRF, preset or pixel format this PyAV build cannot use."""
    try:
        codec = av.codec.Codec(enc.codec, "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for an unknown codec
        raise ValueError(f"no such video encoder in this PyAV build: {enc.codec!r}") from None
    if codec.type != "video":
        raise ValueError(f"{enc.codec!r} is not a video encoder")
    if enc.crf is not None and not 0 <= int(enc.crf) <= 63:
        raise ValueError(f"crf must be in 0..51 (x264/x265; 0..63 for VP9/AV1), got {enc.crf}")
    if enc.crf is not None and enc.codec in _PRESET_CODECS and int(enc.crf) > 51:
        raise ValueError(f"crf must be in 0..51 for {enc.codec}, got {enc.crf}")
    if enc.preset is not None and enc.codec in _PRESET_CODECS and enc.preset not in X264_PRESETS:
        raise ValueError(f"unknown preset {enc.preset!r}; choose from {', '.join(X264_PRESETS)}")
    try:
        av.VideoFormat(enc.pix_fmt)
    except Exception:  # noqa: BLE001
        raise ValueError(f"unknown pixel format {enc.pix_fmt!r}") from None
    formats = [f.name for f in (codec.video_formats or [])]
    if formats and enc.pix_fmt not in formats:
        raise ValueError(f"{enc.codec} cannot encode pixel format {enc.pix_fmt!r}; it takes {', '.join(formats)}")


def open_video(path: Path):
    """Open ``path`` with PyAV; VideoError (a ValueError) naming the file when it is not a video."""
    try:
        c = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: not an image or a video that can be read ({type(exc).__name__}: {exc})") from None
    if not c.streams.video:
        c.close()
        raise VideoError(f"{path}: has no video stream")
    return c


@dataclass
class VideoRunResult:
    frames_in: int = 0
    frames_out: int = 0
    declared_frames: Optional[int] = None
    size_in: tuple[int, int] = (0, 0)
    size_out: tuple[int, int] = (0, 0)
    fps: Optional[Fraction] = None
    streams: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_frames: Optional[int] = None   # frames the container declares that did not decode (partial input)
    partial: Optional[str] = None          # why the input is incomplete; None when it is complete


class _Stopped(Exception):
    """Raised inside a worker when the pipeline is being torn down."""


@dataclass
class _Route:
    """What happens to one non-video input stream."""

    index: int            # input stream index
    mode: str             # "copy" | "encode"
    out: object           # the output stream


def _put(q: queue.Queue, item, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            q.put(item, timeout=_POLL)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event):
    while True:
        try:
            return q.get(timeout=_POLL)
        except queue.Empty:
            if stop.is_set():
                raise _Stopped from None


class _Pipeline:
    def __init__(self, src: Path, dst: Path, infer: Callable[[torch.Tensor], torch.Tensor], scale: int,
                 enc: EncodeSettings, batch: int, progress: Optional[Callable[[int, Optional[int]], None]],
                 pin_memory: bool, queue_batches: int = 2, timed: bool = False,
                 flush: Optional[Callable[[], Optional[tuple]]] = None, out_rate: Optional[Fraction] = None,
                 allow_partial: bool = False, on_warning: Optional[Callable[[str], None]] = None):
        self.src, self.dst = src, dst
        self.allow_partial, self.on_warning = allow_partial, on_warning
        self.writer: Optional[VideoWriter] = None
        self.display_matrix: Optional[list[int]] = None  # set by the decode thread before the first batch
        self.infer, self.scale, self.enc, self.batch = infer, scale, enc, batch
        self.timed, self.flush, self.out_rate = timed, flush, out_rate
        self.produced = 0  # frames the infer (and flush) functions returned
        self.progress = progress
        self.pin_memory = pin_memory
        self.stop = threading.Event()
        self.dq: queue.Queue = queue.Queue(maxsize=queue_batches)
        self.eq: queue.Queue = queue.Queue(maxsize=queue_batches)
        self.errors: list[BaseException] = []
        self.result = VideoRunResult()
        self.routes: dict[int, _Route] = {}
        self._warned: set[str] = set()

    def warn(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self.result.warnings.append(msg)
            if self.on_warning is not None:
                self.on_warning(msg)
            else:
                warnings.warn(msg, stacklevel=3)

    # --- setup ---------------------------------------------------------------------------------
    def _setup(self) -> None:
        self.inp = open_video(self.src)
        v = self.v = self.inp.streams.video[0]
        v.thread_type = "AUTO"
        cc = v.codec_context
        w, h = cc.width, cc.height
        if not w or not h:
            raise VideoError(f"{self.src}: the video stream has no frame size")
        rate = v.average_rate or v.guessed_rate or v.base_rate
        self.rate = Fraction(rate) if rate else Fraction(25)
        r = self.result
        r.size_in = (w, h)
        r.declared_frames = v.frames or None
        self.declared_end = _declared_end(v)
        r.fps = self.rate
        self.deep = _bits(cc.pix_fmt) > 8 or _bits(self.enc.pix_fmt) > 8
        self.rgb = "rgb48le" if self.deep else "rgb24"  # 16-bit frames through the model when either side has > 8 bits
        ow, oh = w * self.scale, h * self.scale
        if any(k in self.enc.pix_fmt for k in _SUBSAMPLED) and (ow % 2 or oh % 2):
            lost = " and ".join(n for n, odd in (("column", ow % 2), ("row", oh % 2)) if odd)
            self.warn(f"{ow}x{oh} is odd, which {self.enc.pix_fmt} cannot hold; the last {lost} of the output "
                      f"{'are' if ow % 2 and oh % 2 else 'is'} cropped")
            ow, oh = ow - ow % 2, oh - oh % 2
        r.size_out = (ow, oh)

        self.writer = VideoWriter(self.dst, self.out_rate or self.rate, (ow, oh), codec=self.enc.codec, crf=None,
                                  preset=None, pix_fmt=self.enc.pix_fmt, options=self.enc.encoder_options(),
                                  tag_colour=True)
        self.out = self.writer.container
        try:
            for k, val in self.inp.metadata.items():
                if k.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands"):
                    self.out.metadata[k] = val
        except Exception:  # noqa: BLE001 - metadata is a nicety
            pass
        r.streams.append(f"video #{v.index}: {cc.name} {w}x{h} {cc.pix_fmt} -> {self.enc.codec} {ow}x{oh} "
                         f"{self.enc.pix_fmt}, through {'16' if self.deep else '8'}-bit RGB")

        for st in self.inp.streams:
            if st.index == v.index:
                continue
            if st.type == "video":
                r.streams.append(f"video #{st.index}: not copied (only the first video stream is upscaled)")
                continue
            if st.type not in ("audio", "subtitle"):
                r.streams.append(f"{st.type} #{st.index}: not copied")
                continue
            name = st.codec_context.name if st.codec_context is not None else "?"
            try:
                out = self.out.add_stream_from_template(st)
                self._copy_tags(st, out)
                self.routes[st.index] = _Route(st.index, "copy", out)
                r.streams.append(f"{st.type} #{st.index}: {name} copied")
                continue
            except ValueError as exc:
                reason = str(exc)
            if st.type == "audio":
                added = self._add_audio_encoder(st)
                if added is None:
                    r.streams.append(f"audio #{st.index}: {name} dropped")
                    self.warn(f"audio stream #{st.index} ({name}) cannot be copied into {self.dst.suffix} ({reason}) "
                              "and no audio encoder this container takes is available; dropped")
                    continue
                out, codec = added
                self._copy_tags(st, out)
                self.routes[st.index] = _Route(st.index, "encode", out)
                label = "AAC" if codec == "aac" else codec
                r.streams.append(f"audio #{st.index}: {name} re-encoded to {label}")
                self.warn(f"audio stream #{st.index} ({name}) cannot be copied into {self.dst.suffix} ({reason}); "
                          f"re-encoding it to {label}")
            else:
                r.streams.append(f"subtitle #{st.index}: {name} dropped")
                self.warn(f"subtitle stream #{st.index} ({name}) cannot be copied into {self.dst.suffix} "
                          f"({reason}); dropped (use an .mkv output to keep it)")

    def _add_audio_encoder(self, st):
        """An output stream re-encoding audio stream ``st``: AAC when the container takes it, else the
        container's default audio codec, else Opus / FLAC / MP3; (stream, codec name) or None."""
        cc_in = st.codec_context
        candidates = ["aac"]
        try:
            default = self.out.default_audio_codec
            if default and default != "none":
                candidates.append(default)
        except Exception:  # noqa: BLE001
            pass
        candidates += ["libopus", "flac", "libmp3lame"]
        try:
            supported = self.out.supported_codecs
        except Exception:  # noqa: BLE001
            supported = set()
        channels = cc_in.layout.nb_channels if cc_in.layout is not None else 2
        for name in dict.fromkeys(candidates):
            try:
                codec = av.codec.Codec(name, "w")
            except Exception:  # noqa: BLE001 - not in this build
                continue
            if codec.type != "audio" or (supported and codec.name not in supported):
                continue
            if "experimental" in str(getattr(codec, "capabilities", "")).lower():
                continue
            rate = cc_in.sample_rate or 48000
            rates = list(codec.audio_rates or [])
            if rates and rate not in rates:
                rate = 48000 if 48000 in rates else max(rates)
            try:
                out = self.out.add_stream(name, rate=rate)
            except ValueError:
                continue
            # encoders want a named channel order; an unordered "N channels" layout gets the default one
            out.layout = _DEFAULT_LAYOUTS.get(channels, "stereo")
            return out, codec.name
        return None

    @staticmethod
    def _copy_tags(src, dst) -> None:
        try:
            for k in ("language", "title"):
                if k in src.metadata:
                    dst.metadata[k] = src.metadata[k]
        except Exception:  # noqa: BLE001
            pass

    # --- decode thread -------------------------------------------------------------------------
    def _decode(self) -> None:
        v = self.v
        n = 0
        arrs: list[np.ndarray] = []
        times: list[tuple] = []
        extras: list[tuple] = []

        def emit() -> None:
            nonlocal arrs, times, extras
            if not arrs and not extras:
                return
            x = None
            if arrs:
                x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)  # (B, 3, H, W) view of NHWC
                if self.pin_memory:
                    x = x.pin_memory()
            _put(self.dq, ("batch", x, times, extras), self.stop)
            arrs, times, extras = [], [], []

        packets = 0          # video packets read (with data)
        last_end = None      # where the last decoded frame ends (seconds), when frames carry times
        failure = None       # the decoder's error, when it stopped part way
        try:
            streams = [v] + [self.inp.streams[i] for i in self.routes]
            size = None
            convert = FrameConverter()
            demuxed = self.inp.demux(*streams)
            while True:
                try:
                    packet = next(demuxed)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:  # a read error: the file ends (or breaks) here
                    failure = exc
                    break
                if self.stop.is_set():
                    raise _Stopped
                if packet.stream.index == v.index:
                    packets += packet.size > 0
                    try:
                        decoded = packet.decode()
                    except av.error.FFmpegError as exc:
                        failure = exc
                        break
                    for frame in decoded:
                        arr = convert.array(frame, self.rgb, interpolation=EXACT_SWS)
                        if size is None:
                            size = arr.shape
                            self.display_matrix = _display_matrix(frame)
                        elif arr.shape != size:
                            raise VideoError(f"{self.src}: the frame size changes at frame {n} "
                                             f"({size[1]}x{size[0]} -> {arr.shape[1]}x{arr.shape[0]}); not supported")
                        arrs.append(arr)
                        times.append((frame.pts, frame.time_base, frame.duration))
                        if frame.pts is not None and frame.time_base is not None:
                            last_end = float((frame.pts + (frame.duration or 0)) * frame.time_base)
                            if not frame.duration:
                                last_end += float(1 / self.rate)
                        n += 1
                        if len(arrs) >= self.batch:
                            emit()
                    continue
                route = self.routes.get(packet.stream.index)
                if route is None:
                    continue
                if route.mode == "copy":
                    if packet.dts is None or packet.size == 0:
                        continue
                    extras.append(("packet", route, packet))
                else:
                    for af in packet.decode():
                        extras.append(("aframe", route, af))
                if len(extras) >= 256 and not arrs:
                    emit()
            self._check_complete(n, packets, last_end, failure)
            emit()
            _put(self.dq, ("end", n), self.stop)
        except _Stopped:
            return
        except av.error.FFmpegError as exc:
            self._fail(VideoError(f"{self.src}: decoding failed after {n} frames ({type(exc).__name__}: {exc})"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._fail(exc)

    def _check_complete(self, n: int, packets: int, last_end: Optional[float],
                        failure: Optional[BaseException]) -> None:
        """The partial-input rule (module docstring): PartialInputError, or with ``allow_partial`` a
        warning and ``missing_frames`` / ``partial`` in the result."""
        r = self.result
        declared = r.declared_frames
        missing = None
        reasons = []
        if failure is not None:
            reasons.append(f"decoding failed after {n} frames ({type(failure).__name__}: {failure})")
        if declared and packets < declared:
            missing = declared - n
            reasons.append(f"the container declares {declared} frames, {packets} could be read")
        elif not declared and self.declared_end is not None and last_end is not None:
            short = self.declared_end - last_end
            if short > 1.5 / float(self.rate):
                missing = round(short * float(self.rate))
                reasons.append(f"the video stream declares {self.declared_end:.3f} s, its frames end at {last_end:.3f} s")
        elif failure is not None and declared:
            missing = max(declared - n, 0)
        if not reasons:
            return
        if n == 0:
            raise VideoError(f"{self.src}: no video frame could be decoded ({'; '.join(reasons)})")
        lost = f"{missing} frames missing" if missing is not None else "frames missing"
        why = f"{self.src}: {'; '.join(reasons)}; {lost} (the input is truncated or damaged)"
        if not self.allow_partial:
            raise PartialInputError(f"{why}. Nothing was written; --allow-partial keeps the {n} frames that decode")
        r.missing_frames, r.partial = missing, why
        self.warn(f"{why}; writing the {n} frames that decode (--allow-partial)")

    def _fail(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.stop.set()

    # --- encode thread -------------------------------------------------------------------------
    def _encode(self) -> None:
        writer, out = self.writer, self.out
        ow, oh = self.result.size_out
        pending: list[tuple] = []   # side-stream items seen before the first video frame
        started = False
        synth = False               # frames carry no pts: time them i / rate
        tb = None
        last_pts = None
        written = 0

        def mux_extra(item) -> None:
            kind, route, obj = item
            if kind == "packet":
                obj.stream = route.out
                out.mux(obj)
            else:
                out.mux(route.out.encode(obj))

        try:
            while True:
                item = _get(self.eq, self.stop)
                if item[0] == "end":
                    break
                _, y, times, extras = item
                if y is not None:
                    frames = y.numpy()
                    for i in range(frames.shape[0]):
                        pts, ftb, dur = times[i]
                        if not started:
                            writer.display_matrix = self.display_matrix  # the input's rotation, kept
                            synth = pts is None or ftb is None
                            tb = Fraction(1, 1) / self.rate if synth else Fraction(ftb)
                            writer.start(tb)
                        if synth:
                            pts, dur = written, 1
                        elif pts is None:
                            pts = last_pts + max(1, round(1 / (self.rate * tb)))
                            self.warn(f"{self.src}: frame {written} has no timestamp; placed one frame after the previous")
                        elif ftb != tb:
                            pts = round(Fraction(pts) * Fraction(ftb) / tb)
                        if last_pts is not None and pts <= last_pts:
                            self.warn(f"{self.src}: timestamps do not increase at frame {written}; "
                                      "moved to one tick after the previous frame")
                            pts = last_pts + 1
                        arr = frames[i]
                        if arr.shape[0] != oh or arr.shape[1] != ow:
                            arr = arr[:oh, :ow]
                        d = None
                        if dur:
                            d = int(dur) if synth or ftb == tb else round(Fraction(dur) * Fraction(ftb) / tb)
                        writer.write(arr, pts, d if d and d > 0 else None)
                        last_pts = pts
                        written += 1
                        if not started:
                            started = True
                            for p in pending:
                                mux_extra(p)
                            pending.clear()
                for e in extras:
                    if started:
                        mux_extra(e)
                    else:
                        pending.append(e)
            writer.flush()
            for p in pending:
                mux_extra(p)
            for route in self.routes.values():
                if route.mode == "encode":
                    out.mux(route.out.encode(None))
            self.result.frames_out = written
        except _Stopped:
            return
        except av.error.FFmpegError as exc:
            self._fail(RuntimeError(f"{self.dst}: encoding failed after {written} frames "
                                    f"({type(exc).__name__}: {exc})"))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._fail(exc)

    # --- the whole run -------------------------------------------------------------------------
    def _raise_worker_error(self) -> None:
        if self.errors:
            raise self.errors[0]

    def run(self) -> VideoRunResult:
        self.inp = self.out = None
        threads: list[threading.Thread] = []
        ok = False
        try:
            self._setup()
            dec = threading.Thread(target=self._decode, name="inter4k-decode", daemon=True)
            encth = threading.Thread(target=self._encode, name="inter4k-encode", daemon=True)
            threads = [dec, encth]
            dec.start()
            encth.start()
            total = self.result.declared_frames
            done = 0
            if self.progress:
                self.progress(0, total)
            while True:
                try:
                    item = _get(self.dq, self.stop)
                except _Stopped:
                    self._raise_worker_error()
                    raise RuntimeError("the decode stage stopped without an error") from None
                if item[0] == "end":
                    self.result.frames_in = item[1]
                    break
                _, x, times, extras = item
                y = None
                if x is not None:
                    if self.timed:  # frames of their own number and times
                        y, times = self.infer(x, times)
                    else:
                        y = self.infer(x)
                    if y.device.type != "cpu":
                        y = y.cpu()
                    self.produced += y.shape[0]
                try:
                    _put(self.eq, ("batch", y, times, extras), self.stop)
                except _Stopped:
                    self._raise_worker_error()
                    raise
                if x is not None:
                    done += x.shape[0]
                    if self.progress:
                        self.progress(done, total)
            if self.result.frames_in == 0:
                raise VideoError(f"{self.src}: no video frame could be decoded")
            tail = self.flush() if self.flush is not None else None
            if tail is not None:  # frames the infer function held back (e.g. the last frame's repeats)
                y, times = tail
                self.produced += y.shape[0]
                try:
                    _put(self.eq, ("batch", y.cpu(), times, []), self.stop)
                except _Stopped:
                    self._raise_worker_error()
                    raise
            try:
                _put(self.eq, ("end",), self.stop)
            except _Stopped:
                self._raise_worker_error()
                raise
            while encth.is_alive():
                encth.join(timeout=_POLL)
            self._raise_worker_error()
            expected = self.produced if self.timed else self.result.frames_in
            if self.result.frames_out != expected:
                raise RuntimeError(f"{self.dst}: encoded {self.result.frames_out} frames of "
                                   f"{expected} {'made' if self.timed else 'decoded'}")
            self.writer.close()
            ok = True
            return self.result
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=30)
            if self.inp is not None:
                try:
                    self.inp.close()
                except Exception:  # noqa: BLE001
                    pass
            if not ok and self.writer is not None:
                self.writer.abort()


def run_video(src: Path, dst: Path, infer: Callable[[torch.Tensor], torch.Tensor], scale: int,
              enc: EncodeSettings = EncodeSettings(), batch: int = 1,
              progress: Optional[Callable[[int, Optional[int]], None]] = None,
              pin_memory: bool = False, *, timed: bool = False,
              flush: Optional[Callable[[], Optional[tuple]]] = None,
              out_rate: Optional[Fraction] = None, allow_partial: bool = False,
              on_warning: Optional[Callable[[str], None]] = None) -> VideoRunResult:
    """Upscale every frame of ``src`` with ``infer`` into ``dst`` (see the module docstring).

    ``infer`` takes a CPU tensor ``(B, 3, H, W)``, uint8, or uint16 when the input or the output has
    more than 8 bits, and returns ``(B, sH, sW, 3)`` of the same type (CPU or device).
    ``progress(done, total)`` is called from the calling thread after each batch (total is None when
    the file declares no frame count). Raises VideoError (a ValueError) for input that cannot be
    read, :class:`PartialInputError` for input that ends early unless ``allow_partial`` (see the module
    docstring); nothing is left at ``dst`` (or its temporary name) unless the run completes.
    ``on_warning(message)`` gets each warning as it arises (default: :func:`warnings.warn`); they are
    also in the result.

    Timed mode (``timed=True``, used by frame interpolation) lets the output have its own frames:
    ``infer(x, times)`` gets the batch and each frame's ``(pts, time_base, duration)`` (pts None for
    streams without timestamps) and returns ``(y, out_times)``: any number M >= 0 of frames
    ``(M, sH, sW, 3)`` uint8 and one ``(pts, time_base, duration)`` per frame, every pts an int in
    that time base (which the output stream then uses). ``flush()``, if given, is called once after
    the last batch and returns None or one more ``(y, out_times)`` (frames held back for context).
    ``out_rate`` is the nominal frame rate given to the encoder (default: the input's). The run
    checks that every frame made was encoded.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    t0 = time.perf_counter()
    result = _Pipeline(Path(src), Path(dst), infer, scale, enc, batch, progress, pin_memory, timed=timed,
                       flush=flush, out_rate=out_rate, allow_partial=allow_partial, on_warning=on_warning).run()
    result.seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    return result
