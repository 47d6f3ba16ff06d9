"""Train a super-resolution model: ``inter4k train-sr`` / :func:`inter4k.api.train_sr`.

    from inter4k.train.sr import SRTrainConfig, train_sr
    result = train_sr(SRTrainConfig(scale=4, data="images:photos", steps=2000, out="runs/x4"))
    result = train_sr(dict(scale=2, data="~/datasets/inter4k", resume=True, out="runs/x2"))

**Data** (``data``): a folder made by ``inter4k prepare`` (it has ``index.json``) ->
:class:`~inter4k.data.prepare.PreparedSR`; an Inter4K root -> :class:`~inter4k.data.datasets.Inter4KSR`
decoding on the fly (split "train"; validation on split "val"); ``images:DIR`` (or a folder of
PNG / JPEG files) -> :class:`~inter4k.data.images.ImageFolderSR` (``DIR/train`` and ``DIR/val`` when
both exist, else every image of ``DIR`` for training and, as full images, for validation).

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
with ``train-vfi``); this module adds what is SR's: the data, the model (built with ``scale``), the L1
loss of an (lr, hr) batch, PSNR-Y / SSIM-Y validation against bicubic, and :class:`SRTrainResult`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint as ckpt_io  # noqa: F401  (kept importable from here)
from . import distributed as dist_util  # noqa: F401
from .loop import (BEST, CONFIG, INTER4K_VAL_PATCH, LAST, METRICS, PHOTOS, RESUMABLE_CHANGES,  # noqa: F401
                   Callback, DataSpec, TaskFunctions, Trainer, TrainConfig, TrainResult, _Repeat, _StopSignals,
                   build_config, check_common, check_stored_patch, create_trainable, is_int, lr_factor,
                   parse_data_path, parse_photos, prepared_or_inter4k_val, resolve_common, result_dict, run_trainer,
                   split_folder)
from .loop import config_diff as _config_diff  # noqa: F401  (the names this module had before loop.py)
from .loop import import_model_modules as _import_model_modules
from .loop import param_groups as _param_groups  # noqa: F401
from .loop import trim_metrics as _trim_metrics  # noqa: F401

SCALES = (2, 3, 4)
IMAGES_PREFIX = "images:"
LR_PATCH = 48  # default HR patch = 48 x scale (LR patches of 48, as EDSR / RCAN train)

_is_int = is_int


@dataclass
class SRTrainConfig(TrainConfig):
    """Everything an SR training run depends on (stored in each checkpoint; see the module docstring).

    The shared fields are :class:`~inter4k.train.loop.TrainConfig`'s; here: ``data`` is a prepared dir,
    an Inter4K root or "images:DIR"; ``patch`` is the HR patch side (default 48 x scale; prepared: the
    stored size); ``val_patch`` defaults to full images (images) or 480 centre crops (Inter4K); ``out``
    to runs/sr-x<scale>-<model>.
    """

    model: str = "sr-small"
    scale: int = 4
    upsampler: Optional[str] = None     # passed to the model factory when given
    blur_prob: float = 0.0              # motion-blurred training samples ("images" and "photos" data)


@dataclass(kw_only=True)
class SRTrainResult(TrainResult):
    """What a finished (or stopped) run reached: :class:`~inter4k.train.loop.TrainResult`'s fields and
    the Y-channel figures (dB for PSNR) of the last validation, the best one and bicubic's."""

    val_psnr: Optional[float]
    val_ssim: Optional[float]
    best_psnr: Optional[float]
    bicubic_psnr: Optional[float]


# --- config ---------------------------------------------------------------------------------------

def make_config(config: Union[SRTrainConfig, dict, None] = None, **overrides) -> SRTrainConfig:
    """An :class:`SRTrainConfig` from a config, a dict and/or keyword overrides (unknown keys are errors)."""
    cfg = build_config(SRTrainConfig, config, overrides, "train_sr")
    check_config(cfg)
    return cfg


def check_config(cfg: SRTrainConfig) -> None:
    """Raise ValueError / TypeError for settings that cannot work (before anything is loaded)."""
    if not _is_int(cfg.scale) or cfg.scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {cfg.scale!r}")
    check_common(cfg)
    for name in ("patch", "val_patch"):
        v = getattr(cfg, name)
        if v is not None and v % cfg.scale:
            raise ValueError(f"{name} {v} is not a multiple of scale {cfg.scale}")
    if not isinstance(cfg.blur_prob, (int, float)) or isinstance(cfg.blur_prob, bool) or not 0 <= cfg.blur_prob <= 1:
        raise ValueError(f"blur_prob must lie in [0, 1], got {cfg.blur_prob!r}")
    if "scale" in cfg.model_kwargs:
        raise ValueError("give the scale as scale=, not in model_kwargs")
    if cfg.upsampler is not None and cfg.model_kwargs.get("upsampler", cfg.upsampler) != cfg.upsampler:
        raise ValueError(f"upsampler {cfg.upsampler!r} and model_kwargs['upsampler'] "
                         f"{cfg.model_kwargs['upsampler']!r} differ")


def _resolve(cfg: SRTrainConfig, stored_patch: Optional[int]) -> SRTrainConfig:
    """Fill in the defaults that depend on other settings (stored in the checkpoint as resolved)."""
    cfg = resolve_common(cfg, str(Path("runs") / f"sr-x{cfg.scale}-{cfg.model}"))
    if cfg.upsampler is not None:  # the stored model_kwargs rebuild the model on their own
        cfg.model_kwargs["upsampler"] = cfg.upsampler
    if cfg.patch is None:
        cfg.patch = stored_patch if stored_patch is not None else LR_PATCH * cfg.scale
    return cfg


# --- data -----------------------------------------------------------------------------------------

def parse_data(data: Optional[str]) -> DataSpec:
    """What kind of data ``data`` names ("prepared", "inter4k", "images" or "photos"; see
    :func:`~inter4k.train.loop.parse_data_path`); a missing folder is a FileNotFoundError.

    ``photos`` (or ``photos:DIR``) is the real-photograph corpus of :mod:`inter4k.data.photos`, built on
    first use in the default folder (or DIR)."""
    return parse_photos(data) or parse_data_path(data, (IMAGES_PREFIX,), "images", "a folder made by inter4k prepare, or images:DIR")


def build_train_dataset(spec: DataSpec, cfg: SRTrainConfig):
    """The training set that ``spec`` names (see the module docstring)."""
    if spec.kind == "prepared":
        from ..data.prepare import PreparedSR

        ds = PreparedSR(spec.path, scale=cfg.scale, seed=cfg.seed)
        check_stored_patch(ds, spec.path, cfg.patch)
        if ds.frames != 1:
            raise ValueError(f"{spec.path} holds {ds.frames}-frame patches; train-sr trains on single frames (--frames 1)")
        return ds
    if spec.kind in ("images", PHOTOS):
        from ..data.images import ImageFolderSR

        # photographs of very different sizes: share the samples out by area
        weighting = "area" if spec.kind == PHOTOS else "equal"
        return ImageFolderSR(split_folder(spec.path, "train"), scale=cfg.scale, patch_size=cfg.patch, split="train",
                             seed=cfg.seed, weighting=weighting, blur_prob=cfg.blur_prob)
    from ..data.datasets import Inter4KSR

    return Inter4KSR(spec.path, split="train", scale=cfg.scale, patch_size=cfg.patch, seed=cfg.seed)


def build_val_dataset(spec: DataSpec, cfg: SRTrainConfig, explicit: bool = False):
    """The validation set for ``spec`` (None when there is none; an error only when ``explicit``)."""
    if spec.kind in ("images", PHOTOS):
        from ..data.images import ImageFolderSR

        return ImageFolderSR(split_folder(spec.path, "val"), scale=cfg.scale, patch_size=cfg.val_patch, split="val")

    def open_prepared(path: Path):
        from ..data.prepare import PreparedSR

        return PreparedSR(path, scale=cfg.scale, augment=False)

    def open_inter4k(root: Path, patch: Optional[int]):
        from ..data.datasets import Inter4KSR

        return Inter4KSR(root, split="val", scale=cfg.scale, patch_size=patch)

    return prepared_or_inter4k_val(spec, cfg.val_patch, explicit, open_prepared, open_inter4k, "images:DIR")


# --- the trainer ----------------------------------------------------------------------------------

def build_model(cfg: SRTrainConfig) -> tuple[nn.Module, dict]:
    """``create_model(cfg.model, scale=, upsampler=, **model_kwargs)`` and its config dict."""
    _import_model_modules()
    from ..models.registry import list_models

    known = list_models()
    if cfg.model not in known:
        sr = list_models("sr")
        raise ValueError(f"unknown model {cfg.model!r}; known SR models: {', '.join(sr) or '(none registered)'}")
    kwargs = dict(cfg.model_kwargs)
    kwargs["scale"] = cfg.scale
    if cfg.upsampler is not None:
        kwargs["upsampler"] = cfg.upsampler
    return create_trainable(cfg.model, kwargs)


class SRTrainer(Trainer):
    """The SR hooks of :class:`~inter4k.train.loop.Trainer`: (lr, hr) batches, L1, PSNR-Y / SSIM-Y vs bicubic."""

    task = "sr"
    functions = TaskFunctions(parse_data, _resolve, build_train_dataset, build_val_dataset, build_model)

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


_Trainer = SRTrainer  # the name before the shared loop moved to loop.py


def train_sr(config: Union[SRTrainConfig, dict, None] = None, callback: Optional[Callback] = None,
             **overrides) -> SRTrainResult:
    """Train an SR model (see the module docstring); returns an :class:`SRTrainResult`.

    ``config`` is an :class:`SRTrainConfig` or a dict of its fields; keyword arguments override it.
    ``callback(event, info)`` receives progress on rank 0. Ctrl-C / SIGTERM saves ``last.pt`` at the
    current step and raises KeyboardInterrupt. Bad settings raise ValueError / TypeError /
    FileNotFoundError before anything is trained.
    """
    cfg = make_config(config, **overrides)
    parse_data(cfg.data)  # a missing data folder fails before any process group is made
    return run_trainer(SRTrainer, cfg, callback)
