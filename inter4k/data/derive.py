"""``inter4k derive``: build the lower-resolution / lower-frame-rate tree from the 60 fps UHD source.

What is made (docs/DATA.md#the-inter4k-data-set, as the official ``resolution_changes.py`` lays it
out, which makes the frame rate variants of every 60 fps folder, UHD included):

- ``Inter4K/60fps/<RES>/<n>.mp4`` for each requested resolution (default QHD, FHD, HD, qHD, nHD);
- ``Inter4K/<fps>fps/<RES>/<n>.mp4`` for each requested frame rate (default 50, 30, 24, 15) at UHD
  and at each requested resolution: every (fps, resolution) pair.

How:

- One decoding pass per output size: the outputs of one resolution (its 60, 50, 30, 24 and 15 fps
  versions) are written in the same pass, so each source frame is resized once per resolution,
  and only the encoders of one size are open at a time (decoding costs little next to encoding;
  all 29 outputs at once took 7.5 GB for a UHD clip).
- Resizing is done on the decoded YUV 4:2:0 planes (luma at the output size, chroma at half of it)
  with OpenCV's ``INTER_AREA`` (area averaging: antialiased, no ringing), so there is no
  YUV->RGB->YUV round trip and no chroma re-subsampling. Output sizes are
  :func:`layout.scaled_size` (the official sizes for a UHD source).
- Frame rate conversion picks, for output frame k (time k/fps), the source frame nearest to it:
  ``i = floor(k * src_fps / fps + 1/2)`` (a tie goes to the later frame), computed with exact
  fractions; an output has ``floor(N * fps / src_fps + 1/2)`` frames for N decoded source frames,
  i.e. round(duration x fps) with duration = N / src_fps (5 s at 60 fps -> 250/150/120/75 frames).
  This is what ffmpeg's ``fps`` filter (``round=near``) does, which the official script uses.
  Output frame rates are exact (``Fraction(fps)``), timestamps are ``k / fps``.
- Encoding: H.264 (libx264) CRF 10, preset medium, yuv420p by default: near-lossless, so the
  lower resolutions are not visibly compressed a second time (the official script re-encodes at
  ffmpeg's default CRF 23). All configurable. The source's colour tags are copied.
- Audio: the source's audio packets are copied (remuxed, not re-encoded) into every output, so each
  output has the source's audio, bit for bit and of the same duration. A source without audio gives
  outputs without audio.
- Resumable: each output is written under a temporary name unique to the run
  (``.<n>.part-<pid>-<random>.mp4``, see :class:`inter4k.video.VideoWriter`) and renamed when complete,
  so an existing ``<n>.mp4`` is finished and skipped; a clip whose outputs all exist is not decoded at
  all. A stale ``.part`` file from a killed run (its process gone) is deleted. ``overwrite=True``
  remakes everything.
- Clips run in parallel in a process pool (one clip per task, default min(4, cores) workers). Ctrl-C
  or SIGTERM (:mod:`inter4k.interrupt`) stops the workers and deletes their partial files.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import av
import cv2
import numpy as np

from ..video import FrameConverter, VideoWriter, remove_stale_parts
from ..progress import ProgressFn, Reporter, item_form
from . import layout
from ._parallel import run_jobs

DEFAULT_RESOLUTIONS: tuple[str, ...] = ("QHD", "FHD", "HD", "qHD", "nHD")
DEFAULT_FRAME_RATES: tuple[int, ...] = (50, 30, 24, 15)
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 10
DEFAULT_PRESET = "medium"
DEFAULT_PIX_FMT = "yuv420p"


@dataclass(frozen=True)
class Encoding:
    """Video encoder settings for the derived files (``crf``/``preset`` apply to libx264/libx265)."""

    codec: str = DEFAULT_CODEC
    crf: Optional[int] = DEFAULT_CRF
    preset: Optional[str] = DEFAULT_PRESET
    pix_fmt: str = DEFAULT_PIX_FMT


@dataclass(frozen=True)
class Target:
    """One derived file: frame rate, resolution name, path."""

    fps: int
    res: str
    path: Path


@dataclass
class ClipResult:
    clip: int
    made: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    error: Optional[str] = None
    source_frames: Optional[int] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DeriveReport:
    root: Path
    pairs: list[tuple[int, str]]
    encoding: Encoding
    clips: list[ClipResult]

    @property
    def made(self) -> int:
        return sum(len(c.made) for c in self.clips)

    @property
    def skipped(self) -> int:
        return sum(len(c.skipped) for c in self.clips)

    @property
    def failures(self) -> list[ClipResult]:
        return [c for c in self.clips if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "pairs": [f"{f}fps/{r}" for f, r in self.pairs],
            "encoding": vars(self.encoding),
            "clips": len(self.clips),
            "made": self.made,
            "skipped": self.skipped,
            "failed": [{"clip": c.clip, "error": c.error} for c in self.failures],
            "ok": self.ok,
        }


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def parse_resolutions(value: str | Iterable[str] | None) -> list[str]:
    """``"QHD,FHD"`` or a list -> validated names, in the canonical order (UHD allowed, not needed)."""
    names = _as_list(value)
    bad = [n for n in names if n not in layout.RESOLUTIONS]
    if bad:
        raise ValueError(f"unknown resolution(s) {', '.join(bad)}; choose from {', '.join(layout.RESOLUTIONS)}")
    return [r for r in layout.RESOLUTIONS if r in names]


def parse_frame_rates(value: str | Iterable[int] | None, source_fps: int = layout.SOURCE_FPS) -> list[int]:
    """``"50,30"`` or a list -> validated integer frame rates in 1..source fps, descending."""
    out = []
    for v in _as_list(value):
        try:
            f = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"frame rates must be integers, got {v!r}") from None
        if not 1 <= f <= source_fps:
            raise ValueError(f"frame rate {f} is out of range 1..{source_fps} (the source's rate)")
        out.append(f)
    return sorted(set(out), reverse=True)


def plan_pairs(resolutions: Sequence[str] = DEFAULT_RESOLUTIONS,
               frame_rates: Sequence[int] = DEFAULT_FRAME_RATES) -> list[tuple[int, str]]:
    """Every (fps, resolution) to make: the resolutions at the source rate, and each frame rate at UHD
    and at each resolution; never (60, UHD), which is the source."""
    res = parse_resolutions(resolutions)
    rates = parse_frame_rates(frame_rates)
    pairs = [(layout.SOURCE_FPS, r) for r in res if r != layout.SOURCE_RES]
    all_res = [r for r in layout.RESOLUTIONS if r == layout.SOURCE_RES or r in res]
    pairs += [(f, r) for f in rates if f != layout.SOURCE_FPS for r in all_res]
    return pairs


def targets_for(root: Path, clip: int, pairs: Sequence[tuple[int, str]]) -> list[Target]:
    return [Target(f, r, layout.clip_path(root, clip, fps=f, res=r)) for f, r in pairs]


def source_index(k: int, src_fps: Fraction, fps: Fraction) -> int:
    """The source frame nearest to output frame ``k``'s time k/fps (a tie goes to the later one)."""
    return math.floor(Fraction(k) * src_fps / fps + Fraction(1, 2))


def output_frames(source_frames: int, src_fps: Fraction, fps: Fraction) -> int:
    """Frames of an ``fps`` output made from ``source_frames`` frames at ``src_fps``: round(duration x fps)."""
    return math.floor(Fraction(source_frames) * fps / src_fps + Fraction(1, 2))


class _Planes:
    """A decoded frame as flat yuv420p (what ``VideoFrame.from_ndarray(..., 'yuv420p')`` takes),
    resized lazily to each output size, once per size."""

    def __init__(self, flat: np.ndarray, size: tuple[int, int]):
        self.size = size
        self.cache: dict[tuple[int, int], np.ndarray] = {size: flat.reshape(-1, size[0])}

    def at(self, size: tuple[int, int]) -> np.ndarray:
        out = self.cache.get(size)
        if out is None:
            W, H = self.size
            flat = self.cache[self.size].reshape(-1)
            y = flat[: W * H].reshape(H, W)
            u = flat[W * H: W * H * 5 // 4].reshape(H // 2, W // 2)
            v = flat[W * H * 5 // 4:].reshape(H // 2, W // 2)
            w, h = size
            planes = [cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA),
                      cv2.resize(u, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                      cv2.resize(v, (w // 2, h // 2), interpolation=cv2.INTER_AREA)]
            out = np.concatenate([p.reshape(-1) for p in planes]).reshape(-1, w)
            self.cache[size] = out
        return out


class _Out:
    """One output being written: its writer, the next output frame index and frames held back until
    it is certain that they are inside the output (which depends on the source's final length)."""

    def __init__(self, target: Target, writer: VideoWriter, size: tuple[int, int], src_fps: Fraction):
        self.target = target
        self.writer = writer
        self.size = size
        self.fps = Fraction(target.fps)
        self.src_fps = src_fps
        self.next_k = 0
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.audio_stream = None
        self.written = 0

    def _write(self, k: int, planes: np.ndarray) -> None:
        vf = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        vf.pts, vf.time_base = k, 1 / self.fps
        self.writer.write(vf)
        self.written += 1

    def feed(self, i: int, frame: _Planes) -> None:
        """Source frame ``i`` (0-based) has been decoded."""
        while source_index(self.next_k, self.src_fps, self.fps) <= i:
            self.pending.append((self.next_k, frame.at(self.size)))
            self.next_k += 1
        # output frame k exists iff N >= (k + 1/2) * src_fps / fps for the final source length N
        while self.pending and (i + 1) * self.fps >= (self.pending[0][0] + Fraction(1, 2)) * self.src_fps:
            self._write(*self.pending.popleft())

    def finish(self, source_frames: int, last: Optional[_Planes]) -> None:
        n_out = output_frames(source_frames, self.src_fps, self.fps)
        while self.pending and self.pending[0][0] < n_out:
            self._write(*self.pending.popleft())
        while self.written < n_out and last is not None:  # only for fps > the source's
            self._write(self.written, last.at(self.size))
        if self.written != n_out:
            raise RuntimeError(f"{self.target.path}: wrote {self.written} frames, expected {n_out}")


def _copy_colour_tags(src_cc, dst_cc) -> None:
    for name in ("color_primaries", "color_trc", "colorspace", "color_range"):
        try:
            value = getattr(src_cc, name)
            if value:  # 0 / 2 mean unspecified for range / the others; leave those to the encoder
                setattr(dst_cc, name, value)
        except (AttributeError, TypeError, ValueError):
            pass


def derive_clip(source: str | os.PathLike, targets: Sequence[Target], encoding: Encoding = Encoding(),
                clip: Optional[int] = None, overwrite: bool = False) -> ClipResult:
    """Make the ``targets`` of one source clip, one decoding pass per output size; never raises for a bad source
    (the error is in the result, and no partial output is left behind)."""
    source = Path(source)
    result = ClipResult(clip=clip if clip is not None else (int(source.stem) if source.stem.isdigit() else 0))
    t0 = time.perf_counter()
    todo = []
    for t in targets:
        remove_stale_parts(t.path)  # temporary files of killed runs: never taken as done
        if t.path.exists() and not overwrite:
            result.skipped.append(t.path)
        else:
            todo.append(t)
    if not todo:
        return result
    # One decode pass per output size: decoding is cheap next to encoding, and it bounds memory to
    # the encoders of one size (all 29 outputs of a UHD clip at once took 7.5 GB).
    groups: dict[str, list[Target]] = {}
    for t in todo:
        groups.setdefault(t.res, []).append(t)
    for group in groups.values():
        _encode_pass(source, group, encoding, result)
        if result.error:
            break
    result.seconds = time.perf_counter() - t0
    return result


def _encode_pass(source: Path, todo: Sequence[Target], encoding: Encoding, result: ClipResult) -> None:
    """Decode ``source`` once and write every target in ``todo``; errors go into ``result``."""
    try:
        with av.open(str(source)) as c, ExitStack() as stack:
            if not c.streams.video:
                raise ValueError("the source has no video stream")
            v = c.streams.video[0]
            v.thread_type = "AUTO"
            a = c.streams.audio[0] if c.streams.audio else None
            src_size = (v.codec_context.width, v.codec_context.height)
            if src_size[0] % 2 or src_size[1] % 2:
                raise ValueError(f"the source size {src_size[0]}x{src_size[1]} is not even")
            rate = v.average_rate or v.guessed_rate
            if not rate:
                raise ValueError("the source declares no frame rate")
            src_fps = Fraction(rate)
            outs: list[_Out] = []
            for t in todo:
                size = src_size if t.res == layout.SOURCE_RES else layout.scaled_size(src_size, t.res)
                w = VideoWriter(t.path, Fraction(t.fps), size, codec=encoding.codec, crf=encoding.crf,
                                preset=encoding.preset, pix_fmt=encoding.pix_fmt, options=encoder_options(encoding.codec))
                stack.callback(w.abort)  # a no-op once closed; deletes the partial file otherwise
                _copy_colour_tags(v.codec_context, w.stream.codec_context)
                o = _Out(t, w, size, src_fps)
                if a is not None:
                    o.audio_stream = w.container.add_stream_from_template(a)
                outs.append(o)
            i = 0
            last = None
            convert = FrameConverter()
            for packet in c.demux(*([v, a] if a is not None else [v])):
                if packet.stream.type == "audio":
                    if packet.dts is None or packet.size == 0:
                        continue
                    data = bytes(packet)
                    for o in outs:  # muxing consumes a packet: each output gets its own copy
                        q = av.Packet(data)
                        q.pts, q.dts, q.duration = packet.pts, packet.dts, packet.duration
                        q.time_base = packet.time_base
                        q.is_keyframe = packet.is_keyframe
                        q.stream = o.audio_stream
                        o.writer.container.mux(q)
                    continue
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    raise RuntimeError(f"decode error after {i} frames: {exc}") from None
                for frame in frames:
                    last = _Planes(convert.array(frame, "yuv420p").reshape(-1), src_size)
                    for o in outs:
                        o.feed(i, last)
                    i += 1
            if i == 0:
                raise RuntimeError("no frame decodes")
            result.source_frames = i
            for o in outs:
                o.finish(i, last)
            for o in outs:
                o.writer.close()
                result.made.append(o.target.path)
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
        result.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, RuntimeError) else str(exc)


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# One decode pass feeds every output of a clip (29 by default), so each encoder's own frame threads
# and look-ahead multiply: with x264's defaults a 1 s UHD clip took 9.5 GB. Two threads and a 20-frame
# look-ahead per encoder bound that (parallelism comes from --workers, one clip per process).
X264_OPTIONS = {"threads": "2", "rc-lookahead": "20"}


def encoder_options(codec: str) -> dict:
    return dict(X264_OPTIONS) if codec in ("libx264", "libx265") else {}


def derive(root=None, resolutions: str | Sequence[str] = DEFAULT_RESOLUTIONS,
           fps: str | Sequence[int] = DEFAULT_FRAME_RATES, workers: Optional[int] = None,
           codec: str = DEFAULT_CODEC, crf: Optional[int] = DEFAULT_CRF, preset: Optional[str] = DEFAULT_PRESET,
           pix_fmt: str = DEFAULT_PIX_FMT, clips: Optional[Sequence[int]] = None, overwrite: bool = False,
           progress: Optional[Callable[[int, int, ClipResult], None]] = None,
           on_progress: Optional[ProgressFn] = None) -> DeriveReport:
    """Build the derived tree under ``root`` (see the module docstring for what and how).

    ``clips`` limits the work to those clip numbers (default: every source clip present).
    ``on_progress`` gets a :class:`~inter4k.progress.Progress` (stage "derive", unit "clips", info
    ``result``) as each clip finishes; ``progress(done, total, result)`` is its older form. A clip that
    fails is reported in the result (``report.failures``); the others are still made.
    """
    report = Reporter(on_progress, unit="clips", legacy=progress, form=item_form("result"))
    root = layout.resolve_root(root)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if crf is not None and not 0 <= int(crf) <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for an unknown codec
        raise ValueError(f"no such video encoder in this PyAV build: {codec!r}") from None
    encoding = Encoding(codec=codec, crf=None if crf is None else int(crf), preset=preset, pix_fmt=pix_fmt)
    pairs = plan_pairs(resolutions, fps)
    present = layout.list_clips(root)
    if not present:
        raise FileNotFoundError(f"no source clips in {layout.clip_dir(root)} (run `inter4k download` or "
                                f"`inter4k sample` first)")
    if clips is not None:
        wanted = sorted(set(int(n) for n in clips))
        absent = [n for n in wanted if n not in set(present)]
        if absent:
            raise FileNotFoundError(f"no source clip(s) {absent} in {layout.clip_dir(root)}")
        present = wanted
    results: list[ClipResult] = []
    total = len(present)

    def done(r: ClipResult) -> None:
        results.append(r)
        note = f"{r.clip}.mp4 " + ("FAIL" if r.error else f"+{len(r.made)} made, {len(r.skipped)} there")
        report("derive", len(results), total, note, result=r)

    slow = []
    for n in present:
        job = (layout.clip_path(root, n), targets_for(root, n, pairs), encoding, n, overwrite)
        if not overwrite and all(t.path.exists() for t in job[1]):
            done(derive_clip(*job))  # everything is there already: no decoding, no worker needed
        else:
            slow.append(job)
    try:
        run_jobs(derive_clip, slow, workers, done)
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: the workers are gone; delete the files they were writing
        for job in slow:
            for t in job[1]:
                remove_stale_parts(t.path)
        raise
    results.sort(key=lambda r: r.clip)
    return DeriveReport(root=root, pairs=pairs, encoding=encoding, clips=results)
