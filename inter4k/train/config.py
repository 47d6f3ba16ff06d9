"""The training configs: :class:`TrainConfig` (what every task shares), :class:`SRTrainConfig`,
:class:`VSRTrainConfig` and :class:`VFITrainConfig`. A config checks itself (:meth:`TrainConfig.check`, before anything is
loaded), fills in its defaults (:meth:`TrainConfig.resolved`, the form stored in checkpoints) and
names its run folder (:meth:`TrainConfig.run_folder`, the one place that computes the default
``runs/<name>``). No torch here: the CLI reads it without paying for torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

RUNS = Path("runs")  # where run folders go unless ``out`` says otherwise

# Config fields that may change between a run and its resumption; every other field must match.
RESUMABLE_CHANGES = ("workers", "val_every", "ckpt_every", "log_every", "out", "resume", "device", "stop_at",
                     "amp", "deterministic")

SCALES = (2, 3, 4)
LR_PATCH = 48  # SR's default HR patch = 48 x scale (LR patches of 48, as EDSR / RCAN train)
MODES = ("30to60", "15to60", "8x")  # the keys of inter4k.data.datasets.VFI_SPANS (a test checks)
CLIP_FRAMES = (3, 5, 9)  # the keys of inter4k.data.clips.CLIP_FRAMES (video SR clips of span 2, 4, 8; a test checks)
VFI_PATCH = 256


def is_int(v) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class TrainConfig:
    """The settings every task shares (a task's config adds its own and overrides the hooks)."""

    data: Optional[str] = None          # what the task accepts (default: $INTER4K_ROOT)
    val_data: Optional[str] = None      # the same kinds; default: derived from ``data``
    model: str = ""
    model_kwargs: dict = field(default_factory=dict)
    steps: int = 100_000
    batch: int = 16                     # per process
    patch: Optional[int] = None         # patch side; the task's default
    lr: float = 2e-4
    min_lr: float = 1e-6
    warmup: Optional[int] = None        # default min(1000, steps // 20)
    weight_decay: float = 1e-4
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0              # max gradient norm; 0 disables
    workers: Optional[int] = None       # DataLoader workers; default min(4, cpu count)
    val_every: int = 1000               # 0: no validation
    val_patch: Optional[int] = None     # the task's default
    ckpt_every: int = 1000              # 0: only at the end / on interrupt
    log_every: int = 10
    out: Optional[str] = None           # default runs/<run_name()>
    resume: bool = False
    seed: int = 0
    device: Optional[str] = None        # default cuda if available
    amp: Optional[bool] = None          # bf16 autocast; default on for CUDA, never on the CPU
    stop_at: Optional[int] = None       # stop (with a checkpoint) after this global step; resume later
    deterministic: bool = False         # CUDA: deterministic algorithms (slower)
    init: Optional[str] = None          # start from these weights (a model name or file) instead of at random

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    # -- hooks of a task's config ------------------------------------------------------------------
    def run_name(self) -> str:
        """The default run folder's name under runs/."""
        raise NotImplementedError

    def default_patch(self) -> int:
        """The training patch side when neither ``patch`` nor the data fixes one."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise ValueError / TypeError for settings that cannot work (before anything is loaded)."""
        for name in ("steps", "batch"):
            v = getattr(self, name)
            if not is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("patch", "val_patch"):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("val_every", "ckpt_every", "log_every"):
            v = getattr(self, name)
            if not is_int(v) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if self.log_every == 0:
            raise ValueError("log_every must be >= 1")
        if self.workers is not None and (not is_int(self.workers) or self.workers < 0):
            raise ValueError(f"workers must be an integer >= 0, got {self.workers!r}")
        if self.warmup is not None and (not is_int(self.warmup) or self.warmup < 0):
            raise ValueError(f"warmup must be an integer >= 0, got {self.warmup!r}")
        if self.stop_at is not None and (not is_int(self.stop_at) or self.stop_at < 1):
            raise ValueError(f"stop_at must be a positive integer, got {self.stop_at!r}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if not _is_number(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr {self.min_lr} is larger than lr {self.lr}")
        if len(tuple(self.betas)) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a model name, got {self.model!r}")
        if not isinstance(self.model_kwargs, dict):
            raise TypeError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        if not is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    def resolved(self, stored_patch: Optional[int]):
        """A copy with the defaults filled in (stored in the checkpoint as resolved); ``stored_patch`` is
        the patch side the data fixes (prepared patches), else None."""
        cfg = dataclasses.replace(self, betas=tuple(float(b) for b in self.betas), model_kwargs=dict(self.model_kwargs))
        if cfg.warmup is None:
            cfg.warmup = min(1000, cfg.steps // 20)
        if cfg.out is None:
            cfg.out = str(cfg.run_folder())
        if cfg.workers is None:
            cfg.workers = min(4, os.cpu_count() or 1)
        if cfg.patch is None:
            cfg.patch = stored_patch if stored_patch is not None else cfg.default_patch()
        return cfg

    def run_folder(self) -> Path:
        """``out``, else runs/<run_name()>."""
        return Path(self.out).expanduser() if self.out is not None else RUNS / self.run_name()

    @classmethod
    def make(cls, config=None, what: str = "train", **overrides):
        """A checked ``cls`` from a config, a dict and/or keyword overrides; unknown keys are a TypeError
        naming them (``what`` names the function in the message)."""
        if config is None:
            base: dict = {}
        elif isinstance(config, cls):
            base = dataclasses.asdict(config)
        elif isinstance(config, dict):
            base = dict(config)
        else:
            raise TypeError(f"config must be an {cls.__name__} or a dict, got {type(config).__name__}")
        base.update(overrides)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(base) - names)
        if unknown:
            raise TypeError(f"unknown {what} option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        cfg = cls(**base)
        cfg.check()
        return cfg


@dataclass
class SRTrainConfig(TrainConfig):
    """Everything an SR training run depends on (stored in each checkpoint; see :mod:`inter4k.train.sr`).

    Here: ``data`` is a prepared dir, an Inter4K root, "images:DIR" or "photos[:DIR]"; ``patch`` is the
    HR patch side (default 48 x scale; prepared: the stored size); ``val_patch`` defaults to full images
    (images) or 480 centre crops (Inter4K); ``out`` to runs/sr-x<scale>-<model>.
    """

    model: str = "sr-lr-small"
    scale: int = 4
    upsampler: Optional[str] = None     # passed to the model factory when given
    blur_prob: float = 0.0              # motion-blurred training samples ("images" and "photos" data)
    smooth_prob: float = 0.0            # synthetic smooth training samples ("images" and "photos" data)
    quantize_lr: bool = True            # round the training LR to 8 bits, as an LR image or video frame is

    def run_name(self) -> str:
        return f"sr-x{self.scale}-{self.model}"

    def default_patch(self) -> int:
        return LR_PATCH * self.scale

    def check(self) -> None:
        if not is_int(self.scale) or self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {self.scale!r}")
        super().check()
        for name in ("patch", "val_patch"):
            v = getattr(self, name)
            if v is not None and v % self.scale:
                raise ValueError(f"{name} {v} is not a multiple of scale {self.scale}")
        for name in ("blur_prob", "smooth_prob"):
            v = getattr(self, name)
            if not _is_number(v) or not 0 <= v <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {v!r}")
        if "scale" in self.model_kwargs:
            raise ValueError("give the scale as scale=, not in model_kwargs")
        if self.upsampler is not None and self.model_kwargs.get("upsampler", self.upsampler) != self.upsampler:
            raise ValueError(f"upsampler {self.upsampler!r} and model_kwargs['upsampler'] "
                             f"{self.model_kwargs['upsampler']!r} differ")

    def resolved(self, stored_patch: Optional[int]) -> "SRTrainConfig":
        cfg = super().resolved(stored_patch)
        if cfg.upsampler is not None:  # the stored model_kwargs rebuild the model on their own
            cfg.model_kwargs["upsampler"] = cfg.upsampler
        return cfg


@dataclass
class VSRTrainConfig(SRTrainConfig):
    """A video SR run (see :mod:`inter4k.train.vsr`): :class:`SRTrainConfig`'s settings for a clip model.

    Here: ``data`` is "photos[:DIR]" (default: rendered clips over the photo corpus) or an Inter4K root;
    ``frames`` the clip length T (3, 5 or 9); ``val_clips`` how many held-out clips each validation
    scores; the LR is rounded to 8 bits (``quantize_lr``) unless told otherwise; ``patch`` is the HR frame
    side; ``out`` defaults to runs/vsr-x<scale>-<model>; ``frame_init`` the single-frame weights the model's
    per-frame network starts from ("auto": the bundled default SR model for the scale when it fits; None:
    random; ignored with ``init``). ``blur_prob`` / ``smooth_prob`` (single-image augmentations) do not apply.
    """

    data: Optional[str] = "photos"
    model: str = "vsr-small"
    quantize_lr: bool = True
    frames: int = 5
    val_clips: int = 8
    # the per-frame network's starting weights (a single-frame model name with bundled weights, or a
    # checkpoint); "auto": the bundled default SR model for the scale when its architecture is the
    # per-frame network's, else none; None: a random start
    frame_init: Optional[str] = "auto"

    def run_name(self) -> str:
        return f"vsr-x{self.scale}-{self.model}"

    def check(self) -> None:
        super().check()
        if not is_int(self.frames) or self.frames not in CLIP_FRAMES:
            raise ValueError(f"frames must be one of {', '.join(map(str, CLIP_FRAMES))}, got {self.frames!r}")
        if not is_int(self.val_clips) or self.val_clips < 1:
            raise ValueError(f"val_clips must be a positive integer, got {self.val_clips!r}")
        if self.frame_init is not None and (not isinstance(self.frame_init, str) or not self.frame_init):
            raise ValueError(f"frame_init must be a model name, a checkpoint path, 'auto' or None, got {self.frame_init!r}")
        for name in ("blur_prob", "smooth_prob"):
            if getattr(self, name):
                raise ValueError(f"{name} is a single-image augmentation of train-sr; train-vsr takes clips")


@dataclass
class VFITrainConfig(TrainConfig):
    """Everything a VFI training run depends on (stored in each checkpoint; see :mod:`inter4k.train.vfi`).

    Here: ``data`` is an Inter4K root, a prepared VFI folder, "synthetic" or "synthetic:DIR" /
    "images:DIR", or "photos[:DIR]"; ``realism`` the realism of rendered clips (None: "real" for
    photos, "rigid" for synthetic; other data refuses it); ``patch`` is the frame side (default 256; prepared: the stored size); ``val_patch``
    defaults to 480 centre crops (Inter4K) or ``patch`` (synthetic); ``out`` to runs/vfi-<mode>-<model>.
    """

    model: str = "vfi-small"
    mode: str = "30to60"
    flow_loss: float = 0.0   # weight of the flow supervision (synthetic data; see inter4k.train.vfi)
    realism: Optional[str] = None  # rendered clips: "rigid" / "real" (None: the data source's default)

    def run_name(self) -> str:
        return f"vfi-{self.mode}-{self.model}"

    def default_patch(self) -> int:
        return VFI_PATCH

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not _is_number(self.flow_loss) or self.flow_loss < 0:
            raise ValueError(f"flow_loss must be a finite number >= 0, got {self.flow_loss!r}")
        if self.realism is not None:
            from ..data.realism import REALISM

            if self.realism not in REALISM:
                raise ValueError(f"realism must be one of {', '.join(REALISM)}, got {self.realism!r}")
        super().check()


def config_diff(old: dict, new: dict, defaults: Optional[dict] = None) -> list[str]:
    """The settings that differ between a checkpoint's config and now (except RESUMABLE_CHANGES).

    A setting the checkpoint lacks (it was written before the setting existed) counts as its default
    from ``defaults``, so adding a config field does not make older runs unresumable.
    """
    diffs = []
    defaults = defaults or {}
    for key in sorted(set(old) | set(new)):
        if key in RESUMABLE_CHANGES:
            continue
        a, b = old.get(key, defaults.get(key)), new.get(key)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            a, b = list(a), list(b)
        if a != b:
            diffs.append(f"{key}: {a!r} in the checkpoint, {b!r} now")
    return diffs

