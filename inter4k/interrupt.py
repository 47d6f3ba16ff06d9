"""SIGTERM handled like Ctrl-C.

Python turns SIGINT (Ctrl-C) into KeyboardInterrupt, so every ``finally`` and ``except BaseException``
on the way out runs: partial files are deleted, threads stopped. SIGTERM (``kill``, a job scheduler, a
container stop) kills the process at once by default and leaves them behind.
:func:`sigterm_as_interrupt` makes SIGTERM raise :class:`Terminated`, a KeyboardInterrupt, in the main
thread, so the same clean-up runs; the CLI then exits 143 (128 + SIGTERM) where Ctrl-C exits 130.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["Terminated", "sigterm_as_interrupt", "EXIT_CODES"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised in the main thread by :func:`sigterm_as_interrupt`)."""


#: The exit status of a command stopped by each: 128 + the signal number, as a shell reports it.
EXIT_CODES = {KeyboardInterrupt: 128 + signal.SIGINT, Terminated: 128 + signal.SIGTERM}


def _raise_terminated(signum, frame) -> None:
    raise Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` in the main thread (elsewhere, where no
    handler can be installed, it does nothing); the previous handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
