"""The one renderer of the library's progress events (:class:`inter4k.progress.Progress`) in the CLI.

Every command passes a :class:`ProgressView` as ``on_progress``: one rich bar per stage on stderr
(started at the stage's first event, so a command that fails on its arguments draws nothing), with
the count in the event's unit (bytes as sizes), the rate, elapsed time, ETA and the current item; an
event's ``message`` is printed once as a line above the bars. With ``enabled=False`` (``-q``) it draws
nothing. It needs no terminal: without one (a pipe, a log, ``TERM=dumb``, no ``$COLUMNS``) rich does not
animate and prints the bars' final state when they stop.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, Progress as RichProgress, ProgressColumn, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from inter4k.atomic import fmt_bytes
from inter4k.progress import Progress

__all__ = ["ProgressView", "count_text"]


def count_text(done: int, total: Optional[int], unit: str, speed: Optional[float]) -> str:
    """``"3/10 frames, 2.50 frames/s"``; bytes as sizes (``"1.0 MiB/4.0 MiB, 2.0 MiB/s"``).

    Examples:
        >>> count_text(3, 10, "frames", 2.5), count_text(3, None, "clips", None)
        ('3/10 frames, 2.50 frames/s', '3 clips')
    """
    if unit == "bytes":
        text = fmt_bytes(done) + ("" if total is None else f"/{fmt_bytes(total)}")
        return text + (f", {fmt_bytes(int(speed))}/s" if speed else "")
    text = f"{done}" + ("" if total is None else f"/{total}") + (f" {unit}" if unit else "")
    return text + (f", {speed:.2f} {unit or 'it'}/s" if speed else "")


class _CountColumn(ProgressColumn):
    """The count and rate of a task in its unit (the task's ``unit`` field)."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(count_text(int(task.completed), None if task.total is None else int(task.total),
                               task.fields.get("unit", ""), speed), style="cyan")


class ProgressView:
    """``on_progress`` for every command (see the module docstring); a context manager that stops the bars."""

    def __init__(self, console: Optional[Console] = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.enabled = enabled
        self.bars: Optional[RichProgress] = None
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        if event.message:
            self.console.print(escape(event.message))
        if event.kind == "start" and not event.done:
            return  # nothing done yet: the bar appears with the first unit
        if self.bars is None:
            self.bars = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), _CountColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                     console=self.console)
            self.bars.start()
        task = self.tasks.get(event.stage)
        # a declared total can be short (a video's header): never show more done than the total
        total = None if event.total is None else max(event.total, event.done)
        if task is None:
            task = self.tasks[event.stage] = self.bars.add_task(escape(event.stage), total=total, unit=event.unit,
                                                                 note="")
        self.bars.update(task, completed=event.done, total=total, note=escape(event.note))

    def close(self) -> None:
        if self.bars is not None:
            self.bars.stop()
            self.bars = None

    def __enter__(self) -> "ProgressView":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
