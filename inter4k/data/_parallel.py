"""Run independent per-clip jobs in parallel, reporting each result as it completes."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import active_children, get_context
from typing import Callable, Sequence


def run_jobs(fn: Callable, jobs: Sequence[tuple], workers: int, done: Callable) -> None:
    """``done(fn(*job))`` for every job: in this process when one worker (or one job) is asked for,
    else in a "spawn" process pool (a fresh interpreter per worker, safe whatever threads torch or
    OpenCV run in the parent). On an error, jobs not yet started are cancelled; on Ctrl-C or SIGTERM
    (a KeyboardInterrupt here) the running workers are terminated too, and have exited when this
    raises, so the caller can delete what they left."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            done(fn(*job))
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        try:
            for fut in as_completed(futures):
                done(fut.result())
        except BaseException as exc:
            for fut in futures:
                fut.cancel()
            if isinstance(exc, KeyboardInterrupt):  # SIGTERM reaches only this process; Ctrl-C all of them
                procs = list(active_children())
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.join()
            raise
