"""``inter4k bench-pool``: how much of an image survives pooling and coming back to full size.

    inter4k bench-pool [--images DIR] [--factor 2 --factor 4] [--report DIR] [--json]

Calls :func:`inter4k.api.bench_pool` (see :mod:`inter4k.benchpool`); the progress bar (images x
factors x methods) goes to stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from inter4k import api

from ._options import JsonOpt, LazyBar, print_json


class _Bar(LazyBar):
    """A rich bar over the measurements, on stderr; shows the image, factor and method being run."""

    def __init__(self) -> None:
        super().__init__(TextColumn("[bold]bench-pool"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                         TimeRemainingColumn(), TextColumn("{task.description}"))

    def __call__(self, done: int, total: int, label: str) -> None:
        self.update(completed=done, total=total, description=escape(label))


def _table(title: str, head: list[str], rows: list[list[str]], left: int) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(head):
        table.add_column(escape(name), justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    return table


def bench_pool(
    images: Annotated[Optional[Path], typer.Option(
        "--images", exists=True, file_okay=False, dir_okay=True,
        help="A folder of PNG / JPEG images (default: scikit-image's photos astronaut, coffee, chelsea, rocket, "
             "camera).")] = None,
    factor: Annotated[Optional[list[int]], typer.Option(
        "--factor", "-f", min=2, help="Pooling factor (kernel = stride); repeat for several (default: 2 and 4).",
        show_default=False)] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write report.json, report.md and report.png (bar chart + crops) into this folder.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Pool images (adaPool + adaUnPool vs avg, max, median, stochastic, mixed, LP, SoftPool...), bring them
    back to full size and report the PSNR / SSIM of the reconstructions."""
    with closing(_Bar()) as bar:
        result = api.bench_pool(images=images, factors=tuple(factor) if factor else (2, 4), report=report,
                                callback=bar)
    if json_:
        print_json(result.to_dict())
        return
    from inter4k.benchpool.report import best_beta_line, mean_header, mean_rows, per_image_rows

    out = Console(highlight=False)
    names = [i["name"] for i in result.images]
    out.print(_table(f"bench-pool: mean over {len(names)} images ({result.source}); "
                     "PSNR (dB) and SSIM on RGB, Δ = PSNR - avg + nearest's", mean_header(result, kind=False),
                     mean_rows(result, kind=False), left=1))
    for f in result.factors:
        out.print(_table(f"PSNR (dB) per image, x{f}", ["method"] + names + ["mean"], per_image_rows(result, f), 1))
    out.print(escape(best_beta_line(result)))
    out.print(f"adaunpool backend {result.backend}, torch {result.torch}, {result.threads} threads, "
              f"{result.seconds:.1f} s")
    for kind, path in result.files.items():
        out.print(f"{kind}: {escape(path)}")
