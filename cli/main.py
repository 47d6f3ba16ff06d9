"""The ``inter4k`` entry point: builds the Typer app and maps known errors to exit codes.

    inter4k download | verify | derive | sample | prepare       the Inter4K data set
    inter4k train-sr | train-vsr | train-vfi                   training
    inter4k upscale | interpolate                              inference on images and videos
    inter4k evaluate | bench-pool                              scoring and benchmarks
    inter4k doctor | --version                                 the installation

Every command takes ``--json`` (the result as JSON on stdout) and ``-q`` (no progress), see
:mod:`cli._output`.

Errors from our code become one red line on stderr and an exit code, without a traceback
(``INTER4K_DEBUG=1`` shows it): bad input (ValueError, TypeError, FileNotFoundError) exits 2,
other known failures (RuntimeError, OSError) exit 1, Ctrl-C exits 130 and SIGTERM 143 (both after the
same clean-up, :mod:`inter4k.interrupt`), each with one line. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional, Sequence

import typer

from inter4k import __version__
from inter4k.interrupt import EXIT_CODES, Terminated, sigterm_as_interrupt

from . import dataset
from ._options import print_error, typer_factory
from .doctor import doctor
from .download import download
from .prepare import prepare
from .train import train_sr, train_vfi, train_vsr
from .upscale import upscale
from .benchpool import bench_pool
from .interpolate import interpolate
from .evaluate import evaluate

BAD_INPUT = (ValueError, TypeError, FileNotFoundError, NotADirectoryError, IsADirectoryError)
FAILURE = (RuntimeError, OSError)

app = typer_factory(help="inter4k: video super-resolution and frame interpolation on Inter4K, built on adaunpool.")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"inter4k {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    """inter4k: video super-resolution and frame interpolation on Inter4K, built on adaunpool."""


app.command(name="download")(download)
app.command(name="doctor")(doctor)
app.command(name="verify")(dataset.verify)
app.command(name="derive")(dataset.derive)
app.command(name="sample")(dataset.sample)
app.command(name="prepare")(prepare)
app.command(name="train-sr")(train_sr)
app.command(name="train-vsr")(train_vsr)
app.command(name="train-vfi")(train_vfi)
app.command(name="upscale")(upscale)
app.command(name="bench-pool")(bench_pool)
app.command(name="interpolate")(interpolate)
app.command(name="evaluate")(evaluate)


def _error(message: str, code: int) -> int:
    print_error(message)
    return code


def _interruption(exc: Optional[BaseException]) -> Optional[KeyboardInterrupt]:
    """The Ctrl-C / SIGTERM behind ``exc``: typer turns a KeyboardInterrupt into a silent exit 130; a
    command that already said why it stopped raises its exit ``from None`` (not followed)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ if (exc.__cause__ is not None or exc.__suppress_context__) else exc.__context__
    return None


def _stopped(exc: KeyboardInterrupt) -> int:
    """The one line and the exit code for Ctrl-C (130) or SIGTERM (143)."""
    if isinstance(exc, Terminated):
        return _error("terminated (SIGTERM)", EXIT_CODES[Terminated])
    return _error("interrupted", EXIT_CODES[KeyboardInterrupt])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    debug = os.environ.get("INTER4K_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    try:
        with sigterm_as_interrupt():
            app(args=list(argv) if argv is not None else None, prog_name="inter4k")
    except SystemExit as exc:  # typer exits this way, also for --help, --version and usage errors
        stop = _interruption(exc)
        if stop is not None:
            return _stopped(stop)
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except (typer.Exit, typer.Abort):  # RuntimeError subclasses; normally turned into SystemExit
        raise
    except KeyboardInterrupt as exc:
        if debug:
            raise
        return _stopped(exc)
    except BAD_INPUT as exc:
        if debug:
            raise
        return _error(str(exc), 2)
    except FAILURE as exc:
        if debug:
            raise
        return _error(str(exc) or type(exc).__name__, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
