"""``inter4k interpolate``: raise a video's frame rate with a frame-interpolation (VFI) model.

    from inter4k.infer.interpolate import interpolate
    r = interpolate("clip.mp4", factor=2)                    # -> clip_x2.mp4 beside it, twice the frames
    r = interpolate("clip.mp4", fps="120")                   # -> clip_120fps.mp4
    r.output, r.frames_in, r.frames_out, r.scene_cuts, r.time_base

- **Timing** (exact; :mod:`inter4k.infer.timing`): with ``factor`` f, between input frames at p_i and
  p_{i+1} the output has f frames at ``p_i + k (p_{i+1} - p_i) / f`` (k = 0 is the input frame itself),
  in the time base ``input time base / f``; the last input frame is followed by f - 1 repeats that
  split its duration evenly, so the output has exactly f x the frames and the input's duration. With
  ``fps`` F, the output frames lie at ``first time + n / F`` up to the input's end, each made at its
  own t between its two neighbouring input frames.
- **Scene cuts** (:mod:`inter4k.infer.scene`): a pair of input frames whose luma difference jumps
  (ffmpeg minterpolate's rule, ``scene_threshold`` 10 by default, 0: off) is a cut; the frames
  between them are copies of the nearer input frame (t < 0.5: the earlier), never a morph.
- **Model**: an ``nn.Module`` with ``model(frame0, frame1, t)``, a registered VFI name ("vfi-small",
  "vfi-average", "vfi-nearest", "vfi-ffmpeg") or a checkpoint path, resolved by :func:`inter4k.models.resolve`
  (task "vfi"). ``None``: the bundled ``data/weights/vfi-small.pt``
  when it exists; until trained weights are bundled, frame averaging ("vfi-average"), with a warning
  (the untrained "vfi-small" is never chosen silently). "vfi-small" by name without bundled weights
  runs untrained (close to frame averaging), with a warning.
- **Everything else is as in** :mod:`inter4k.infer.upscale`: ``device`` (CUDA when available), ``dtype``
  fp32 / bf16 / fp16 (fp16 refused on the CPU), ``tile`` ("auto", a size in pixels, 0: off; out of memory
  retries with smaller tiles, no frame dropped), the threaded decode -> model -> encode pipeline of
  :mod:`inter4k.infer.video_pipeline` (audio and subtitles copied, colour, rotation and bit depth
  kept, a truncated input refused unless ``allow_partial``), and the output written under a temporary
  name unique to the run and renamed when complete.
- **Output name**: ``<stem>_x<factor><suffix>`` or ``<stem>_<fps>fps<suffix>`` beside the input (videos
  in other containers than .mp4/.mkv/.mov/.m4v become .mp4); an output must be .mp4, .m4v, .mov, .mkv
  or .webm. Matroska stores times in milliseconds, so in an .mkv / .webm output the exact times above
  are rounded to 1 ms; .mp4 / .mov keep them exactly.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..models.resolver import resolve
from ..video import probe
from .common import (FramePairModule, PathsAsText, ProgressFn, check_input, check_output, check_tiling, dtype_name, encode_settings,
                     is_image, oom_warning, resolve_precision)
from .scene import DEFAULT_SCENE_THRESHOLD, SceneCutDetector
from .tiling import MIN_TILE, TileRunner
from .timing import OutputFrame, Timeline
from .video_pipeline import check_encoder, default_video_suffix, output_suffix_error, run_video

__all__ = ["InterpolateResult", "interpolate", "parse_fps", "default_output",
           "MAX_FACTOR", "DEFAULT_VFI_OVERLAP"]

#: The largest --factor accepted.
MAX_FACTOR = 16
#: Tile overlap for VFI (pixels): wider than SR's, since a flow reaches further than a 3x3 stack.
DEFAULT_VFI_OVERLAP = 64

# Decimal spellings of the NTSC-family rates that mean N * 1000 / 1001 (as ffmpeg's ntsc / ntsc-film).
_NTSC = {"23.976": 24, "23.98": 24, "29.97": 30, "47.952": 48, "59.94": 60, "119.88": 120, "239.76": 240}


@dataclass
class InterpolateResult(PathsAsText):
    input: Path
    output: Path
    model: str
    device: str
    dtype: str
    factor: Optional[int]           # None with --fps
    fps_in: float                   # the input's nominal frame rate
    fps_out: float                  # the output's nominal frame rate
    time_base: str                  # the output stream's time base, e.g. "1/30720"
    frames_in: int
    frames_out: int
    synthesized: int                # frames made by the model
    duplicated: int                 # frames copied across a scene cut
    scene_cuts: list[int]           # i: a cut between input frames i and i + 1
    seconds: float
    speed: float                    # output frames per second, end to end
    size: tuple[int, int]           # (width, height)
    tile: Optional[int]
    oom_retries: int
    declared_frames: Optional[int] = None
    streams: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_frames: Optional[int] = None  # input frames the container declares that did not decode
    partial: Optional[str] = None         # why the input is incomplete (allow_partial); None: complete


def parse_fps(value: Union[str, int, float, Fraction]) -> Fraction:
    """A frame rate as an exact Fraction: "120", "60000/1001", "59.94" (the NTSC decimals 23.976, 29.97,
    59.94, 119.88 ... mean N*1000/1001), or a number. ValueError unless positive and at most 1000.

    Example:
        >>> parse_fps("59.94"), parse_fps("24"), parse_fps("25/2")
        (Fraction(60000, 1001), Fraction(24, 1), Fraction(25, 2))
    """
    if isinstance(value, bool):
        raise ValueError(f"fps must be a positive number, got {value!r}")
    text = str(value).strip()
    try:
        f = Fraction(_NTSC[text] * 1000, 1001) if text in _NTSC else Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"fps must be a number such as 120, 59.94 or 60000/1001, got {value!r}") from None
    if not 0 < f <= 1000:
        raise ValueError(f"fps must be in (0, 1000], got {value!r}")
    return f


def _fps_label(f: Fraction) -> str:
    if f.denominator == 1:
        return str(f.numerator)
    return f"{float(f):.3f}".rstrip("0").rstrip(".")


def default_output(path: Path, factor: Optional[int] = None, fps: Optional[Fraction] = None) -> Path:
    """``<stem>_x<factor><suffix>`` or ``<stem>_<fps>fps<suffix>`` beside ``path`` (suffix as for upscale)."""
    tag = f"x{factor}" if fps is None else f"{_fps_label(Fraction(fps))}fps"
    return path.with_name(f"{path.stem}_{tag}{default_video_suffix(path)}")


def _check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, int) or not 2 <= factor <= MAX_FACTOR:
        raise ValueError(f"factor must be an int from 2 to {MAX_FACTOR} (usually 2, 4 or 8), got {factor!r}")
    return factor


class _Interpolator:
    """The ``infer`` / ``flush`` pair given to :func:`run_video` in timed mode (runs in the caller's thread)."""

    def __init__(self, runner: TileRunner, pair: FramePairModule, timeline: Timeline, detector: SceneCutDetector,
                 progress: Optional[ProgressFn], total: Optional[int]) -> None:
        self.runner, self.pair, self.timeline, self.detector = runner, pair, timeline, detector
        self.progress, self.total = progress, total
        self.prev: Optional[torch.Tensor] = None     # the previous input frame, (3, H, W) uint8 or uint16
        self.index = -1
        self.frames_out = self.synthesized = self.duplicated = 0
        self.cuts: list[int] = []

    def _render(self, of: OutputFrame, left: torch.Tensor, right: Optional[torch.Tensor], cut: bool) -> torch.Tensor:
        if of.t == 0 or right is None:
            return left.permute(1, 2, 0)
        if cut:  # never morph across a scene cut: the nearer input frame
            self.duplicated += 1
            return (left if of.t < Fraction(1, 2) else right).permute(1, 2, 0)
        self.synthesized += 1
        self.pair.t = float(of.t)
        return self.runner(torch.cat([left, right], 0)[None], channels_last=True)[0]

    def _emit(self, frames: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        self.frames_out += len(frames)
        if self.progress:
            self.progress(self.frames_out, self.total)
        if not frames:
            return torch.empty((0, like.shape[-2], like.shape[-1], 3), dtype=like.dtype)
        return torch.stack(frames)

    def __call__(self, x: torch.Tensor, times: list) -> tuple[torch.Tensor, list]:
        frames, out_times = [], []
        for j in range(x.shape[0]):
            frame = x[j]
            pts, tb, dur = times[j]
            self.index += 1
            plan = self.timeline.push(pts, tb, dur)
            _, cut = self.detector.push(frame)
            if cut:
                self.cuts.append(self.index - 1)
            for of in plan:
                frames.append(self._render(of, self.prev, frame, cut))
                out_times.append((of.pts, self.timeline.time_base, of.duration))
            self.prev = frame
        return self._emit(frames, x), out_times

    def flush(self) -> Optional[tuple[torch.Tensor, list]]:
        if self.prev is None:
            return None
        plan = self.timeline.finish()
        frames = [self._render(of, self.prev, None, False) for of in plan]
        times = [(of.pts, self.timeline.time_base, of.duration) for of in plan]
        return self._emit(frames, self.prev), times


def interpolate(input: Union[str, os.PathLike], output: Union[None, str, os.PathLike] = None, *,
                factor: Optional[int] = None, fps: Union[None, str, int, float, Fraction] = None,
                model: Union[None, str, os.PathLike, nn.Module] = None, tile: Union[str, int, None] = "auto",
                tile_overlap: int = DEFAULT_VFI_OVERLAP, dtype: Union[str, torch.dtype] = "fp32",
                device: Union[None, str, torch.device] = None,
                scene_threshold: float = DEFAULT_SCENE_THRESHOLD, codec: str = "libx264",
                crf: Optional[int] = 18, preset: Optional[str] = "medium", pix_fmt: str = "yuv420p",
                overwrite: bool = False, progress: Optional[ProgressFn] = None,
                on_warning: Optional[Callable[[str], None]] = None, min_tile: int = MIN_TILE,
                encoder_options: Optional[dict] = None, allow_partial: bool = False) -> InterpolateResult:
    """Interpolate a video to ``factor`` times its frames (default 2) or to ``fps`` (see the module docstring).

    Give at most one of ``factor`` (an int 2..16) and ``fps`` ("120", "60000/1001", 59.94, ...).
    ``progress(done, total)`` gets output frames (total None when the input declares no frame count);
    ``on_warning(message)`` gets warnings as they arise (they are also in the result). Bad arguments or
    unreadable input raise ValueError / FileNotFoundError (an existing output:
    :class:`~inter4k.infer.upscale.OutputExistsError`; an input that ends early:
    :class:`~inter4k.infer.video_pipeline.PartialInputError` unless ``allow_partial``, which interpolates
    the frames that decode and sets ``missing_frames`` / ``partial``), failures while running
    RuntimeError; nothing is left at the output path unless the call succeeds.

    Returns an :class:`InterpolateResult`.
    """
    t0 = time.perf_counter()
    src = Path(input)
    if factor is not None and fps is not None:
        raise ValueError("give either factor (--factor) or fps (--fps), not both")
    out_fps = parse_fps(fps) if fps is not None else None
    fac = None if out_fps is not None else _check_factor(2 if factor is None else factor)
    tile_spec = check_tiling(tile, tile_overlap, min_tile)
    detector = SceneCutDetector(scene_threshold)
    torch_dtype, dev = resolve_precision(dtype, device)
    check_input(src, "a video file")
    if is_image(src):
        raise ValueError(f"{src}: an image; interpolation needs a video")
    dst = Path(output) if output is not None else default_output(src, fac, out_fps)
    not_video = f"{dst}: the output must be a video (e.g. .mp4 or .mkv), not an image" if is_image(dst) else None
    check_output(src, dst, overwrite, not_video or output_suffix_error(dst))
    enc = encode_settings(codec, crf, preset, pix_fmt, encoder_options)
    check_encoder(enc)
    info = probe(src)  # a clear VideoError (a ValueError) for a file that is not a readable video

    warns: list[str] = []

    def warn(msg: str) -> None:
        warns.append(msg)
        if on_warning is not None:
            on_warning(msg)
        else:
            warnings.warn(msg, stacklevel=3)

    net, label = resolve(model, task="vfi", warn=warn)
    rate_in = info.fps
    rate_out = out_fps if out_fps is not None else rate_in * fac
    if out_fps is not None and out_fps < rate_in:
        warn(f"the output rate {_fps_label(out_fps)} fps is below the input's {_fps_label(rate_in)} fps: "
             "input frames are skipped, not interpolated")
    if fac is not None:
        total = info.frames * fac if info.frames else None
    else:
        total = math.ceil(Fraction(info.duration) * out_fps) if info.duration else None
    pair = FramePairModule(net)
    runner = TileRunner(pair, 1, dev, torch_dtype, tile=tile_spec, overlap=tile_overlap, min_tile=min_tile)
    timeline = Timeline(factor=fac, fps=out_fps, rate=rate_in)
    job = _Interpolator(runner, pair, timeline, detector, progress, total)
    if progress:
        progress(0, total)
    r = run_video(src, dst, job, 1, enc, batch=2, progress=None, pin_memory=False, timed=True,
                  flush=job.flush, out_rate=rate_out, allow_partial=allow_partial, on_warning=warn)
    seconds = time.perf_counter() - t0
    for w in timeline.warnings[:5]:
        warn(w)
    warns += [oom_warning(e) for e in runner.events]
    return InterpolateResult(
        input=src, output=dst, model=label, device=str(dev), dtype=dtype_name(torch_dtype),
        factor=fac, fps_in=float(rate_in), fps_out=float(rate_out), time_base=str(timeline.time_base),
        frames_in=r.frames_in, frames_out=r.frames_out, synthesized=job.synthesized, duplicated=job.duplicated,
        scene_cuts=list(job.cuts), seconds=seconds, speed=r.frames_out / seconds if seconds > 0 else 0.0,
        size=tuple(r.size_in), tile=runner.tile, oom_retries=runner.oom_retries,
        declared_frames=r.declared_frames, streams=list(r.streams), warnings=warns,
        missing_frames=r.missing_frames, partial=r.partial,
    )
