"""Training loops: :func:`inter4k.train.sr.train_sr` (``inter4k train-sr``), with atomic checkpoints,
exact resumption and DDP under ``torchrun`` (:mod:`.checkpoint`, :mod:`.distributed`).

Imported lazily by :mod:`inter4k.api` so that ``inter4k --help`` does not pay for torch.distributed.
"""

from .sr import SRTrainConfig, SRTrainResult, train_sr

__all__ = ["SRTrainConfig", "SRTrainResult", "train_sr"]
