"""Distributed data parallel (DDP) helpers for the trainers.

A run launched by ``torchrun`` (``python -m torch.distributed.run``) has ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK`` in its environment; :func:`setup` then initialises the default process group
(NCCL on CUDA, Gloo on the CPU) and picks the process's device (``cuda:LOCAL_RANK``). Without
those variables (or with ``WORLD_SIZE=1``) everything here is a no-op for a single process, so the
trainers run one code path.

    dist = setup("cuda")          # DistInfo(rank, world_size, local_rank, device, ...)
    model = wrap(model, dist)      # DistributedDataParallel when world_size > 1
    if dist.is_main: save(...)     # only rank 0 writes checkpoints, logs and progress
    teardown(dist)                 # destroys the group if setup() created it
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as td
from torch import nn


@dataclass
class DistInfo:
    """Where this process stands: its rank, the number of processes, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: Optional[str] = None
    created_group: bool = False  # setup() made the process group (so teardown() destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the environment torchrun sets; (0, 1, 0) without it."""

    def get(name: str, default: int) -> int:
        value = os.environ.get(name, "").strip()
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"environment variable {name}={value!r} is not an integer") from None

    world = get("WORLD_SIZE", 1)
    rank = get("RANK", 0)
    local = get("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"bad distributed environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


def launched_distributed() -> bool:
    """True inside a multi-process launch (torchrun with more than one process)."""
    return env_world()[1] > 1


def resolve_device(device: Optional[str]) -> torch.device:
    """``device`` as a torch.device; None means cuda when available, else cpu."""
    if device is None or str(device).strip() in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(str(device))
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available (torch {torch.__version__}); use --device cpu")
    return dev


def setup(device: Optional[str] = None, timeout_s: float = 1800.0) -> DistInfo:
    """Initialise distributed training when launched by torchrun; pick this process's device.

    NCCL for CUDA devices, Gloo for the CPU. Each CUDA process uses ``cuda:LOCAL_RANK`` (a
    ``--device cuda:K`` is overridden by the local rank under torchrun). Reuses a process group that
    is already initialised (and then leaves it alone in :func:`teardown`).
    """
    rank, world, local = env_world()
    dev = resolve_device(device)
    if world == 1:
        return DistInfo(0, 1, 0, dev)
    if dev.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA devices are visible")
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    created = False
    if not td.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; run without torchrun")
    if not td.is_initialized():
        kwargs = dict(backend=backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
        if dev.type == "cuda":
            kwargs["device_id"] = dev
        try:
            td.init_process_group(**kwargs)
        except TypeError:  # an older torch without device_id
            kwargs.pop("device_id", None)
            td.init_process_group(**kwargs)
        created = True
    else:
        backend = td.get_backend()
        rank, world = td.get_rank(), td.get_world_size()
    return DistInfo(rank, world, local, dev, backend, created)


def teardown(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if info.created_group and td.is_initialized():
        try:
            td.barrier()
        except Exception:  # noqa: BLE001 - a peer that died must not hide the real error
            pass
        td.destroy_process_group()
        info.created_group = False


def wrap(model: nn.Module, info: DistInfo, find_unused_parameters: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed (the model must already be on its device)."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    if info.device.type == "cuda":
        return DDP(model, device_ids=[info.device.index], output_device=info.device.index,
                   find_unused_parameters=find_unused_parameters)
    return DDP(model, find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP (or ``torch.compile``) wrapper."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def barrier(info: DistInfo) -> None:
    if info.enabled:
        td.barrier()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Element-wise sum of ``values`` over all processes (float64; the values themselves when alone)."""
    if not info.enabled:
        return [float(v) for v in values]
    dev = info.device if info.backend == "nccl" else torch.device("cpu")
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=dev)
    td.all_reduce(t, op=td.ReduceOp.SUM)
    return [float(v) for v in t.cpu().tolist()]


def any_true(flag: bool, info: DistInfo) -> bool:
    """True on every process when ``flag`` is true on any of them (e.g. a stop request)."""
    if not info.enabled:
        return bool(flag)
    return all_reduce_sum([1.0 if flag else 0.0], info)[0] > 0


def broadcast_object(obj, info: DistInfo, src: int = 0):
    """Rank ``src``'s ``obj`` on every process."""
    if not info.enabled:
        return obj
    box = [obj]
    td.broadcast_object_list(box, src=src, device=info.device if info.backend == "nccl" else None)
    return box[0]
