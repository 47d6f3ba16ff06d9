"""``inter4k upscale``: super-resolve an image or a video.

    inter4k upscale INPUT [-o OUTPUT] [--scale 4] [--model NAME|PATH] [--tile N|auto|0] [--tile-overlap PX]
                    [--dtype fp32|fp16|bf16] [--device D] [--batch B] [--codec libx264] [--crf 18]
                    [--preset medium] [--pix-fmt yuv420p] [--overwrite] [--allow-partial] [--json]

Calls :func:`inter4k.api.upscale` (see :mod:`inter4k.infer.upscale`); the progress bar (frames, fps,
ETA) goes to stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from inter4k import api

from ._options import (AllowPartialOpt, CodecOpt, CrfOpt, DeviceOpt, DtypeOpt, OverwriteOpt, PixFmtOpt,
                       PresetOpt, partial_rows, print_run_result, runner_rows, TileOpt, TileOverlapOpt)
from ._output import Output, command


@command
def upscale(
    input: Annotated[Path, typer.Argument(help="An image (png, jpg, jpeg, webp, bmp, tif) or a video file.",
                                          show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output file (default: <input stem>_x<scale>.<ext> beside the input; videos in "
                               "containers other than mp4/mkv/mov/m4v become .mp4).")] = None,
    scale: Annotated[int, typer.Option("--scale", "-s", min=1, help="Upscaling factor (2, 3 or 4).")] = 4,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model name (sr-lr-small, sr-lr-large, sr-small, sr-base, bicubic, bilinear, nearest; "
                              "vsr-small: video SR from the neighbouring frames, videos only) or a checkpoint path "
                              "(default: the bundled weights for the scale).")] = None,
    tile: TileOpt = "auto",
    tile_overlap: TileOverlapOpt = 32,
    dtype: DtypeOpt = "fp32",
    device: DeviceOpt = None,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Frames per model call.")] = 1,
    codec: CodecOpt = "libx264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    pix_fmt: PixFmtOpt = "yuv420p",
    overwrite: OverwriteOpt = False,
    allow_partial: AllowPartialOpt = False,
    chunk: Annotated[Optional[int], typer.Option(
        "--chunk", min=1, help="Clip models (vsr-small): frames output per model call (default 8).")] = None,
    lookahead: Annotated[Optional[int], typer.Option(
        "--lookahead", min=0, help="Clip models: later frames the backward pass sees beyond each chunk (default 4); "
                                   "memory grows with chunk + lookahead, not with the video's length.")] = None,
    *,
    ui: Output,
) -> None:
    """Upscale an image or a video with an SR model; a video keeps every frame, its timestamps, audio and subtitles.

    The output is written under a temporary name and renamed when complete: an error, Ctrl-C or
    SIGTERM leaves nothing behind. A truncated input is refused (exit status 2) unless --allow-partial,
    which writes the frames that decode and exits 3.
    """
    result = api.upscale(input, output, scale=scale, model=model, tile=tile, tile_overlap=tile_overlap,
                         dtype=dtype, device=device, batch=batch, codec=codec, crf=crf, preset=preset,
                         pix_fmt=pix_fmt, overwrite=overwrite, on_progress=ui.progress, allow_partial=allow_partial,
                         on_warning=ui.warn, chunk=chunk, lookahead=lookahead)
    print_run_result("upscale", result, [
        ("output", str(result.output)),
        ("size", f"{result.size_in[0]}x{result.size_in[1]} -> {result.size_out[0]}x{result.size_out[1]} (x{result.scale})"),
        ("frames", f"{result.frames_out}" + ("" if result.kind == "video" else " (image)")),
        *partial_rows(result),
        *runner_rows(result),
        ("time", f"{result.seconds:.1f} s, {result.fps:.2f} fps"),
        *[("stream", s) for s in result.streams],
    ], ui)
