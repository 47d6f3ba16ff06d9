"""``inter4k upscale``: super-resolve an image or a video with a trained (or baseline) SR model.

    from inter4k.infer.upscale import upscale
    r = upscale("clip.mp4", scale=4, model="sr-small", tile="auto")   # -> clip_x4.mp4 beside it
    r.output, r.frames_out, r.fps, r.tile, r.oom_retries

- **Input kind**: the suffixes .png .jpg .jpeg .webp .bmp .tif .tiff are images (OpenCV); anything else
  is opened with PyAV as a video. A file that is neither is a ValueError naming it.
- **Output**: ``<stem>_x<scale><suffix>`` beside the input by default. Images keep their suffix
  (8-bit stays 8-bit, 16-bit PNG/TIFF stays 16-bit, an alpha channel is resized with bicubic
  interpolation, greyscale stays greyscale) and are turned upright as their EXIF orientation says
  (the output carries no EXIF, so it shows the same way). Videos keep .mp4 / .mkv / .mov / .m4v and any
  other container (.avi, .webm, .ts, raw .h264, ...) becomes .mp4; a video output must be .mp4, .m4v,
  .mov, .mkv or .webm. An existing output is refused unless ``overwrite=True``; the output is written
  under a temporary name unique to the run (:func:`inter4k.atomic.part_path`) and renamed when
  complete, so an error, Ctrl-C or SIGTERM leaves nothing behind (nor the folders made for it).
- **Truncated video**: refused (:class:`~inter4k.infer.video_pipeline.PartialInputError`) unless
  ``allow_partial``; then the frames that decode are upscaled and ``missing_frames`` / ``partial`` say
  what is missing (the rule: :mod:`inter4k.infer.video_pipeline`).
- **Model**: an ``nn.Module``, a registered name ("sr-small", "sr-base", "bicubic", ...) or a checkpoint
  path, resolved by :func:`inter4k.models.resolve` (task "sr"); None picks
  :func:`inter4k.models.weights.default_sr_model` (the bundled weights for the scale) for an image, and
  :func:`~inter4k.models.weights.default_video_sr_model` for a video (the bundled clip model listed
  for the scale in :data:`~inter4k.models.weights.DEFAULT_VIDEO_SR_MODELS`, x4: ``vsr-small``; else the
  same as for an image).
- **Clip models** (``vsr-small``, video SR that uses the neighbouring frames; a video's default where
  :data:`~inter4k.models.weights.DEFAULT_VIDEO_SR_MODELS` lists one for the scale: x4): a video
  goes through :mod:`inter4k.infer.clip_stream` (chunks with carried state and a lookahead, scene cuts
  reset the state, every frame and timestamp kept); ``tile="auto"`` runs whole frames up to
  :data:`~inter4k.infer.clip_stream.CLIP_TILE_PIXELS` and the fewest overlapping tiles above, each with
  its own state (``result.tile`` is then "WxH"); an image is refused.
- **Device / precision**: ``device`` defaults to CUDA when available. ``dtype`` "fp32", "bf16" or
  "fp16" converts the model and each tile (``model.to(dtype)``); fp16 is refused on the CPU (use bf16).
- **Tiling / out of memory / video pipeline**: see :mod:`inter4k.infer.tiling` and
  :mod:`inter4k.infer.video_pipeline`; the argument checks, dtype and device handling shared with
  ``inter4k interpolate`` are in :mod:`inter4k.infer.common`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch
from torch import nn

from .. import atomic
from ..models.resolver import resolve
from ..models.vsr import is_clip_model
from ..models.weights import default_video_sr_model
from ..video import make_folders, remove_folders
# DTYPES, parse_dtype and resolve_device moved to .common; still importable from here
from .common import (DTYPES, IMAGE_SUFFIXES, OutputExistsError, PathsAsText, ProgressFn,  # noqa: F401
                     check_input, check_output, check_tiling, dtype_name, encode_settings, is_image, oom_warning,
                     parse_dtype, resolve_device, resolve_precision)
from .tiling import DEFAULT_OVERLAP, MIN_TILE, TileRunner
from .video_pipeline import check_encoder, default_video_suffix, output_suffix_error, run_video

__all__ = ["IMAGE_SUFFIXES", "UpscaleResult", "OutputExistsError", "upscale", "resolve_device",
           "parse_dtype", "default_output", "is_image"]


@dataclass
class UpscaleResult(PathsAsText):
    input: Path
    output: Path
    kind: str                       # "image" | "video"
    scale: int
    model: str
    device: str
    dtype: str
    frames_in: int
    frames_out: int
    seconds: float
    fps: float                      # frames out per second, end to end
    size_in: tuple[int, int]        # (width, height)
    size_out: tuple[int, int]
    tile: Union[int, str, None]     # the tile side in use at the end; clip models: "WxH" (None: whole frames)
    oom_retries: int
    declared_frames: Optional[int] = None
    streams: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_frames: Optional[int] = None  # frames the container declares that did not decode
    partial: Optional[str] = None         # why the input is incomplete (allow_partial); None: complete
    scene_cuts: Optional[list[int]] = None  # clip models: i where a cut between frames i - 1 and i reset the state


def default_output(path: Path, scale: int) -> Path:
    """``<stem>_x<scale><suffix>`` beside ``path`` (videos in another container than mp4/mkv/mov/m4v -> .mp4)."""
    suffix = path.suffix if is_image(path) else default_video_suffix(path)
    return path.with_name(f"{path.stem}_x{scale}{suffix}")


# --- images ----------------------------------------------------------------------------------------

def _read_image(path: Path) -> np.ndarray:
    """The image as stored (8/16-bit, grey / colour / alpha, BGR), turned upright by its EXIF orientation."""
    from ..data.images import decode_image

    return decode_image(path)


def _upscale_image(src: Path, dst: Path, runner: TileRunner, scale: int,
                   progress: Optional[ProgressFn]) -> tuple[tuple[int, int], tuple[int, int]]:
    import cv2

    img = _read_image(src)
    h, w = img.shape[:2]
    if progress:
        progress(0, 1)
    gray = img.ndim == 2 or img.shape[2] == 1
    alpha = img[..., 3] if img.ndim == 3 and img.shape[2] == 4 else None
    if gray:
        rgb = cv2.cvtColor(img.reshape(h, w), cv2.COLOR_GRAY2RGB)
    else:
        rgb = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    out = runner(x, channels_last=True)[0].numpy()  # uint8 stays uint8, uint16 uint16
    out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY if gray else cv2.COLOR_RGB2BGR)
    if alpha is not None:
        a = cv2.resize(alpha, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        out = np.dstack([out, a])
    params: list[int] = []
    if dst.suffix.lower() in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
        if out.dtype != np.uint8:
            out = (out // 257).astype(np.uint8)
    ok, buf = cv2.imencode(dst.suffix, out, params)
    if not ok:
        raise RuntimeError(f"{dst}: OpenCV could not encode the result as {dst.suffix}")
    made = make_folders(dst.parent)
    try:
        atomic.write_bytes(dst, buf.tobytes(), what=f"the {dst.suffix} image")
    except BaseException:
        remove_folders(made)
        raise
    if progress:
        progress(1, 1)
    return (w, h), (out.shape[1], out.shape[0])


# --- the entry point ------------------------------------------------------------------------------

def upscale(input: Union[str, os.PathLike], output: Union[None, str, os.PathLike] = None, *, scale: int = 4,
            model: Union[None, str, os.PathLike, nn.Module] = None, tile: Union[str, int, None] = "auto",
            tile_overlap: int = DEFAULT_OVERLAP, dtype: Union[str, torch.dtype] = "fp32",
            device: Union[None, str, torch.device] = None, batch: int = 1, codec: str = "libx264",
            crf: Optional[int] = 18, preset: Optional[str] = "medium", pix_fmt: str = "yuv420p",
            overwrite: bool = False, progress: Optional[ProgressFn] = None, min_tile: int = MIN_TILE,
            encoder_options: Optional[dict] = None, allow_partial: bool = False,
            on_warning: Optional[Callable[[str], None]] = None, chunk: Optional[int] = None,
            lookahead: Optional[int] = None) -> UpscaleResult:
    """Upscale an image or a video by ``scale`` (see the module docstring).

    Returns an :class:`UpscaleResult`. ``progress(done, total)`` is called with frames done (total is
    None for a video that declares no frame count); ``on_warning(message)`` gets the video pipeline's
    warnings as they arise (default: :func:`warnings.warn`; they are also in the result). Bad arguments
    or unreadable input raise ValueError / FileNotFoundError (an existing output:
    :class:`OutputExistsError`; a video that ends early:
    :class:`~inter4k.infer.video_pipeline.PartialInputError` unless ``allow_partial``); failures while
    running raise RuntimeError. Nothing is left at the output path unless the call succeeds.

    ``chunk`` / ``lookahead`` (clip models only; None: :data:`~inter4k.infer.clip_stream.DEFAULT_CHUNK`
    / ``DEFAULT_LOOKAHEAD``): frames output per model call, and later frames the backward branch sees
    beyond them; memory grows with their sum, not with the video's length.
    """
    t0 = time.perf_counter()
    src = Path(input)
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive int (2, 3 or 4), got {scale!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    tile_spec = check_tiling(tile, tile_overlap, min_tile)
    torch_dtype, dev = resolve_precision(dtype, device)
    check_input(src, "an image or a video file")
    kind = "image" if is_image(src) else "video"
    dst = Path(output) if output is not None else default_output(src, scale)
    suffix_error = None
    if kind == "image" and not is_image(dst):
        suffix_error = f"{dst}: an image input needs an image output ({', '.join(IMAGE_SUFFIXES)})"
    if kind == "video" and is_image(dst):
        suffix_error = f"{dst}: a video input needs a video output (e.g. .mp4 or .mkv), not an image"
    elif kind == "video":
        suffix_error = output_suffix_error(dst)
    check_output(src, dst, overwrite, suffix_error)
    enc = encode_settings(codec, crf, preset, pix_fmt, encoder_options)
    if kind == "video":
        check_encoder(enc)

    said: list[str] = []
    if model is None and kind == "video":   # a clip model when one is bundled for the scale and wins
        model = default_video_sr_model(scale)
    net, name = resolve(model, task="sr", scale=scale, warn=said.append)
    if is_clip_model(net):
        if kind == "image":
            raise ValueError(f"{name} super-resolves videos (clips of frames); upscale an image with a single-frame "
                             "model (e.g. sr-lr-small, the default)")
        return _upscale_clips(src, dst, net, name, scale, dev, torch_dtype, enc, batch, progress, allow_partial,
                              on_warning, said, t0, chunk, lookahead, tile_spec, tile_overlap)
    if chunk is not None or lookahead is not None:
        raise ValueError(f"chunk and lookahead are settings of clip models (vsr-small); {name} upscales "
                         "frame by frame")
    runner = TileRunner(net, scale, dev, torch_dtype, tile=tile_spec, overlap=tile_overlap, min_tile=min_tile)
    missing = partial = None
    if kind == "image":
        size_in, size_out = _upscale_image(src, dst, runner, scale, progress)
        frames_in = frames = 1
        declared, streams, warns = 1, [], []
    else:
        def infer(x: torch.Tensor) -> torch.Tensor:
            return runner(x, channels_last=True)

        r = run_video(src, dst, infer, scale, enc, batch=batch, progress=progress,
                      pin_memory=dev.type == "cuda", allow_partial=allow_partial, on_warning=on_warning)
        size_in, size_out, frames_in, frames = r.size_in, r.size_out, r.frames_in, r.frames_out
        declared, streams, warns = r.declared_frames, r.streams, r.warnings
        missing, partial = r.missing_frames, r.partial
        if r.frames_in != r.frames_out:  # run_video checks this too; never report a short file as done
            raise RuntimeError(f"{dst}: {r.frames_out} frames written of {r.frames_in}")
    seconds = time.perf_counter() - t0
    warns = said + list(warns) + [oom_warning(e, with_batch=True) for e in runner.events]
    return UpscaleResult(
        input=src, output=dst, kind=kind, scale=scale, model=name, device=str(dev), dtype=dtype_name(torch_dtype),
        frames_in=frames_in, frames_out=frames, seconds=seconds, fps=frames / seconds if seconds > 0 else 0.0,
        size_in=tuple(size_in), size_out=tuple(size_out), tile=runner.tile, oom_retries=runner.oom_retries,
        declared_frames=declared, streams=list(streams), warnings=warns, missing_frames=missing, partial=partial,
    )


def _upscale_clips(src: Path, dst: Path, net: nn.Module, name: str, scale: int, dev: torch.device,
                   torch_dtype: torch.dtype, enc, batch: int, progress: Optional[ProgressFn], allow_partial: bool,
                   on_warning: Optional[Callable[[str], None]], said: list[str], t0: float,
                   chunk: Optional[int] = None, lookahead: Optional[int] = None, tile: Union[None, int, str] = "auto",
                   tile_overlap: int = DEFAULT_OVERLAP) -> UpscaleResult:
    """A video through a clip model (vsr-small): :class:`~inter4k.infer.clip_stream.ClipStreamer` in the video
    pipeline's timed mode, each frame leaving with its own time once its chunk (and lookahead) is in;
    scene cuts reset the carried state; large frames in tiles (``tile``, see the streamer)."""
    from .clip_stream import DEFAULT_CHUNK, DEFAULT_LOOKAHEAD, ClipStreamer

    streamer = ClipStreamer(net, dev, torch_dtype, chunk=DEFAULT_CHUNK if chunk is None else chunk,
                            lookahead=DEFAULT_LOOKAHEAD if lookahead is None else lookahead, tile=tile,
                            overlap=tile_overlap)
    r = run_video(src, dst, streamer.push, scale, enc, batch=batch, progress=progress, pin_memory=dev.type == "cuda",
                  timed=True, flush=streamer.flush, allow_partial=allow_partial, on_warning=on_warning)
    if r.frames_in != r.frames_out:
        raise RuntimeError(f"{dst}: {r.frames_out} frames written of {r.frames_in}")
    seconds = time.perf_counter() - t0
    return UpscaleResult(
        input=src, output=dst, kind="video", scale=scale, model=name, device=str(dev), dtype=dtype_name(torch_dtype),
        frames_in=r.frames_in, frames_out=r.frames_out, seconds=seconds,
        fps=r.frames_out / seconds if seconds > 0 else 0.0, size_in=tuple(r.size_in), size_out=tuple(r.size_out),
        tile=None if streamer.tile is None else f"{streamer.tile[1]}x{streamer.tile[0]}", oom_retries=0,
        declared_frames=r.declared_frames, streams=list(r.streams),
        warnings=said + list(r.warnings), missing_frames=r.missing_frames, partial=r.partial,
        scene_cuts=list(streamer.cuts))
