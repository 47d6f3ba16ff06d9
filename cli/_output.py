"""``--json`` and ``-q`` for every command, handled once (huggingface_hub's CLI shares its options the
same way): :func:`command` adds both options to a command and hands it an :class:`Output`.

    @command
    def verify(root: RootOpt = None, *, ui: Output) -> None:
        report = api.verify(root, on_progress=ui.progress)
        ui.result(report.to_dict(), lambda: render(report))

- ``--json``: the result as JSON on stdout (:meth:`Output.result`), nothing else there;
- ``-q`` / ``--quiet``: no progress bars and no progress lines; warnings and errors still go to stderr.

Progress bars and warnings always go to stderr, so ``--json`` output stays machine-readable.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

from rich.console import Console

from ._options import JsonOpt, QuietOpt, WarningPrinter, print_json
from ._progress import ProgressView

__all__ = ["Output", "command"]


class Output:
    """What a command renders with: the ``--json`` / ``-q`` choice, the progress renderer (``progress``,
    give it as ``on_progress``), the warning printer (``warn``) and :meth:`result`."""

    def __init__(self, json: bool = False, quiet: bool = False) -> None:
        self.json, self.quiet = json, quiet
        self.err = Console(stderr=True, highlight=False)
        self.progress = ProgressView(self.err, enabled=not quiet)
        self.warn = WarningPrinter()

    def result(self, data: Any, render: Callable[[], None], warnings: Optional[list[str]] = None) -> None:
        """Print the result: ``data`` as JSON with ``--json``, else ``render()``; first the ``warnings``
        not shown yet (stderr, in both cases)."""
        self.progress.close()
        for w in warnings or ():
            self.warn(w)
        if self.json:
            print_json(data)
        else:
            render()


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """Add ``--json`` and ``-q`` to a Typer command that takes a keyword-only ``ui: Output``; the bars
    are stopped when the command ends, however it ends."""
    sig = inspect.signature(fn, eval_str=True)  # typer needs the annotations as objects
    params = [p for name, p in sig.parameters.items() if name != "ui"]
    params += [inspect.Parameter("json_", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOpt),
               inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOpt)]

    @functools.wraps(fn)
    def wrapper(*args, json_: bool = False, quiet: bool = False, **kwargs) -> None:
        ui = Output(json_, quiet)
        try:
            return fn(*args, ui=ui, **kwargs)
        finally:
            ui.progress.close()

    wrapper.__signature__ = sig.replace(parameters=params)
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper
