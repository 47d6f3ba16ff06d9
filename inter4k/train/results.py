"""What a training run returns: :class:`TrainResult` (every task) and its plain-value form."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from torch import nn


@dataclass
class TrainResult:
    """What every finished (or stopped) run reached (:meth:`~inter4k.train.loop.Trainer.result_fields`); a
    task's result (:class:`~inter4k.train.sr.SRTrainResult`, :class:`~inter4k.train.vfi.VFITrainResult`)
    adds its validation figures. ``model`` is the trained module (unwrapped)."""

    out: Path
    last: Path
    best: Optional[Path]
    step: int
    start_step: int
    steps: int
    finished: bool
    loss: Optional[float]
    seconds: float
    world_size: int
    device: str
    amp: bool
    config: dict
    model: Optional[nn.Module] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The result as plain values for JSON (paths as strings, without the model)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        for k in ("out", "last", "best"):
            d[k] = None if d[k] is None else str(d[k])
        return d
