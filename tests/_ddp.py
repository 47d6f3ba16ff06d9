"""Two training processes on the CPU (Gloo), for the trainers' DDP tests.

    spawn_training(train_sr, cfg, tmp_path, setup=_register_tiny)   # -> the weights of rank 0 and rank 1
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Callable, Optional

import torch


def _worker(rank: int, world: int, port: int, train: Callable, cfg: dict, out: str, setup: Optional[Callable]) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    if setup is not None:
        setup()  # a fresh (spawned) process: e.g. register the tests' tiny models again
    result = train(cfg)
    assert result.world_size == world
    torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, Path(out) / f"rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_training(train: Callable, cfg: dict, out: Path, setup: Optional[Callable] = None) -> list[dict]:
    """Run ``train(cfg)`` in two processes (``train`` and ``setup`` module-level functions, so that they
    pickle); returns each rank's final weights."""
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, _free_port(), train, cfg, str(out), setup), nprocs=2, join=True)
    return [torch.load(Path(out) / f"rank{r}.pt", weights_only=True) for r in range(2)]
