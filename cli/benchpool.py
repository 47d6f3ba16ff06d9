"""``inter4k bench-pool``: how much of an image survives pooling and coming back to full size.

    inter4k bench-pool [--images DIR] [--factor 2 --factor 4] [--report DIR] [--json]

Calls :func:`inter4k.api.bench_pool` (see :mod:`inter4k.benchpool`); the progress bar (images x
factors x methods) goes to stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inter4k import api

from ._output import Output, command


def _table(title: str, head: list[str], rows: list[list[str]], left: int) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(head):
        table.add_column(escape(name), justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*(escape(v) for v in row))
    return table


@command
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
    *,
    ui: Output,
) -> None:
    """Pool images (adaPool + adaUnPool vs avg, max, median, stochastic, mixed, LP, SoftPool...), bring them
    back to full size and report the PSNR / SSIM of the reconstructions."""
    result = api.bench_pool(images=images, factors=tuple(factor) if factor else (2, 4), report=report,
                            on_progress=ui.progress)
    ui.result(result.to_dict(), lambda: _render(result))


def _render(result) -> None:
    from inter4k.benchpool.report import best_beta_line, mean_header, mean_rows, per_image_rows

    con = Console(highlight=False)
    names = [i["name"] for i in result.images]
    con.print(_table(f"bench-pool: mean over {len(names)} images ({result.source}); "
                     "PSNR (dB) and SSIM on RGB, Δ = PSNR - avg + nearest's", mean_header(result, kind=False),
                     mean_rows(result, kind=False), left=1))
    for f in result.factors:
        con.print(_table(f"PSNR (dB) per image, x{f}", ["method"] + names + ["mean"], per_image_rows(result, f), 1))
    con.print(escape(best_beta_line(result)))
    con.print(f"adaunpool backend {result.backend}, torch {result.torch}, {result.threads} threads, "
              f"{result.seconds:.1f} s")
    for kind, path in result.files.items():
        con.print(f"{kind}: {escape(path)}")
