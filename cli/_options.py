"""Shared Typer pieces: the app factory and ``Annotated`` aliases for options used by several commands.

A command declares ``json_: JsonOpt = False`` instead of repeating the ``typer.Option(...)`` call,
so every command spells, documents and validates a shared option the same way.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

# Settings every inter4k Typer app shares.
_TYPER_SETTINGS = dict(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,  # a traceback (INTER4K_DEBUG=1) must not dump tensors
    context_settings={"help_option_names": ["-h", "--help"]},
)


def typer_factory(help: str) -> typer.Typer:
    """A Typer app (the top-level one or a command group) with the project's settings."""
    return typer.Typer(help=help, **_TYPER_SETTINGS)


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
    typer.Option("--quiet", "-q", help="Print only errors and the final result."),
]


def print_json(data: Any) -> None:
    """A command's result as indented JSON on stdout (the ``--json`` output)."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def item_table(title: str) -> Table:
    """The two-column "item / value" table the commands render their results in."""
    table = Table(title=title, title_justify="left", show_header=False, expand=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    return table
