"""Ctrl-C / SIGTERM during training: finish the current step, then stop with a checkpoint."""

from __future__ import annotations

import signal
import threading
from typing import Optional


class StopSignals:
    """SIGINT / SIGTERM set a flag (acted on between steps) instead of interrupting a step; a second
    signal interrupts at once. Only installed in the main thread."""

    def __init__(self):
        self.flag = False
        self.signum: Optional[int] = None
        self._old: dict = {}

    def _handler(self, signum, frame):
        if self.flag:  # a second Ctrl-C: stop now
            self.restore()
            raise KeyboardInterrupt
        self.flag, self.signum = True, signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    pass
        return self

    def restore(self):
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self._old = {}

    def __exit__(self, *exc):
        self.restore()
        return False
