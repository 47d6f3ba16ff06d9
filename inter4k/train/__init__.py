"""Training loops: :func:`inter4k.train.sr.train_sr` (``inter4k train-sr``) and
:func:`inter4k.train.vfi.train_vfi` (``inter4k train-vfi``), subclasses of one shared trainer
(:mod:`.loop`, extended by overriding its ``build_*`` hooks) with their configs in :mod:`.config`,
atomic checkpoints, exact resumption and DDP under ``torchrun`` (:mod:`.checkpoint`, :mod:`.distributed`).
``--data`` is read by :mod:`inter4k.data.sources`.

Imported lazily by :mod:`inter4k.api` so that ``inter4k --help`` does not pay for torch.distributed.
"""

from .sr import SRTrainConfig, SRTrainResult, train_sr
from .vfi import VFITrainConfig, VFITrainResult, train_vfi

__all__ = ["SRTrainConfig", "SRTrainResult", "train_sr", "VFITrainConfig", "VFITrainResult", "train_vfi"]
