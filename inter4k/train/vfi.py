"""Train a video frame interpolation model: ``inter4k train-vfi`` / :func:`inter4k.api.train_vfi`.

    from inter4k.train.vfi import VFITrainConfig, train_vfi
    result = train_vfi(VFITrainConfig(mode="30to60", data="synthetic", steps=2000, out="runs/vfi"))
    result = train_vfi(dict(mode="8x", data="~/datasets/inter4k", resume=True, out="runs/vfi-8x"))

**Modes** (docs/DATA.md#vfi-modes): "30to60" (inputs 2 frames apart, one target at t = 1/2), "15to60" (4 apart,
targets at t = 1/4, 1/2, 3/4), "8x" (8 apart, targets at t = i/8, i = 1..7).

**Data** (``data``): an Inter4K root -> :class:`~inter4k.data.datasets.Inter4KVFI` decoding on the
fly (split "train"; validation on split "val", 480-pixel centre crops or whole frames when smaller);
a folder made by ``inter4k prepare --task vfi`` -> :class:`~inter4k.data.prepare.PreparedVFI` (its
mode must be ``mode``); ``synthetic`` -> :class:`~inter4k.data.motion.SyntheticMotionVFI` on
scikit-image's bundled photographs (train / val photographs of :data:`~inter4k.data.motion.PHOTO_SPLITS`);
``synthetic:DIR`` or ``images:DIR`` (or a folder of PNG / JPEG files) -> the same synthetic motion over
the photographs of ``DIR`` (``DIR/train`` and ``DIR/val`` when both exist, else every image for
training and, with fixed other motion, for validation); ``photos`` (or ``photos:DIR``) -> synthetic
motion over the real-photograph corpus of :mod:`inter4k.data.photos` (built on first use), training
clips from its ``train`` split only, validation clips (fixed) from its ``val`` split.

**Realism** (``realism``, rendered data only; footage refuses it): "rigid" or "real"
(:mod:`inter4k.data.realism`: large displacements, occluding layers, non-rigid motion, motion blur,
brightness changes, sensor noise, H.264); default "real" for ``photos`` and "rigid" for ``synthetic``
(the source's ``default_realism``). Validation clips get the same realism as training clips.

**Real validation footage**: ``val_data="videos"`` (or ``videos:DIR``) validates on the samples of the
opencv-doc videos (:class:`~inter4k.data.videos.VideoTripletsVFI`, whole frames or ``val_patch`` centre
crops; the corpus is built on first use); they are never training data.

**Loss**: L1 over every target frame: a sample of T targets is T model calls
``model(frame0, frame1, t)``, made as one call on a batch of N x T (the inputs repeated).
With ``flow_loss`` > 0 (synthetic data only, which knows the true motion; another kind is a
ValueError) the flows are supervised too: the training set returns the true ``F_t->0``, ``F_t->1``
(:class:`~inter4k.data.motion.SyntheticMotionVFI` ``with_flows=True``), the model is called with
``return_flows=True`` (vfi-small) and the loss is ``L1(frame) + flow_loss * mean|flows - true| / P``,
P the frame side: flows divided by the patch size, so the weight does not depend on the patch (a
photometric loss alone only sees about a pixel around the current flow). Validation is unchanged.

**Validation** every ``val_every`` steps and at the end: PSNR on Y (BT.601) and on RGB (docs/EVALUATE.md#metrics, no
border cropped) of every target frame, the mean over all target frames of the validation set, for the
model and, measured once, for the linear blend ``(1 - t) I0 + t I1`` (frame averaging, the
``vfi-average`` baseline). A frame reproduced exactly (PSNR = inf) counts as :data:`PSNR_CAP` dB,
so one static clip cannot make the mean infinite. ``best.pt`` keeps the best PSNR-Y.

Everything else (AdamW + warm-up / cosine, gradient clipping, bf16 autocast on CUDA only, atomic
``last.pt`` / ``best.pt``, exact ``resume``, ``metrics.jsonl``, Ctrl-C, DDP under ``torchrun``) is
:class:`inter4k.train.loop.Trainer`'s and the data rules :mod:`inter4k.data.sources`'s, as for
``train-sr``; checkpoints say ``"task": "vfi"``, and
resuming a train-sr run (or the reverse) is an error.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data import sources
from ..data.sources import DataSpec
from .config import MODES, VFITrainConfig
from .loop import Callback, Trainer, create_trainable, import_model_modules, load_init_weights, run_trainer
from .results import TrainResult

__all__ = ["MODES", "VFITrainConfig", "VFITrainResult", "VFITrainer", "flatten_targets", "train_vfi"]

PSNR_CAP = 100.0


@dataclass(kw_only=True)
class VFITrainResult(TrainResult):
    """What a finished (or stopped) VFI run reached: :class:`~inter4k.train.results.TrainResult`'s fields
    and the mode. PSNRs in dB over every target frame of the validation set (None without validation)."""

    val_psnr_y: Optional[float]
    val_psnr_rgb: Optional[float]
    best_psnr_y: Optional[float]
    average_psnr_y: Optional[float]
    average_psnr_rgb: Optional[float]
    mode: str


def check_flow_data(spec: DataSpec, cfg: VFITrainConfig) -> None:
    """ValueError when ``flow_loss`` > 0 and the data has no true flows (only synthetic motion has), or
    ``realism`` is given for data that is not rendered."""
    source = sources.get_source(spec.kind, "vfi")
    if cfg.flow_loss > 0 and not source.has_true_flows(spec):
        raise ValueError(f"flow_loss {cfg.flow_loss} needs the true flows of synthetic data (--data synthetic, "
                         f"synthetic:DIR, photos or a folder rendered by inter4k prepare --data); {spec.kind} data "
                         f"has none: use --flow-loss 0")
    stored = source.stored_realism(spec)
    if cfg.realism is not None and stored is not None:
        raise ValueError(f"the samples in {spec.path} were rendered with realism {stored!r} by inter4k prepare; "
                         f"leave --realism out")
    if cfg.realism is not None and source.default_realism is None:
        raise ValueError(f"realism {cfg.realism!r} applies to synthetic clips (--data synthetic, synthetic:DIR or "
                         f"photos); {spec.kind} data is real footage: leave --realism out")


def flatten_targets(inputs: torch.Tensor, targets: torch.Tensor, t: torch.Tensor):
    """A batch of N samples with T targets each as N x T interpolation problems.

    Shape:
        - inputs: (N, 2, 3, H, W); targets: (N, T, 3, H, W); t: (N, T).
        - Output: frame0, frame1, target (N*T, 3, H, W) and t (N*T,), sample-major (sample n's
          targets are rows n*T .. n*T + T - 1).

    Example:
        >>> f0, f1, gt, tt = flatten_targets(torch.rand(2, 2, 3, 4, 4), torch.rand(2, 3, 3, 4, 4), torch.rand(2, 3))
        >>> tuple(f0.shape), tuple(tt.shape)
        ((6, 3, 4, 4), (6,))
    """
    if inputs.dim() != 5 or inputs.shape[1] != 2 or targets.dim() != 5 or t.dim() != 2:
        raise ValueError(f"expected inputs (N, 2, 3, H, W), targets (N, T, 3, H, W) and t (N, T); got "
                         f"{tuple(inputs.shape)}, {tuple(targets.shape)}, {tuple(t.shape)}")
    n, k = targets.shape[:2]
    if inputs.shape[0] != n or t.shape != (n, k) or inputs.shape[2:] != targets.shape[2:]:
        raise ValueError(f"inputs {tuple(inputs.shape)}, targets {tuple(targets.shape)} and t {tuple(t.shape)} "
                         f"do not match")
    rest = inputs.shape[2:]
    frame0 = inputs[:, 0:1].expand(n, k, *rest).reshape(n * k, *rest)
    frame1 = inputs[:, 1:2].expand(n, k, *rest).reshape(n * k, *rest)
    return frame0, frame1, targets.reshape(n * k, *rest), t.reshape(n * k)


def capped_psnr(pred: torch.Tensor, ref: torch.Tensor, y_channel: bool) -> torch.Tensor:
    """:func:`inter4k.metrics.psnr` per image (no border cropped), inf (an exact frame) as PSNR_CAP."""
    from ..metrics import psnr

    return psnr(pred, ref, crop_border=0, y_channel=y_channel).clamp(max=PSNR_CAP)


class VFITrainer(Trainer):
    """The VFI hooks of :class:`~inter4k.train.loop.Trainer`: (inputs, targets, t) batches, L1 over
    every target, PSNR-Y / RGB against the linear blend."""

    task = "vfi"
    config_class = VFITrainConfig

    @classmethod
    def check_data(cls, cfg: VFITrainConfig) -> DataSpec:
        spec = super().check_data(cfg)
        check_flow_data(spec, cfg)  # flow_loss without true flows fails before any process group is made
        return spec

    def describe_data(self, spec: DataSpec) -> str:
        where, source = super().describe_data(spec), sources.get_source(spec.kind, self.task)
        realism = self.cfg.realism or source.default_realism or source.stored_realism(spec)
        return f"{where} ({realism} motion)" if realism is not None else where

    def data_options(self, purpose: str) -> dict:
        options = dict(super().data_options(purpose), mode=self.cfg.mode, realism=self.cfg.realism)
        if purpose == "train":
            options["with_flows"] = self.cfg.flow_loss > 0
        return options

    def build_model(self) -> tuple[nn.Module, dict]:
        """``create_model(cfg.model, **model_kwargs)`` (a registered VFI model) and its config dict."""
        cfg = self.cfg
        import_model_modules(("inter4k.models.vfi",))
        from ..models.registry import list_models

        vfi = list_models("vfi")
        if cfg.model not in vfi:
            known = ", ".join(vfi) or "(none registered)"
            if cfg.model in list_models():
                raise ValueError(f"model {cfg.model!r} is not a frame interpolation model; known VFI models: {known}")
            raise ValueError(f"unknown model {cfg.model!r}; known VFI models: {known}")
        model, config = create_trainable(cfg.model, dict(cfg.model_kwargs))
        if cfg.flow_loss > 0 and "return_flows" not in inspect.signature(model.forward).parameters:
            raise ValueError(f"model {cfg.model!r} cannot return its flows (no return_flows argument), which "
                             f"flow_loss {cfg.flow_loss} needs; use vfi-small or --flow-loss 0")
        if cfg.init is not None:  # after the checks: a wrong model gets their message, not a loading error
            load_init_weights(model, cfg.init, "vfi")
        return model, config

    def start_info(self, spec: DataSpec) -> dict:
        return {"mode": self.cfg.mode}

    def initial_metrics(self) -> dict:
        return {"best_psnr_y": None, "best_step": None, "last_psnr_y": None, "last_psnr_rgb": None,
                "average_psnr_y": None, "average_psnr_rgb": None, "loss": None}

    def _flat(self, batch):
        inputs, targets, t = (x.to(self.device, non_blocking=True) for x in batch[:3])
        return flatten_targets(inputs, targets, t)

    def batch_loss(self, batch) -> torch.Tensor:
        frame0, frame1, target, t = self._flat(batch)
        supervise = self.cfg.flow_loss > 0
        with self.autocast():
            pred = self.model(frame0, frame1, t, return_flows=True) if supervise else self.model(frame0, frame1, t)
        if supervise:
            pred, flows = pred
        if pred.shape != target.shape:
            raise ValueError(f"model {self.cfg.model!r} returned {tuple(pred.shape)} for frames "
                             f"{tuple(frame0.shape)}; expected {tuple(target.shape)}")
        loss = F.l1_loss(pred.float(), target)
        if supervise:
            true = batch[3].to(self.device, non_blocking=True)
            true = true.reshape(-1, *true.shape[2:])  # (N, T, 4, H, W) -> N*T, sample-major as the frames
            if flows.shape != true.shape:
                raise ValueError(f"model {self.cfg.model!r} returned flows {tuple(flows.shape)}; expected "
                                 f"{tuple(true.shape)}")
            side = max(target.shape[-2:])  # P: a scale-free weight (flows in patch sizes)
            loss = loss + self.cfg.flow_loss * (flows.float() - true).abs().mean() / side
        return loss

    # -- validation: PSNR-Y and RGB over every target frame; the linear blend once ------------------
    def val_keys(self) -> tuple[str, ...]:
        return ("psnr_y", "psnr_rgb", "average_psnr_y", "average_psnr_rgb")

    def val_begin(self) -> None:
        self._need_average = self.metrics.get("average_psnr_y") is None

    def val_batch(self, module: nn.Module, batch, sums: dict) -> int:
        frame0, frame1, target, t = self._flat(batch)
        with self.autocast():
            pred = module(frame0, frame1, t)
        pred = pred.float()
        sums["psnr_y"] += float(capped_psnr(pred, target, True).sum())
        sums["psnr_rgb"] += float(capped_psnr(pred, target, False).sum())
        if self._need_average:
            w = t.view(-1, 1, 1, 1)
            blend = (1 - w) * frame0 + w * frame1
            sums["average_psnr_y"] += float(capped_psnr(blend, target, True).sum())
            sums["average_psnr_rgb"] += float(capped_psnr(blend, target, False).sum())
        return target.shape[0]

    def val_end(self, step: int, sums: dict, count: float, samples: int, seconds: float) -> bool:
        n = max(count, 1)
        y, rgb = sums["psnr_y"] / n, sums["psnr_rgb"] / n
        if self._need_average:
            self.metrics["average_psnr_y"] = sums["average_psnr_y"] / n
            self.metrics["average_psnr_rgb"] = sums["average_psnr_rgb"] / n
        self.metrics["last_psnr_y"], self.metrics["last_psnr_rgb"] = y, rgb
        improved = self.record_best(y, step, "best_psnr_y")
        self.log({"type": "val", "step": step, "psnr_y": y, "psnr_rgb": rgb,
                  "average_psnr_y": self.metrics["average_psnr_y"],
                  "average_psnr_rgb": self.metrics["average_psnr_rgb"],
                  "best_psnr_y": self.metrics["best_psnr_y"], "samples": samples, "frames": int(count),
                  "seconds": seconds, "time": round(time.perf_counter() - self.t0, 3)})
        self.emit("val", step=step, psnr=y, psnr_rgb=rgb, average=self.metrics["average_psnr_y"],
                  best=self.metrics["best_psnr_y"], improved=improved)
        return improved

    def make_result(self, start: int) -> VFITrainResult:
        m = self.metrics
        return VFITrainResult(**self.result_fields(start), val_psnr_y=m.get("last_psnr_y"),
                              val_psnr_rgb=m.get("last_psnr_rgb"), best_psnr_y=m.get("best_psnr_y"),
                              average_psnr_y=m.get("average_psnr_y"), average_psnr_rgb=m.get("average_psnr_rgb"),
                              mode=self.cfg.mode)


def train_vfi(config: Union[VFITrainConfig, dict, None] = None, callback: Optional[Callback] = None,
              **overrides) -> VFITrainResult:
    """Train a VFI model (see the module docstring); returns a :class:`VFITrainResult`.

    ``config`` is a :class:`VFITrainConfig` or a dict of its fields; keyword arguments override it.
    ``callback(event, info)`` receives progress on rank 0 (events ``start``, ``step``, ``val``,
    ``checkpoint``, ``end``). Ctrl-C / SIGTERM saves ``last.pt`` at the current step and raises
    KeyboardInterrupt. Bad settings raise ValueError / TypeError / FileNotFoundError before anything
    is trained.
    """
    return run_trainer(VFITrainer, config, callback, **overrides)
