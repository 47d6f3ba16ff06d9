"""Run independent per-clip jobs in parallel, reporting each result as it completes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Callable, Sequence


def run_jobs(fn: Callable, jobs: Sequence[tuple], workers: int, done: Callable) -> None:
    """``done(fn(*job))`` for every job: in this process when one worker (or one job) is asked for,
    else in a "spawn" process pool (a fresh interpreter per worker, safe whatever threads torch or
    OpenCV run in the parent). On an error or Ctrl-C, jobs not yet started are cancelled."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            done(fn(*job))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        try:
            for fut in as_completed(futures):
                done(fut.result())
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
