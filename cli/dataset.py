"""Dataset commands: ``inter4k verify``, ``inter4k derive``, ``inter4k sample``.

    inter4k verify [--root DIR] [--workers N] [--json]
    inter4k derive [--root DIR] [--resolutions QHD,FHD,HD,qHD,nHD] [--fps 50,30,24,15] [--workers N]
                   [--codec libx264] [--crf 10] [--preset medium] [--pix-fmt yuv420p] [--clips 1,2]
                   [--overwrite] [--json]
    inter4k sample --root DIR [--clips 6] [--seconds 2] [--no-audio] [--json]

Each parses its options, calls the function in :mod:`inter4k.api` and renders the result; progress
bars go to stderr, so ``--json`` output on stdout stays machine-readable (every command takes
``--json`` and ``-q``, :mod:`cli._output`).
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

RootOpt = Annotated[
    Optional[Path],
    typer.Option("--root", help="Dataset root holding Inter4K/ (default: $INTER4K_ROOT or ~/datasets/inter4k).",
                 file_okay=False),
]
WorkersOpt = Annotated[
    Optional[int],
    typer.Option("--workers", "-j", min=1, help="Parallel processes, one clip each (default: min(4, CPU cores))."),
]


@command
def verify(root: RootOpt = None, workers: WorkersOpt = None, *, ui: Output) -> None:
    """Check every source clip: decodable to its end, expected size, fps, duration; list missing clips.

    Each Inter4K/60fps/UHD/<n>.mp4 is decoded to its end (frames counted) and must have the expected
    size, frame rate and duration, and fps x duration frames (+-1). Exits 1 when anything fails.
    """
    report = api.verify(root, workers=workers, on_progress=ui.progress)
    ui.result(report.to_dict(), lambda: _render_verify(report))
    if not report.ok:
        raise typer.Exit(code=1)


def _render_verify(report) -> None:
    out = Console(highlight=False)
    e = report.expected
    what = "sample" if e.sample else "official"
    out.print(f"{escape(str(report.root))}: expected ({what}) {e.width}x{e.height}, {e.fps} fps, "
              f"{e.min_seconds:g}-{e.max_seconds:g} s")
    failures = report.failures
    if failures:
        table = Table(title="clips that fail", title_justify="left")
        table.add_column("clip", justify="right", style="bold")
        table.add_column("problem", overflow="fold")
        for c in failures:
            table.add_row(str(c.clip), escape("; ".join(c.problems)))
        out.print(table)
    if report.missing:
        out.print(f"[red]missing {len(report.missing)} clip(s):[/] {_ranges(report.missing)}")
    if report.unexpected:
        out.print(f"[yellow]clip numbers outside the expected set (checked, not Inter4K's):[/] "
                  f"{_ranges(report.unexpected)}")
    good = len(report.clips) - len(failures)
    colour = "green" if report.ok else "red"
    out.print(f"[{colour}]{good} of {len(report.clips)} clips ok, {len(failures)} failed, "
              f"{len(report.missing)} missing[/]")


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts, start, prev = [], None, None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ", ".join(parts)


def _int_list(value: Optional[str]) -> Optional[list[int]]:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated clip numbers, got {value!r}") from None


@command
def derive(
    root: RootOpt = None,
    resolutions: Annotated[str, typer.Option(
        "--resolutions", "-r", help="Resolutions to make at 60 fps, comma-separated; every --fps variant is made "
        "at UHD and at each of these. Empty for none.")] = "QHD,FHD,HD,qHD,nHD",
    fps: Annotated[str, typer.Option(
        "--fps", help="Frame rates to make (1..60), comma-separated; empty for none.")] = "50,30,24,15",
    workers: WorkersOpt = None,
    codec: Annotated[str, typer.Option("--codec", help="Video encoder (PyAV/FFmpeg name).")] = "libx264",
    crf: Annotated[int, typer.Option("--crf", min=0, max=51, help="x264/x265 CRF: 10 is near-lossless.")] = 10,
    preset: Annotated[str, typer.Option("--preset", help="x264/x265 preset.")] = "medium",
    pix_fmt: Annotated[str, typer.Option("--pix-fmt", help="Output pixel format.")] = "yuv420p",
    clips: Annotated[Optional[str], typer.Option(
        "--clips", help="Only these clip numbers, comma-separated (default: every source clip).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Remake files that already exist.")] = False,
    *,
    ui: Output,
) -> None:
    """Build the lower resolutions / frame rates tree Inter4K/<fps>fps/<RES>/<n>.mp4.

    Decodes each 60 fps UHD clip once, resizes with area averaging (INTER_AREA), picks the source
    frame nearest each output frame's time, encodes near-lossless (x264 CRF 10) and copies the audio.
    Resumable: finished files are skipped. Exits 1 when a clip fails.
    """
    report = api.derive(root, resolutions=resolutions, fps=fps, workers=workers, codec=codec, crf=crf,
                        preset=preset, pix_fmt=pix_fmt, clips=_int_list(clips), overwrite=overwrite,
                        on_progress=ui.progress)
    ui.result(report.to_dict(), lambda: _render_derive(report))
    if not report.ok:
        raise typer.Exit(code=1)


def _render_derive(report) -> None:
    out = Console(highlight=False)
    by_fps: dict[int, list[str]] = {}
    for f, r in report.pairs:
        by_fps.setdefault(f, []).append(r)
    table = Table(title=f"{escape(str(report.root))}/Inter4K", title_justify="left")
    table.add_column("folder", style="bold")
    table.add_column("resolutions")
    for f, rs in by_fps.items():
        table.add_row(f"{f}fps", ", ".join(rs))
    out.print(table)
    enc = report.encoding
    out.print(f"encoding: {enc.codec} crf {enc.crf} preset {enc.preset} {enc.pix_fmt}; audio copied")
    if report.failures:
        fails = Table(title="clips that failed", title_justify="left")
        fails.add_column("clip", justify="right", style="bold")
        fails.add_column("error", overflow="fold")
        for c in report.failures:
            fails.add_row(str(c.clip), escape(c.error or ""))
        out.print(fails)
    colour = "green" if report.ok else "red"
    out.print(f"[{colour}]{len(report.clips)} clips: {report.made} files made, {report.skipped} already there, "
              f"{len(report.failures)} clips failed[/]")


@command
def sample(
    root: Annotated[Path, typer.Option("--root", help="Where to write ROOT/Inter4K/...", file_okay=False)],
    clips: Annotated[int, typer.Option("--clips", min=1, help="Number of clips.")] = 6,
    seconds: Annotated[float, typer.Option("--seconds", min=0.05, help="Length of each clip.")] = 2.0,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Add a stereo AAC track.")] = True,
    *,
    ui: Output,
) -> None:
    """Write a small synthetic dataset in the exact Inter4K layout (384x216, 60 fps).

    ROOT/Inter4K/SAMPLE.json marks it, so every command can be tried without the 15 GB download.
    Existing clips are kept.
    """
    paths = api.make_sample(root, clips=clips, seconds=seconds, audio=audio, on_progress=ui.progress)
    marker = Path(root) / "Inter4K" / "SAMPLE.json"
    ui.result({"clips": [str(p) for p in paths], "marker": str(marker)},
               lambda: Console(highlight=False).print(f"[green]{len(paths)} clips[/] in {escape(str(paths[0].parent))} "
                                                      f"(marker: {escape(str(marker))})"))
