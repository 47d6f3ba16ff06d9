"""Checkpoints: atomic writes, loading, and the random number generator states.

:func:`save_atomic` writes ``torch.save(obj)`` through :func:`inter4k.atomic.save_torch`: serialised in
memory, the free space checked, written to a temporary name unique to the run in the same folder,
fsynced and renamed over the target. A crash or Ctrl-C at any moment therefore leaves either the
previous complete file or the new complete file, never a half-written one; a failed write removes its
temporary file, a full disk is one :class:`~inter4k.atomic.NotEnoughSpaceError` that says the previous
checkpoint is kept, and the temporary file of a run that was killed while saving is removed by the
next save into the folder.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .. import atomic
from ..models.weights import read_torch_file, require_keys

FORMAT = "inter4k-sr-checkpoint"
VERSION = 1


def save_atomic(obj: Any, path) -> Path:
    """``torch.save(obj, path)`` that never leaves a partial file at ``path``."""
    return atomic.save_torch(obj, path, what="the checkpoint")


def load(path, map_location="cpu") -> dict:
    """Load a checkpoint written by the trainers (a dict); clear errors for a missing / foreign file.

    Read with ``torch.load(weights_only=True)``: checkpoints hold only tensors and plain values."""
    path = Path(path)
    ckpt = read_torch_file(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not an inter4k training checkpoint (train-sr / train-vfi)")
    require_keys(path, ckpt, "training checkpoint", {"step": int, "config": dict, "model": dict, "optimizer": dict,
                                                     "scheduler": dict, "data": dict, "rng": dict})
    return ckpt


def rng_state() -> dict:
    """The states of Python's, NumPy's, torch's CPU and (if initialised) every CUDA generator."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        # plain values and tensors only, so that torch.load(weights_only=True) reads the checkpoint
        "numpy": {"bit_generator": str(name), "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": None,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Optional[dict]) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only where the devices match)."""
    if not state:
        return
    if state.get("python") is not None:
        random.setstate(_as_python_state(state["python"]))
    nps = state.get("numpy")
    if isinstance(nps, dict):
        key = np.asarray(nps["key"].cpu().numpy() if torch.is_tensor(nps["key"]) else nps["key"], dtype=np.uint32)
        np.random.set_state((nps["bit_generator"], key, nps["pos"], nps["has_gauss"], nps["gauss"]))
    elif nps is not None:
        np.random.set_state(nps)
    if state.get("torch") is not None:
        torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _as_python_state(s):
    # pickling keeps tuples; be lenient with lists (e.g. a state that went through JSON)
    if isinstance(s, list):
        return (s[0], tuple(s[1]), s[2])
    return s


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
