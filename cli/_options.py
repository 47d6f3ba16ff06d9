"""Shared CLI pieces: the app factory, ``Annotated`` aliases for options used by several commands, and
the rendering helpers they share (JSON, item tables, warnings); progress is :mod:`cli._progress`,
``--json`` / ``-q`` :mod:`cli._output`.

A command declares ``device: DeviceOpt = None`` instead of repeating the ``typer.Option(...)`` call,
so every command spells, documents and validates a shared option the same way (``--json`` and
``-q`` are added to every command by :func:`cli._output.command`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Settings every inter4k Typer app shares.
_TYPER_SETTINGS = dict(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # a traceback (INTER4K_DEBUG=1) must not dump tensors
    context_settings={"help_option_names": ["-h", "--help"]},
)


def print_error(message: str) -> None:
    """One red ``Error:`` line on stderr, whitespace collapsed, never wrapped (soft_wrap): it reads the
    same on any terminal, in a pipe or a log, and in the tests (a console that is no terminal wraps at
    80 columns or $COLUMNS)."""
    line = " ".join(message.split()) or "(no message)"
    if len(line) > 800:  # a compiler log: keep its start and its end
        line = f"{line[:300]} ... {line[-400:]}"
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[bold red]Error:[/] [red]{escape(line)}[/]")


# click's base of every usage error, taken from a public typer name: recent typers vendor click
# (typer._click) and older ones use the click package, and only the one typer raises can be caught.
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


@contextlib.contextmanager
def _usage_errors_as_one_line():
    try:
        yield
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # not an error: click shows the help
            raise
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            typer.echo(ctx.get_usage(), err=True)
            if ctx.command.get_help_option(ctx) is not None:
                typer.echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.", err=True)
        print_error(exc.format_message())
        raise typer.Exit(exc.exit_code) from exc


class _Group(TyperGroup):
    """Click's usage errors (a bad option value, a missing path, an unknown command) print like every
    other inter4k error, as one :func:`print_error` line after the usage, instead of typer's boxed
    panel, which wraps the message at the terminal's width."""

    def make_context(self, *args, **kwargs):
        with _usage_errors_as_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors_as_one_line():
            return super().invoke(ctx)


def typer_factory(help: str) -> typer.Typer:
    """A Typer app (the top-level one or a command group) with the project's settings."""
    return typer.Typer(help=help, cls=_Group, **_TYPER_SETTINGS)


JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the result as JSON (machine-readable) instead of tables."),
]

DeviceOpt = Annotated[
    Optional[str],
    typer.Option("--device", help="Torch device to run on, e.g. 'cpu', 'cuda', 'cuda:1' (default: cuda if available)."),
]

QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q",
                 help="No progress bars or progress lines (errors, warnings and the result still print)."),
]

# --- inference (upscale, interpolate): tiles, precision, the video encoder, the output -------------------

TileOpt = Annotated[
    str,
    typer.Option("--tile", help="Tile side in input pixels, 'auto' (whole frames, smaller tiles on out-of-memory; "
                                "a clip model: tiles above 1280x720) or 0 (never tile)."),
]

TileOverlapOpt = Annotated[
    int,
    typer.Option("--tile-overlap", min=0, help="Overlap of neighbouring tiles in input pixels."),
]

DtypeOpt = Annotated[str, typer.Option("--dtype", help="fp32, bf16 or fp16 (fp16: CUDA only).")]

CodecOpt = Annotated[str, typer.Option("--codec", help="Video encoder.")]

CrfOpt = Annotated[int, typer.Option("--crf", min=0, help="Constant rate factor (quality; lower is better).")]

PresetOpt = Annotated[str, typer.Option("--preset", help="x264/x265 preset.")]

PixFmtOpt = Annotated[str, typer.Option("--pix-fmt", help="Output pixel format.")]

OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]

AllowPartialOpt = Annotated[bool, typer.Option(
    "--allow-partial", help="A truncated or damaged input video: write the frames that decode (exit status 3, "
                            "the missing frames reported) instead of refusing it (exit status 2).")]

#: The exit status of a run that wrote a partial result (--allow-partial on an input that ends early).
PARTIAL_EXIT = 3


def print_json(data: Any) -> None:
    """A command's result as indented JSON on stdout (the ``--json`` output)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def item_table(title: str) -> Table:
    """The two-column "item / value" table the commands render their results in."""
    table = Table(title=title, title_justify="left", show_header=False, expand=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    return table


def print_items(title: str, rows: list[tuple[str, str]]) -> None:
    """Print ``rows`` (item, value) as an :func:`item_table` on stdout, values escaped."""
    table = item_table(title)
    for key, value in rows:
        table.add_row(key, escape(value))
    Console(highlight=False).print(table)


def print_warning(console: Console, message: str) -> None:
    """One yellow ``warning:`` line (the message escaped)."""
    console.print(f"[yellow]warning:[/] {escape(message)}")


class WarningPrinter:
    """Prints each warning once, as a :func:`print_warning` line on stderr: give it as ``on_warning`` to
    show warnings as they arise, and call it again with the result's warnings at the end."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.shown: set[str] = set()

    def __call__(self, message: str) -> None:
        if message not in self.shown:
            self.shown.add(message)
            print_warning(self.console, message)


def print_run_result(title: str, result, rows: list[tuple[str, str]], ui) -> None:
    """The end of ``upscale`` / ``interpolate``: the result as JSON, or its remaining warnings and the
    item table of ``rows`` (``ui``: the command's :class:`cli._output.Output`); then a partial result
    (``--allow-partial``) exits :data:`PARTIAL_EXIT`."""
    ui.result(result.to_dict(), lambda: print_items(title, rows), warnings=None if ui.json else result.warnings)
    if result.partial is not None:
        raise typer.Exit(PARTIAL_EXIT)


def partial_rows(result) -> list[tuple[str, str]]:
    """The "missing" row of a result whose input ended early (``--allow-partial``); none otherwise."""
    if result.partial is None:
        return []
    count = "frames" if result.missing_frames is None else f"{result.missing_frames} input frames"
    return [("missing", f"{count}: PARTIAL result ({result.partial})")]


def runner_rows(result) -> list[tuple[str, str]]:
    """The "model" and "tile" rows of an inference result (:class:`~inter4k.infer.upscale.UpscaleResult`,
    :class:`~inter4k.infer.interpolate.InterpolateResult`)."""
    tile = "whole frames" if result.tile is None else f"{result.tile} px"
    if result.oom_retries:
        tile += f", {result.oom_retries} out-of-memory retries"
    return [("model", f"{result.model} on {result.device}, {result.dtype}"), ("tile", tile)]
