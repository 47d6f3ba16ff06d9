"""``inter4k evaluate``: PSNR / SSIM / LPIPS of predictions against references, or of an SR model and the
baselines on a dataset (see :mod:`inter4k.evaluate` and docs/EVALUATE.md).

    inter4k evaluate --task sr|vfi --pred PATH --ref PATH [--scale S] [--crop-border N]
                     [--metrics psnr,ssim,lpips] [--limit N] [--frames K] [--report DIR] [--json]
    inter4k evaluate --task sr [--model NAME|PATH] [--data ROOT|images:DIR] [--split test] [--scale S]
                     [--limit N] [--frames K] [--tile auto] [--device D] [--report DIR] [--json]
    inter4k evaluate --task vfi [--model NAME|PATH] [--mode 30to60|15to60|8x] [--data ROOT|synthetic[:DIR]]
                     [--split test] [--limit N] [--frames K] [--patch P] [--report DIR] [--json]
    inter4k evaluate --task vsr [--model vsr-small|PATH] [--data ROOT|photos[:DIR]] [--split test] [--scale S]
                     [--limit N] [--frames T] [--report DIR] [--json]

Calls :func:`inter4k.api.evaluate`; the progress bar and warnings go to stderr, the table (or with
``--json`` the JSON of report.json) to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inter4k import api

from ._options import DeviceOpt
from ._output import Output, command

# The rows shown per clip before the table says "... more" (report.md / report.html have them all).
MAX_CLIP_ROWS = 30


def _results_table(result, title: str, over: str) -> Table:
    from inter4k.evaluate.tables import LABELS, summary_rows

    table = Table(title=title, title_justify="left")
    for h in ("method", "frames", "clips", *(LABELS[k] for k in result.keys)):
        table.add_column(h, justify="left" if h == "method" else "right")
    for i, row in enumerate(summary_rows(result, over)):
        table.add_row(*(escape(c) for c in row), style="bold" if i == 0 and len(result.methods) > 1 else None)
    return table


def _clip_table(result) -> Table:
    from inter4k.evaluate.tables import LABELS, clip_rows

    m = result.primary
    table = Table(title=f"per clip ({escape(m.name)})", title_justify="left")
    for h in ("clip", "frames", *(LABELS[k] for k in result.keys)):
        table.add_column(h, justify="left" if h == "clip" else "right")
    for row in clip_rows(result, [m])[:MAX_CLIP_ROWS]:
        table.add_row(*(escape(c) for c in row[1:]))  # the method is the title's
    if len(m.clips) > MAX_CLIP_ROWS:
        table.add_row(f"... {len(m.clips) - MAX_CLIP_ROWS} more", "", *("" for _ in result.keys))
    return table


def _t_table(result) -> Table:
    from inter4k.evaluate.tables import LABELS, per_t_rows

    table = Table(title="mean per target time t", title_justify="left")
    for h in ("method", "t", "frames", *(LABELS[k] for k in result.keys)):
        table.add_column(h, justify="left" if h == "method" else "right")
    for row in per_t_rows(result):
        table.add_row(*(escape(c) for c in row))
    return table


@command
def evaluate(
    task: Annotated[str, typer.Option("--task", help="sr (super-resolution), vsr (video SR: a clip model against per-frame SR, "
                                                    "with temporal metrics) or vfi (frame interpolation).")] = "sr",
    pred: Annotated[Optional[Path], typer.Option(
        "--pred", help="Predictions: an image, an image folder, a video, or a folder of clips (videos or image "
                       "folders, paired with --ref's by name).", show_default=False)] = None,
    ref: Annotated[Optional[Path], typer.Option(
        "--ref", help="References (ground truth), the same kinds as --pred.", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Model name or checkpoint path to run on --data (default: the bundled weights); "
                              "sr: the baselines bicubic, bilinear and nearest run too; vfi: vfi-average, "
                              "vfi-nearest and vfi-ffmpeg (FFmpeg's minterpolate).")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Model mode: an Inter4K root (default: $INTER4K_ROOT or ~/datasets/inter4k); sr: or "
                       "images:DIR; vsr: or photos[:DIR] (clips with realistic motion over the photo corpus); vfi: or synthetic[:DIR] (synthetic motion over held-out photographs), "
                       "photos[:DIR] (realistic clips over the photo corpus's held-out split) or videos[:DIR] "
                       "(real footage: the opencv-doc videos, every other frame dropped).")] = None,
    vfi_mode: Annotated[Optional[str], typer.Option(
        "--mode", help="vfi model mode: 30to60 (default), 15to60 or 8x (docs/DATA.md#vfi-modes).",
        show_default=False)] = None,
    patch: Annotated[Optional[int], typer.Option(
        "--patch", min=8, help="vfi model mode: evaluate P x P centre crops (Inter4K: default whole frames; "
                               "synthetic: the frame side, default 256).", show_default=False)] = None,
    split: Annotated[str, typer.Option("--split", help="Split of --data: train, val or test.")] = "test",
    scale: Annotated[Optional[int], typer.Option(
        "--scale", "-s", min=1, help="SR factor (model mode default 4); the crop border defaults to it.")] = None,
    crop_border: Annotated[Optional[int], typer.Option(
        "--crop-border", min=0, help="Pixels removed from each side before PSNR / SSIM (default: the scale for "
                                     "sr, 0 for vfi).")] = None,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated: psnr, ssim, lpips.")] = "psnr,ssim,lpips",
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Evaluate the first N clips (images).")] = None,
    frames: Annotated[Optional[int], typer.Option(
        "--frames", min=1, help="Per clip: pairs mode the first K frames; model mode K frames (vfi: K input "
                                "pairs) spread over the clip; vsr: the clip length T (default 5; photos: 3, 5 "
                                "or 9).")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write report.json, report.csv, report.md and report.html into this folder.")] = None,
    tile: Annotated[str, typer.Option(
        "--tile", help="Model mode: tile side in LR pixels, 'auto' or 0 (never tile).")] = "auto",
    quantize_lr: Annotated[bool, typer.Option(
        "--quantize-lr", help="Model mode: round the bicubic LR to 8 bits (as an LR saved as PNG).")] = False,
    device: DeviceOpt = None,
    *,
    ui: Output,
) -> None:
    """PSNR / SSIM / LPIPS of predictions against references, or of an SR / VFI model and the baselines on a dataset.

    PSNR and SSIM on Y (BT.601, MATLAB's rgb2ycbcr) with the border crop; PSNR on RGB too; LPIPS
    (AlexNet) when its weights are present, else reported as null with a warning.
    """
    from inter4k.evaluate.results import json_safe

    result = api.evaluate(task=task, pred=pred, ref=ref, model=model, data=data, split=split, scale=scale,
                          crop_border=crop_border, metrics=metrics, report=report, on_progress=ui.progress,
                          limit=limit, frames=frames, device=device, tile=tile, quantize_lr=quantize_lr,
                          vfi_mode=vfi_mode, patch=patch)
    ui.result(json_safe(result.to_dict()), lambda: _render(result), warnings=result.warnings)


def _render(result) -> None:
    out = Console(highlight=False)
    n_frames, n_clips = len(result.primary.frames), len(result.primary.clips)
    out.print(_results_table(result, f"evaluate {result.task}: mean over {n_frames} frames", "frames"))
    if n_clips > 1:
        out.print(_results_table(result, f"mean over {n_clips} clips", "clips"))
    if len(result.primary.per_t) > 1:
        out.print(_t_table(result))
    if n_clips > 1:
        out.print(_clip_table(result))
    if result.report_files:
        out.print(f"report: {escape(str(result.report_files['report.html'].parent))} "
                  f"({', '.join(result.report_files)})")
