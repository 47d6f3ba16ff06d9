"""What the benchmark scripts record about the machine they ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Optional


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> Optional[list[float]]:
    """The 1/5/15-minute load averages, rounded; None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run_line(threads: int) -> str:
    """The line under a benchmark's table: the command, torch, the CPU, threads, load and date."""
    import sys
    import time

    import torch

    return (f"`python {' '.join(sys.argv)}`: torch {torch.__version__}, {cpu_model()}, {threads} thread(s), "
            f"load {loadavg()}, {time.strftime('%Y-%m-%d')}")
