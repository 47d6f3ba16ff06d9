"""Train a super-resolution model: ``inter4k train-sr`` / :func:`inter4k.api.train_sr`.

    from inter4k.train.sr import SRTrainConfig, train_sr
    result = train_sr(SRTrainConfig(scale=4, data="images:photos", steps=2000, out="runs/x4"))
    result = train_sr(dict(scale=2, data="~/datasets/inter4k", resume=True, out="runs/x2"))

**Data** (``data``): the SR kinds of :mod:`inter4k.data.sources`: a folder made by ``inter4k prepare``
-> :class:`~inter4k.data.prepare.PreparedSR`; an Inter4K root -> :class:`~inter4k.data.datasets.Inter4KSR`
decoding on the fly (split "train"; validation on split "val"); ``images:DIR`` (or a folder of
PNG / JPEG files) -> :class:`~inter4k.data.images.ImageFolderSR` (``DIR/train`` and ``DIR/val`` when
both exist, else every image of ``DIR`` for training and, as full images, for validation);
``photos[:DIR]`` -> the same over the real-photograph corpus (:mod:`inter4k.data.photos`).

**Optimisation**: L1 loss, AdamW (no weight decay on biases and other 1-D parameters), a per-step
schedule of linear warm-up then cosine decay to ``min_lr``, gradient-norm clipping, bf16 autocast on
CUDA (never on the CPU).

**Validation** every ``val_every`` steps and at the end: PSNR and SSIM on Y (BT.601, MATLAB's rgb2ycbcr;
SSIM with an 11x11 Gaussian window, :func:`inter4k.metrics.ssim`) with ``scale`` border pixels cropped
(docs/EVALUATE.md#border-crop), each the mean over the validation images (SSIM over those at least 11 + 2 x scale pixels
on each side, so that its window fits: None when there are none); the bicubic baseline (MATLAB bicubic
``imresize(lr, scale)``) is measured once, on PSNR-Y. ``best.pt`` keeps the best PSNR-Y.

**Checkpoints** ``OUT/last.pt`` (every ``ckpt_every`` steps, at the end and on Ctrl-C / SIGTERM) and
``OUT/best.pt`` (each new best validation PSNR), written atomically (:mod:`.checkpoint`). They hold
the model's weights and config, the optimiser, the scheduler, the step, the data position (epoch,
batch), every RNG state, the metrics and the full training config. ``resume=True`` continues from
``last.pt`` exactly: the data order is a pure function of (seed, epoch) (a seeded
``DistributedSampler`` per epoch, samples drawn from ``default_rng([seed, epoch, index])``), so the
resumed run skips the batches already seen in the current epoch and then sees the very batches the
uninterrupted run would have seen.

**Logs**: ``OUT/metrics.jsonl`` (one JSON object per line: ``"type": "train"`` every ``log_every``
steps, ``"type": "val"`` after each validation, with ``psnr_y``, ``ssim_y``, ``bicubic_psnr_y`` and
``best_psnr_y``) and ``OUT/config.json``. Progress goes to an optional ``callback(event, info)`` (events
``start``, ``step``, ``val`` with ``psnr``, ``ssim``, ``bicubic`` and ``best``, ``checkpoint``, ``end``),
which the CLI turns into a progress bar; the library itself prints nothing.

**DDP**: under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) each process trains on its share of
every batch (``batch`` is per process), gradients are averaged by ``DistributedDataParallel``,
validation is split over the processes and all-reduced, and only rank 0 writes files or calls the
callback (see :mod:`.distributed`).

The loop, checkpoints, resumption, logs, stops and DDP are :class:`inter4k.train.loop.Trainer`'s (shared
with ``train-vfi``), the data rules :mod:`inter4k.data.sources`'s and the config :mod:`.config`'s; this
module adds what is SR's: the data options (``scale``, ``blur_prob``), the model (built with ``scale``), the L1
loss of an (lr, hr) batch, PSNR-Y / SSIM-Y validation against bicubic, and :class:`SRTrainResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..data.sources import DataSpec
from .config import SRTrainConfig
from .loop import Callback, Trainer, create_trainable, import_model_modules, load_init_weights, run_trainer
from .results import TrainResult


__all__ = ["SRTrainConfig", "SRTrainResult", "SRTrainer", "train_sr"]


@dataclass(kw_only=True)
class SRTrainResult(TrainResult):
    """What a finished (or stopped) run reached: :class:`~inter4k.train.results.TrainResult`'s fields and
    the Y-channel figures (dB for PSNR) of the last validation, the best one and bicubic's."""

    val_psnr: Optional[float]
    val_ssim: Optional[float]
    best_psnr: Optional[float]
    bicubic_psnr: Optional[float]


class SRTrainer(Trainer):
    """The SR hooks of :class:`~inter4k.train.loop.Trainer`: (lr, hr) batches, L1, PSNR-Y / SSIM-Y vs bicubic."""

    task = "sr"
    config_class = SRTrainConfig
    clip_models = False  # the models take frames (N, 3, h, w); video SR's trainer takes clip models

    def data_options(self, purpose: str) -> dict:
        options = dict(super().data_options(purpose), scale=self.cfg.scale)
        if purpose == "train":
            options["blur_prob"] = self.cfg.blur_prob
            options["smooth_prob"] = self.cfg.smooth_prob
            options["quantize"] = self.cfg.quantize_lr
        return options

    def build_model(self) -> tuple[nn.Module, dict]:
        """``create_model(cfg.model, scale=, upsampler=, **model_kwargs)`` and its config dict."""
        cfg = self.cfg
        import_model_modules()
        from ..models.registry import list_models

        if cfg.model not in list_models():
            sr = list_models("sr")
            raise ValueError(f"unknown model {cfg.model!r}; known SR models: {', '.join(sr) or '(none registered)'}")
        kwargs = dict(cfg.model_kwargs)
        kwargs["scale"] = cfg.scale
        if cfg.upsampler is not None:
            kwargs["upsampler"] = cfg.upsampler
        model, config = create_trainable(cfg.model, kwargs)
        from ..models.vsr import is_clip_model

        if is_clip_model(model) != self.clip_models:
            raise ValueError(f"model {cfg.model!r} super-resolves "
                             + ("single frames; train it with `inter4k train-sr`" if self.clip_models else
                                "clips of frames; train it with `inter4k train-vsr`"))
        if cfg.init is not None:  # after the check: a wrong kind of model gets the message above
            load_init_weights(model, cfg.init, "sr", cfg.scale)
        return model, config

    def initial_metrics(self) -> dict:
        return {"best_psnr_y": None, "best_step": None, "last_psnr_y": None, "last_ssim_y": None,
                "bicubic_psnr_y": None, "loss": None}

    def batch_loss(self, batch) -> torch.Tensor:
        lr = batch[0].to(self.device, non_blocking=True)
        hr = batch[1].to(self.device, non_blocking=True)
        with self.autocast():
            sr = self.model(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"model {self.cfg.model!r} returned {tuple(sr.shape)} for an LR batch "
                             f"{tuple(lr.shape)}; expected {tuple(hr.shape)} (x{self.cfg.scale})")
        return F.l1_loss(sr.float(), hr)

    # -- validation: PSNR-Y and SSIM-Y (border = scale) of the model, PSNR-Y of bicubic once ----------
    def val_keys(self) -> tuple[str, ...]:
        return ("psnr_y", "ssim_y", "ssim_images", "bicubic_psnr_y")

    def val_begin(self) -> None:
        self._need_bicubic = self.metrics.get("bicubic_psnr_y") is None

    def val_batch(self, module: nn.Module, batch, sums: dict) -> int:
        from ..data.resize import imresize
        from ..metrics import psnr, ssim
        from ..metrics.ssim import WINDOW_SIZE

        scale = self.cfg.scale
        lr, hr = batch[0].to(self.device), batch[1].to(self.device)
        with self.autocast():
            sr = module(lr)
        sr = sr.float()
        sums["psnr_y"] += float(psnr(sr, hr, crop_border=scale).sum())
        if min(hr.shape[-2:]) - 2 * scale >= WINDOW_SIZE:  # SSIM's window must fit in the cropped image
            sums["ssim_y"] += float(ssim(sr, hr, crop_border=scale).sum())
            sums["ssim_images"] += lr.shape[0]
        if self._need_bicubic:
            sums["bicubic_psnr_y"] += float(psnr(imresize(lr, scale=scale).clamp(0, 1), hr, crop_border=scale).sum())
        return lr.shape[0]

    def val_end(self, step: int, sums: dict, count: float, samples: int, seconds: float) -> bool:
        value = sums["psnr_y"] / max(count, 1)
        if self._need_bicubic:
            self.metrics["bicubic_psnr_y"] = sums["bicubic_psnr_y"] / max(count, 1)
        ssim_y = sums["ssim_y"] / sums["ssim_images"] if sums["ssim_images"] else None
        self.metrics["last_psnr_y"], self.metrics["last_ssim_y"] = value, ssim_y
        improved = self.record_best(value, step, "best_psnr_y")  # the best checkpoint stays PSNR-Y's
        self.log({"type": "val", "step": step, "psnr_y": value, "ssim_y": ssim_y,
                  "bicubic_psnr_y": self.metrics["bicubic_psnr_y"],
                  "best_psnr_y": self.metrics["best_psnr_y"], "samples": int(count),
                  "seconds": seconds, "time": round(time.perf_counter() - self.t0, 3)})
        self.emit("val", step=step, psnr=value, ssim=ssim_y, bicubic=self.metrics["bicubic_psnr_y"],
                  best=self.metrics["best_psnr_y"], improved=improved)
        return improved

    def start_info(self, spec: DataSpec) -> dict:
        return {"scale": self.cfg.scale}

    def make_result(self, start: int) -> SRTrainResult:
        return SRTrainResult(**self.result_fields(start), val_psnr=self.metrics.get("last_psnr_y"),
                             val_ssim=self.metrics.get("last_ssim_y"), best_psnr=self.metrics.get("best_psnr_y"),
                             bicubic_psnr=self.metrics.get("bicubic_psnr_y"))


def train_sr(config: Union[SRTrainConfig, dict, None] = None, callback: Optional[Callback] = None,
             **overrides) -> SRTrainResult:
    """Train an SR model (see the module docstring); returns an :class:`SRTrainResult`.

    ``config`` is an :class:`SRTrainConfig` or a dict of its fields; keyword arguments override it.
    ``callback(event, info)`` receives progress on rank 0. Ctrl-C / SIGTERM saves ``last.pt`` at the
    current step and raises KeyboardInterrupt. Bad settings raise ValueError / TypeError /
    FileNotFoundError before anything is trained.
    """
    return run_trainer(SRTrainer, config, callback, **overrides)
