"""``inter4k upscale``: super-resolve an image or a video.

    inter4k upscale INPUT [-o OUTPUT] [--scale 4] [--model NAME|PATH] [--tile N|auto|0] [--tile-overlap PX]
                    [--dtype fp32|fp16|bf16] [--device D] [--batch B] [--codec libx264] [--crf 18]
                    [--preset medium] [--pix-fmt yuv420p] [--overwrite] [--json]

Calls :func:`inter4k.api.upscale` (see :mod:`inter4k.infer.upscale`); the progress bar (frames, fps,
ETA) goes to stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

from inter4k import api

from ._options import DeviceOpt, item_table, JsonOpt, print_json


class _FpsColumn(ProgressColumn):
    """Frames per second over the last few updates (rich's own speed estimate)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.2f} fps" if speed else "   ... fps", style="cyan")


class _Bar:
    """A rich bar over frames on stderr; without a total (a video that declares no frame count) it
    shows the frames done and the rate, with no ETA."""

    def __init__(self, label: str):
        self.label = label
        self.progress: Optional[Progress] = None
        self.task = None

    def __call__(self, done: int, total: Optional[int]) -> None:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]upscale"), TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                TextColumn("frames"), _FpsColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task("upscale", total=total)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def upscale(
    input: Annotated[Path, typer.Argument(help="An image (png, jpg, jpeg, webp, bmp, tif) or a video file.",
                                          show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output file (default: <input stem>_x<scale>.<ext> beside the input; videos in "
                               "containers other than mp4/mkv/mov/m4v become .mp4).")] = None,
    scale: Annotated[int, typer.Option("--scale", "-s", min=1, help="Upscaling factor (2, 3 or 4).")] = 4,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model name (sr-small, sr-base, bicubic, bilinear, nearest) or a checkpoint path "
                              "(default: the bundled weights for the scale).")] = None,
    tile: Annotated[str, typer.Option(
        "--tile", help="Tile side in LR pixels, 'auto' (whole frames, smaller tiles on out-of-memory) or 0 (never "
                       "tile).")] = "auto",
    tile_overlap: Annotated[int, typer.Option("--tile-overlap", min=0,
                                              help="Overlap of neighbouring tiles in LR pixels.")] = 32,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32, bf16 or fp16 (fp16: CUDA only).")] = "fp32",
    device: DeviceOpt = None,
    batch: Annotated[int, typer.Option("--batch", "-b", min=1, help="Frames per model call.")] = 1,
    codec: Annotated[str, typer.Option("--codec", help="Video encoder.")] = "libx264",
    crf: Annotated[int, typer.Option("--crf", min=0, help="Constant rate factor (quality; lower is better).")] = 18,
    preset: Annotated[str, typer.Option("--preset", help="x264/x265 preset.")] = "medium",
    pix_fmt: Annotated[str, typer.Option("--pix-fmt", help="Output pixel format.")] = "yuv420p",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Upscale an image or a video with an SR model; a video keeps every frame, its timestamps, audio and subtitles.

    The output is written under a temporary name and renamed when complete: an error or Ctrl-C
    leaves nothing behind.
    """
    bar = _Bar(escape(input.name))
    try:
        result = api.upscale(input, output, scale=scale, model=model, tile=tile, tile_overlap=tile_overlap,
                             dtype=dtype, device=device, batch=batch, codec=codec, crf=crf, preset=preset,
                             pix_fmt=pix_fmt, overwrite=overwrite, progress=bar)
    finally:
        bar.close()
    if json_:
        print_json(result.to_dict())
        return
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}")
    table = item_table("upscale")
    rows = [
        ("output", str(result.output)),
        ("size", f"{result.size_in[0]}x{result.size_in[1]} -> {result.size_out[0]}x{result.size_out[1]} (x{result.scale})"),
        ("frames", f"{result.frames_out}" + ("" if result.kind == "video" else " (image)")),
        ("model", f"{result.model} on {result.device}, {result.dtype}"),
        ("tile", ("whole frames" if result.tile is None else f"{result.tile} px")
         + (f", {result.oom_retries} out-of-memory retries" if result.oom_retries else "")),
        ("time", f"{result.seconds:.1f} s, {result.fps:.2f} fps"),
    ]
    rows += [("stream", s) for s in result.streams]
    for k, v in rows:
        table.add_row(k, escape(v))
    out.print(table)
