"""``inter4k interpolate``: raise a video's frame rate with a frame-interpolation model.

    inter4k interpolate INPUT [-o OUTPUT] [--factor 2|4|8 | --fps F] [--model NAME|PATH] [--tile N|auto|0]
                        [--tile-overlap PX] [--dtype fp32|fp16|bf16] [--device D] [--scene-threshold X]
                        [--codec libx264] [--crf 18] [--preset medium] [--pix-fmt yuv420p] [--overwrite]
                        [--allow-partial] [--json]

Calls :func:`inter4k.api.interpolate` (see :mod:`inter4k.infer.interpolate`); warnings are printed as
they arise and the progress bar (output frames, fps, ETA) goes to stderr, so ``--json`` output on
stdout stays machine-readable.
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
def interpolate(
    input: Annotated[Path, typer.Argument(help="A video file.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output file (default: <input stem>_x<factor>.<ext> or <input stem>_<fps>fps.<ext> "
                               "beside the input; containers other than mp4/mkv/mov/m4v become .mp4).")] = None,
    factor: Annotated[Optional[int], typer.Option(
        "--factor", "-f", help="Output frames per input frame (2, 4, 8; any of 2..16). Default 2.",
        show_default=False)] = None,
    fps: Annotated[Optional[str], typer.Option(
        "--fps", help="Output frame rate instead of a factor, e.g. 120, 59.94 or 60000/1001.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="VFI model name (vfi-small, vfi-average, vfi-nearest, vfi-ffmpeg) or a checkpoint path (default: "
                              "the bundled vfi-small weights; until they exist, vfi-average with a warning).")] = None,
    tile: TileOpt = "auto",
    tile_overlap: TileOverlapOpt = 64,
    dtype: DtypeOpt = "fp32",
    device: DeviceOpt = None,
    scene_threshold: Annotated[float, typer.Option(
        "--scene-threshold", help="Scene-cut score (0..100, ffmpeg minterpolate's rule) at or above which frames "
                                  "are duplicated instead of interpolated; 0 turns detection off.")] = 10.0,
    codec: CodecOpt = "libx264",
    crf: CrfOpt = 18,
    preset: PresetOpt = "medium",
    pix_fmt: PixFmtOpt = "yuv420p",
    overwrite: OverwriteOpt = False,
    allow_partial: AllowPartialOpt = False,
    *,
    ui: Output,
) -> None:
    """Interpolate a video to --factor times its frames (default 2) or to --fps, with exact timestamps;
    scene cuts get duplicated frames, never morphs; audio and subtitles are kept.

    The output is written under a temporary name and renamed when complete: an error, Ctrl-C or
    SIGTERM leaves nothing behind. A truncated input is refused (exit status 2) unless --allow-partial,
    which writes the frames that decode and exits 3.
    """
    result = api.interpolate(input, output, factor=factor, fps=fps, model=model, tile=tile,
                             tile_overlap=tile_overlap, dtype=dtype, device=device,
                             scene_threshold=scene_threshold, codec=codec, crf=crf, preset=preset,
                             pix_fmt=pix_fmt, overwrite=overwrite, on_progress=ui.progress, on_warning=ui.warn,
                             allow_partial=allow_partial)
    rate = f"x{result.factor}" if result.factor else f"{result.fps_out:g} fps"
    cuts = result.scene_cuts
    print_run_result("interpolate", result, [
        ("output", str(result.output)),
        ("frames", f"{result.frames_in} -> {result.frames_out} ({rate}; {result.synthesized} interpolated, "
                   f"{result.duplicated} duplicated at scene cuts)"),
        *partial_rows(result),
        ("frame rate", f"{result.fps_in:g} -> {result.fps_out:g} fps (time base {result.time_base})"),
        ("scene cuts", "none" if not cuts else f"{len(cuts)} (after input frames {', '.join(map(str, cuts[:10]))}"
                                                f"{', ...' if len(cuts) > 10 else ''})"),
        *runner_rows(result),
        ("time", f"{result.seconds:.1f} s, {result.speed:.2f} output frames/s"),
        *[("stream", s) for s in result.streams],
    ], ui)
