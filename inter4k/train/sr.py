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

**Validation** every ``val_every`` steps and at the end: PSNR on Y (BT.601, MATLAB's rgb2ycbcr) with
``scale`` border pixels cropped (SPEC §5), the mean over the validation set; the bicubic baseline
(MATLAB bicubic ``imresize(lr, scale)``) is measured once.

**Checkpoints** ``OUT/last.pt`` (every ``ckpt_every`` steps, at the end and on Ctrl-C / SIGTERM) and
``OUT/best.pt`` (each new best validation PSNR), written atomically (:mod:`.checkpoint`). They hold
the model's weights and config, the optimiser, the scheduler, the step, the data position (epoch,
batch), every RNG state, the metrics and the full training config. ``resume=True`` continues from
``last.pt`` exactly: the data order is a pure function of (seed, epoch) (a seeded
``DistributedSampler`` per epoch, samples drawn from ``default_rng([seed, epoch, index])``), so the
resumed run skips the batches already seen in the current epoch and then sees the very batches the
uninterrupted run would have seen.

**Logs**: ``OUT/metrics.jsonl`` (one JSON object per line: ``"type": "train"`` every ``log_every``
steps, ``"type": "val"`` after each validation) and ``OUT/config.json``. Progress goes to an optional
``callback(event, info)`` (events ``start``, ``step``, ``val``, ``checkpoint``, ``end``), which the CLI
turns into a progress bar; the library itself prints nothing.

**DDP**: under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) each process trains on its share of
every batch (``batch`` is per process), gradients are averaged by ``DistributedDataParallel``,
validation is split over the processes and all-reduced, and only rank 0 writes files or calls the
callback (see :mod:`.distributed`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from . import checkpoint as ckpt_io
from . import distributed as dist_util

SCALES = (2, 3, 4)
IMAGES_PREFIX = "images:"
LR_PATCH = 48  # default HR patch = 48 x scale (LR patches of 48, as EDSR / RCAN train)
INTER4K_VAL_PATCH = 480  # centre crops of Inter4K validation frames (a multiple of 2, 3 and 4)
METRICS = "metrics.jsonl"
CONFIG = "config.json"
LAST = "last.pt"
BEST = "best.pt"

# Config fields that may change between a run and its resumption; every other field must match.
RESUMABLE_CHANGES = ("workers", "val_every", "ckpt_every", "log_every", "out", "resume", "device", "stop_at",
                     "amp", "deterministic")

Callback = Callable[[str, dict], None]


@dataclass
class SRTrainConfig:
    """Everything a training run depends on (stored in each checkpoint; see the module docstring)."""

    scale: int = 4
    data: Optional[str] = None          # prepared dir | Inter4K root | "images:DIR" (default: $INTER4K_ROOT)
    val_data: Optional[str] = None      # the same kinds; default: derived from ``data``
    model: str = "sr-small"
    upsampler: Optional[str] = None     # passed to the model factory when given
    model_kwargs: dict = field(default_factory=dict)
    steps: int = 100_000
    batch: int = 16                     # per process
    patch: Optional[int] = None         # HR patch side; default 48 x scale (prepared: the stored size)
    lr: float = 2e-4
    min_lr: float = 1e-6
    warmup: Optional[int] = None        # default min(1000, steps // 20)
    weight_decay: float = 1e-4
    betas: tuple = (0.9, 0.99)
    grad_clip: float = 1.0              # max gradient norm; 0 disables
    workers: Optional[int] = None       # DataLoader workers; default min(4, cpu count)
    val_every: int = 1000               # 0: no validation
    val_patch: Optional[int] = None     # default: full images (images), 480 centre crops (Inter4K)
    ckpt_every: int = 1000              # 0: only at the end / on interrupt
    log_every: int = 10
    out: Optional[str] = None           # default runs/sr-x<scale>-<model>
    resume: bool = False
    seed: int = 0
    device: Optional[str] = None        # default cuda if available
    amp: Optional[bool] = None          # bf16 autocast; default on for CUDA, never on the CPU
    stop_at: Optional[int] = None       # stop (with a checkpoint) after this global step; resume later
    deterministic: bool = False         # CUDA: deterministic algorithms (slower)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d


@dataclass
class SRTrainResult:
    """What a finished (or stopped) run reached; ``model`` is the trained module (unwrapped)."""

    out: Path
    last: Path
    best: Optional[Path]
    step: int
    start_step: int
    steps: int
    finished: bool
    loss: Optional[float]
    val_psnr: Optional[float]
    best_psnr: Optional[float]
    bicubic_psnr: Optional[float]
    seconds: float
    world_size: int
    device: str
    amp: bool
    config: dict
    model: Optional[nn.Module] = field(default=None, repr=False)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        for k in ("out", "last", "best"):
            d[k] = None if d[k] is None else str(d[k])
        return d


# --- config ---------------------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def make_config(config: Union[SRTrainConfig, dict, None] = None, **overrides) -> SRTrainConfig:
    """An :class:`SRTrainConfig` from a config, a dict and/or keyword overrides (unknown keys are errors)."""
    if config is None:
        base: dict = {}
    elif isinstance(config, SRTrainConfig):
        base = dataclasses.asdict(config)
    elif isinstance(config, dict):
        base = dict(config)
    else:
        raise TypeError(f"config must be an SRTrainConfig or a dict, got {type(config).__name__}")
    base.update(overrides)
    names = {f.name for f in dataclasses.fields(SRTrainConfig)}
    unknown = sorted(set(base) - names)
    if unknown:
        raise TypeError(f"unknown train_sr option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    cfg = SRTrainConfig(**base)
    check_config(cfg)
    return cfg


def check_config(cfg: SRTrainConfig) -> None:
    """Raise ValueError / TypeError for settings that cannot work (before anything is loaded)."""
    if not _is_int(cfg.scale) or cfg.scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(str, SCALES))}, got {cfg.scale!r}")
    for name in ("steps", "batch"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    for name in ("patch", "val_patch"):
        v = getattr(cfg, name)
        if v is None:
            continue
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if v % cfg.scale:
            raise ValueError(f"{name} {v} is not a multiple of scale {cfg.scale}")
    for name in ("val_every", "ckpt_every", "log_every"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    if cfg.log_every == 0:
        raise ValueError("log_every must be >= 1")
    if cfg.workers is not None and (not _is_int(cfg.workers) or cfg.workers < 0):
        raise ValueError(f"workers must be an integer >= 0, got {cfg.workers!r}")
    if cfg.warmup is not None and (not _is_int(cfg.warmup) or cfg.warmup < 0):
        raise ValueError(f"warmup must be an integer >= 0, got {cfg.warmup!r}")
    if cfg.stop_at is not None and (not _is_int(cfg.stop_at) or cfg.stop_at < 1):
        raise ValueError(f"stop_at must be a positive integer, got {cfg.stop_at!r}")
    for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if cfg.lr <= 0:
        raise ValueError(f"lr must be > 0, got {cfg.lr!r}")
    if cfg.min_lr > cfg.lr:
        raise ValueError(f"min_lr {cfg.min_lr} is larger than lr {cfg.lr}")
    if len(tuple(cfg.betas)) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    if not isinstance(cfg.model, str) or not cfg.model:
        raise ValueError(f"model must be a model name, got {cfg.model!r}")
    if not isinstance(cfg.model_kwargs, dict):
        raise TypeError(f"model_kwargs must be a dict, got {type(cfg.model_kwargs).__name__}")
    if "scale" in cfg.model_kwargs:
        raise ValueError("give the scale as scale=, not in model_kwargs")
    if cfg.upsampler is not None and cfg.model_kwargs.get("upsampler", cfg.upsampler) != cfg.upsampler:
        raise ValueError(f"upsampler {cfg.upsampler!r} and model_kwargs['upsampler'] "
                         f"{cfg.model_kwargs['upsampler']!r} differ")
    if not _is_int(cfg.seed):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")


def _resolve(cfg: SRTrainConfig, stored_patch: Optional[int]) -> SRTrainConfig:
    """Fill in the defaults that depend on other settings (stored in the checkpoint as resolved)."""
    cfg = dataclasses.replace(cfg, betas=tuple(float(b) for b in cfg.betas), model_kwargs=dict(cfg.model_kwargs))
    if cfg.upsampler is not None:  # the stored model_kwargs rebuild the model on their own
        cfg.model_kwargs["upsampler"] = cfg.upsampler
    if cfg.patch is None:
        cfg.patch = stored_patch if stored_patch is not None else LR_PATCH * cfg.scale
    if cfg.warmup is None:
        cfg.warmup = min(1000, cfg.steps // 20)
    if cfg.out is None:
        cfg.out = str(Path("runs") / f"sr-x{cfg.scale}-{cfg.model}")
    if cfg.workers is None:
        cfg.workers = min(4, os.cpu_count() or 1)
    return cfg


def lr_factor(step: int, steps: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the base learning rate for optimiser step ``step`` (0-based): linear warm-up
    over ``warmup`` steps, then a cosine from 1 down to ``min_ratio`` at the last step."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, steps - warmup)
    t = min(1.0, (step - warmup) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


# --- data -----------------------------------------------------------------------------------------

@dataclass
class DataSpec:
    kind: str            # "prepared" | "inter4k" | "images"
    path: Path


def parse_data(data: Optional[str]) -> DataSpec:
    """What kind of data ``data`` names; a missing folder is a FileNotFoundError."""
    from ..data import layout

    text = None if data is None else str(data)
    if text is not None and text.startswith(IMAGES_PREFIX):
        path = Path(text[len(IMAGES_PREFIX):]).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"image folder {path} does not exist (from --data {text})")
        return DataSpec("images", path)
    path = layout.resolve_root(text)
    if not path.exists():
        raise FileNotFoundError(
            f"data folder {path} does not exist: give --data an Inter4K root (inter4k download / inter4k sample), "
            f"a folder made by inter4k prepare, or images:DIR")
    if not path.is_dir():
        raise NotADirectoryError(f"--data {path} is not a folder")
    if (path / "index.json").is_file():
        return DataSpec("prepared", path)
    if not (path / "Inter4K").is_dir():
        from ..data.images import list_images

        if list_images(path):
            return DataSpec("images", path)
    return DataSpec("inter4k", path)


class _Repeat(Dataset):
    """A dataset repeated ``times`` times, each copy with its own epoch (so copies differ)."""

    def __init__(self, ds, times: int):
        self.ds, self.times, self.epoch = ds, int(times), 0

    def __len__(self) -> int:
        return len(self.ds) * self.times

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int):
        n = len(self.ds)
        if hasattr(self.ds, "set_epoch"):
            self.ds.set_epoch(self.epoch * self.times + index // n)
        return self.ds[index % n]


def _stored_patch(spec: DataSpec) -> Optional[int]:
    if spec.kind != "prepared":
        return None
    from ..data.prepare import read_index

    index = read_index(spec.path)
    return int(index["config"]["patch"]) if index else None


def build_train_dataset(spec: DataSpec, cfg: SRTrainConfig):
    if spec.kind == "prepared":
        from ..data.prepare import PreparedSR

        ds = PreparedSR(spec.path, scale=cfg.scale, seed=cfg.seed)
        stored = int(ds.config["patch"])
        if cfg.patch != stored:
            raise ValueError(f"the patches in {spec.path} are {stored} pixels wide; pass --patch {stored} or leave it out")
        if ds.frames != 1:
            raise ValueError(f"{spec.path} holds {ds.frames}-frame patches; train-sr trains on single frames (--frames 1)")
        return ds
    if spec.kind == "images":
        from ..data.images import ImageFolderSR

        folder = spec.path / "train" if _has_split_folders(spec.path) else spec.path
        return ImageFolderSR(folder, scale=cfg.scale, patch_size=cfg.patch, split="train", seed=cfg.seed)
    from ..data.datasets import Inter4KSR

    return Inter4KSR(spec.path, split="train", scale=cfg.scale, patch_size=cfg.patch, seed=cfg.seed)


def _has_split_folders(path: Path) -> bool:
    from ..data.images import list_images

    return all((path / s).is_dir() and list_images(path / s) for s in ("train", "val"))


def build_val_dataset(spec: DataSpec, cfg: SRTrainConfig, explicit: bool = False):
    """The validation set for ``spec`` (None when there is none; an error only when ``explicit``)."""
    if spec.kind == "images":
        from ..data.images import ImageFolderSR

        folder = spec.path / "val" if _has_split_folders(spec.path) else spec.path
        return ImageFolderSR(folder, scale=cfg.scale, patch_size=cfg.val_patch, split="val")
    if spec.kind == "prepared":
        from ..data.prepare import PreparedSR, read_index

        index = read_index(spec.path)
        if index["config"]["split"] != "train":  # a prepared val / test folder: its stored patches
            return PreparedSR(spec.path, scale=cfg.scale, augment=False)
        if explicit:
            raise ValueError(f"{spec.path} holds training patches; give a prepared val folder, an Inter4K root or images:DIR")
        root = Path(index.get("source", {}).get("root", ""))
        if not root.is_dir():
            return None
        spec = DataSpec("inter4k", root)
    from ..data.datasets import Inter4KSR

    try:
        patch = cfg.val_patch if cfg.val_patch is not None else INTER4K_VAL_PATCH
        try:
            return Inter4KSR(spec.path, split="val", scale=cfg.scale, patch_size=patch)
        except ValueError as exc:
            if cfg.val_patch is None and "larger than the frames" in str(exc):  # small frames: use them whole
                return Inter4KSR(spec.path, split="val", scale=cfg.scale, patch_size=None)
            raise
    except FileNotFoundError:
        if explicit:
            raise
        return None


# --- the trainer ----------------------------------------------------------------------------------

def _import_model_modules() -> None:
    """Import the modules that register models (the registry is filled on import)."""
    import importlib

    import inter4k.models  # noqa: F401

    for name in ("inter4k.models.sr", "inter4k.models.baselines"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def build_model(cfg: SRTrainConfig) -> tuple[nn.Module, dict]:
    """``create_model(cfg.model, scale=, upsampler=, **model_kwargs)`` and its config dict."""
    _import_model_modules()
    from ..models.registry import create_model, list_models

    known = list_models()
    if cfg.model not in known:
        sr = list_models("sr")
        raise ValueError(f"unknown model {cfg.model!r}; known SR models: {', '.join(sr) or '(none registered)'}")
    kwargs = dict(cfg.model_kwargs)
    kwargs["scale"] = cfg.scale
    if cfg.upsampler is not None:
        kwargs["upsampler"] = cfg.upsampler
    try:
        model = create_model(cfg.model, **kwargs)
    except TypeError as exc:
        raise ValueError(f"model {cfg.model!r} does not take these options ({', '.join(sorted(kwargs))}): {exc}") from None
    config = getattr(model, "config", None)
    config = dict(config) if isinstance(config, dict) else {"name": cfg.model, **kwargs}
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"model {cfg.model!r} has no trainable parameters (a fixed baseline); nothing to train")
    return model, config


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _config_diff(old: dict, new: dict) -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        if key in RESUMABLE_CHANGES:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            a, b = list(a), list(b)
        if a != b:
            diffs.append(f"{key}: {a!r} in the checkpoint, {b!r} now")
    return diffs


class _StopSignals:
    """SIGINT / SIGTERM set a flag (acted on between steps) instead of interrupting a step; a second
    signal interrupts at once. Only installed in the main thread."""

    def __init__(self):
        self.flag = False
        self.signum: Optional[int] = None
        self._old: dict = {}

    def _handler(self, signum, frame):
        if self.flag:  # a second Ctrl-C: stop now
            self.restore()
            raise KeyboardInterrupt
        self.flag, self.signum = True, signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    self._old[sig] = signal.signal(sig, self._handler)
                except (ValueError, OSError):
                    pass
        return self

    def restore(self):
        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
        self._old = {}

    def __exit__(self, *exc):
        self.restore()
        return False


class _Trainer:
    def __init__(self, cfg: SRTrainConfig, dist: dist_util.DistInfo, callback: Optional[Callback]):
        self.cfg = cfg
        self.dist = dist
        self.callback = callback if dist.is_main else None
        self.device = dist.device
        self.amp = bool(cfg.amp if cfg.amp is not None else True) and self.device.type == "cuda"
        if cfg.amp and self.device.type != "cuda":
            warnings.warn("mixed precision (bf16 autocast) is used on CUDA only; training in float32 on "
                          f"{self.device}", stacklevel=3)
        self.out = Path(cfg.out).expanduser()
        self.t0 = time.perf_counter()

    # -- helpers ---------------------------------------------------------------------------------
    def emit(self, event: str, **info) -> None:
        if self.callback is not None:
            self.callback(event, info)

    def log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / METRICS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp) if self.device.type == "cuda" \
            else torch.autocast("cpu", enabled=False)

    def batches(self, epoch: int) -> list[list[int]]:
        """Epoch ``epoch``'s batches for this process: a seeded DistributedSampler, drop_last."""
        sampler = DistributedSampler(self.train_ds, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                     shuffle=True, seed=self.cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
        idx = list(sampler)
        b = self.cfg.batch
        return [idx[i * b:(i + 1) * b] for i in range(len(idx) // b)]

    # -- setup -----------------------------------------------------------------------------------
    def setup_data(self, spec: DataSpec) -> None:
        cfg, w = self.cfg, self.dist.world_size
        ds = build_train_dataset(spec, cfg)
        need = cfg.batch * w
        if len(ds) < need:  # too few samples for one global batch: repeat the set (new crops per copy)
            ds = _Repeat(ds, -(-need // len(ds)))
        self.train_ds = ds
        self.steps_per_epoch = len(ds) // w // cfg.batch
        if cfg.val_every > 0:
            if cfg.val_data is not None:
                self.val_ds = build_val_dataset(parse_data(cfg.val_data), cfg, explicit=True)
            else:
                self.val_ds = build_val_dataset(spec, cfg)
            if self.val_ds is None:
                warnings.warn(f"no validation data found for {spec.path}; pass val_data (--val-data) to validate",
                              stacklevel=3)
        else:
            self.val_ds = None

    def setup_model(self) -> None:
        cfg = self.cfg
        ckpt_io.seed_everything(cfg.seed)
        model, self.model_config = build_model(cfg)
        self.model = model.to(self.device)
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                           betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        ratio = cfg.min_lr / cfg.lr
        steps, warmup = cfg.steps, cfg.warmup
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, steps, warmup, ratio))

    def state(self, step: int) -> dict:
        cfg = self.cfg
        module = dist_util.unwrap(self.model)
        epoch, batch = divmod(step, self.steps_per_epoch)
        return {
            "format": ckpt_io.FORMAT,
            "version": ckpt_io.VERSION,
            "task": "sr",
            "step": step,
            "steps": cfg.steps,
            "model_name": cfg.model,
            "model_config": self.model_config,
            "model": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data": {"epoch": epoch, "batch": batch, "steps_per_epoch": self.steps_per_epoch,
                     "train_samples": len(self.train_ds), "world_size": self.dist.world_size,
                     "sampler": "DistributedSampler(shuffle, drop_last)", "seed": cfg.seed},
            "rng": ckpt_io.rng_state(),
            "config": cfg.to_dict(),
            "metrics": dict(self.metrics),
            "world_size": self.dist.world_size,
            "amp": self.amp,
            "torch": str(torch.__version__),
            "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def save(self, step: int, best: bool = False, last: bool = True) -> None:
        if not self.dist.is_main:
            return
        state = self.state(step)
        if last:
            ckpt_io.save_atomic(state, self.out / LAST)
            self.emit("checkpoint", step=step, path=str(self.out / LAST), best=False)
        if best:
            ckpt_io.save_atomic(state, self.out / BEST)
            self.emit("checkpoint", step=step, path=str(self.out / BEST), best=True)

    def prepare_out(self) -> int:
        """Create / check OUT; load ``last.pt`` when resuming. Returns the step to start from."""
        cfg = self.cfg
        last = self.out / LAST
        if last.exists() and not cfg.resume:
            raise ValueError(f"{self.out} already holds a run ({last}); pass --resume to continue it, "
                             f"or choose another --out")
        self.metrics: dict[str, Any] = {"best_psnr_y": None, "best_step": None, "last_psnr_y": None,
                                        "bicubic_psnr_y": None, "loss": None}
        start = 0
        if cfg.resume and last.exists():
            state = ckpt_io.load(last)
            diffs = _config_diff(state["config"], cfg.to_dict())
            if state.get("world_size", 1) != self.dist.world_size:
                diffs.append(f"world_size: {state.get('world_size', 1)} in the checkpoint, {self.dist.world_size} now")
            if diffs:
                raise ValueError(f"cannot resume {last}: the config differs ({'; '.join(diffs)}); "
                                 f"use the same settings, or another --out for a new run")
            if state["data"]["train_samples"] != len(self.train_ds):
                warnings.warn(f"the training set changed size ({state['data']['train_samples']} -> "
                              f"{len(self.train_ds)} samples) since {last} was written; the data order "
                              f"will not be the one of an uninterrupted run", stacklevel=3)
            dist_util.unwrap(self.model).load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            ckpt_io.set_rng_state(state["rng"])
            self.metrics.update(state.get("metrics") or {})
            start = int(state["step"])
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            _trim_metrics(self.out / METRICS, start)
            (self.out / CONFIG).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
        return start

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, step: int) -> Optional[float]:
        if self.val_ds is None or len(self.val_ds) == 0:
            return None
        from ..data.resize import imresize
        from ..metrics import psnr

        t0 = time.perf_counter()
        module = dist_util.unwrap(self.model)
        was_training = module.training
        module.eval()
        scale = self.cfg.scale
        need_bicubic = self.metrics.get("bicubic_psnr_y") is None
        total = bicubic = count = 0.0
        mine = list(range(self.dist.rank, len(self.val_ds), self.dist.world_size))
        loader = DataLoader(torch.utils.data.Subset(self.val_ds, mine), batch_size=1, shuffle=False,
                            num_workers=min(self.cfg.workers, len(mine)) if mine else 0,
                            generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
        for lr, hr in loader:
            lr, hr = lr.to(self.device), hr.to(self.device)
            with self.autocast():
                sr = module(lr)
            sr = sr.float()
            total += float(psnr(sr, hr, crop_border=scale).sum())
            if need_bicubic:
                bicubic += float(psnr(imresize(lr, scale=scale).clamp(0, 1), hr, crop_border=scale).sum())
            count += lr.shape[0]
        module.train(was_training)
        total, bicubic, count = dist_util.all_reduce_sum([total, bicubic, count], self.dist)
        value = total / max(count, 1)
        if need_bicubic:
            self.metrics["bicubic_psnr_y"] = bicubic / max(count, 1)
        self.metrics["last_psnr_y"] = value
        best = self.metrics.get("best_psnr_y")
        improved = best is None or value > best
        if improved:
            self.metrics["best_psnr_y"], self.metrics["best_step"] = value, step
        self.log({"type": "val", "step": step, "psnr_y": value, "bicubic_psnr_y": self.metrics["bicubic_psnr_y"],
                  "best_psnr_y": self.metrics["best_psnr_y"], "samples": int(count),
                  "seconds": round(time.perf_counter() - t0, 3), "time": round(time.perf_counter() - self.t0, 3)})
        self.emit("val", step=step, psnr=value, bicubic=self.metrics["bicubic_psnr_y"],
                  best=self.metrics["best_psnr_y"], improved=improved)
        return improved

    # -- the loop --------------------------------------------------------------------------------
    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> float:
        lr = lr.to(self.device, non_blocking=True)
        hr = hr.to(self.device, non_blocking=True)
        with self.autocast():
            sr = self.model(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"model {self.cfg.model!r} returned {tuple(sr.shape)} for an LR batch "
                             f"{tuple(lr.shape)}; expected {tuple(hr.shape)} (x{self.cfg.scale})")
        loss = F.l1_loss(sr.float(), hr)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise RuntimeError(f"the loss is {value} at step {self.step + 1}; lower --lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.consistent = False  # weights change before the step counter does
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.consistent = True
        return value

    def run(self) -> SRTrainResult:
        cfg, dist = self.cfg, self.dist
        spec = parse_data(cfg.data)
        self.cfg = cfg = _resolve(cfg, _stored_patch(spec))
        self.out = Path(cfg.out).expanduser()
        if cfg.deterministic and self.device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            torch.use_deterministic_algorithms(True, warn_only=True)
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.setup_data(spec)
        self.setup_model()
        start = self.prepare_out()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.model = dist_util.wrap(self.model, dist)
        self.step = start
        self.consistent = True
        total = cfg.steps
        end = min(total, cfg.stop_at) if cfg.stop_at is not None else total
        n_params = sum(p.numel() for p in self.params)
        self.emit("start", step=start, steps=total, end=end, out=str(self.out), resumed=start > 0,
                  params=n_params, device=str(self.device), amp=self.amp, world_size=dist.world_size,
                  train_samples=len(self.train_ds), val_samples=len(self.val_ds) if self.val_ds is not None else 0,
                  steps_per_epoch=self.steps_per_epoch, data=str(spec.path), data_kind=spec.kind)
        loss_sum = loss_n = 0.0
        last_loss: Optional[float] = None
        rate_t, rate_step, it_s = time.perf_counter(), start, None
        pin = self.device.type == "cuda"
        with _StopSignals() as stop:
            try:
                while self.step < end:
                    epoch, offset = divmod(self.step, self.steps_per_epoch)
                    if hasattr(self.train_ds, "set_epoch"):
                        self.train_ds.set_epoch(epoch)
                    loader = DataLoader(self.train_ds, batch_sampler=self.batches(epoch)[offset:],
                                        num_workers=cfg.workers, pin_memory=pin,
                                        generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
                    it = iter(loader)
                    while self.step < end:
                        try:
                            batch = next(it)
                        except StopIteration:
                            break
                        except RuntimeError:
                            if stop.flag:  # a worker hit by the same Ctrl-C: stop at this step boundary
                                raise KeyboardInterrupt from None
                            raise
                        last_loss = self.train_step(*batch[:2])
                        step = self.step
                        loss_sum, loss_n = loss_sum + last_loss, loss_n + 1
                        now = time.perf_counter()
                        if now - rate_t >= 0.5 or step == end:
                            it_s = (step - rate_step) / max(now - rate_t, 1e-9)
                            rate_t, rate_step = now, step
                        self.emit("step", step=step, loss=last_loss, lr=self.optimizer.param_groups[0]["lr"],
                                  it_s=it_s, epoch=epoch)
                        if step % cfg.log_every == 0 or step == end:
                            s, n = dist_util.all_reduce_sum([loss_sum, loss_n], dist)
                            self.metrics["loss"] = s / max(n, 1)
                            self.log({"type": "train", "step": step, "loss": s / max(n, 1),
                                      "lr": self.optimizer.param_groups[0]["lr"], "epoch": epoch,
                                      "it_s": it_s, "time": round(now - self.t0, 3)})
                            loss_sum = loss_n = 0.0
                        improved = False
                        if self.val_ds is not None and cfg.val_every and (step % cfg.val_every == 0 or step == total):
                            improved = bool(self.validate(step))
                        save_last = step == end or (cfg.ckpt_every and step % cfg.ckpt_every == 0)
                        if improved or save_last:
                            self.save(step, best=improved, last=bool(save_last))
                        if dist_util.any_true(stop.flag, dist):
                            raise KeyboardInterrupt
                    del it, loader
            except KeyboardInterrupt:
                if self.consistent:
                    self.save(self.step)
                    self.emit("end", step=self.step, interrupted=True, path=str(self.out / LAST))
                raise
        self.emit("end", step=self.step, interrupted=False, path=str(self.out / LAST))
        best = self.out / BEST
        return SRTrainResult(
            out=self.out, last=self.out / LAST, best=best if best.exists() else None, step=self.step,
            start_step=start, steps=total, finished=self.step >= total, loss=self.metrics.get("loss"),
            val_psnr=self.metrics.get("last_psnr_y"), best_psnr=self.metrics.get("best_psnr_y"),
            bicubic_psnr=self.metrics.get("bicubic_psnr_y"), seconds=round(time.perf_counter() - self.t0, 3),
            world_size=dist.world_size, device=str(self.device), amp=self.amp, config=cfg.to_dict(),
            model=dist_util.unwrap(self.model))


def _trim_metrics(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    if step == 0:
        path.unlink()
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
    os.replace(tmp, path)


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
    dist = dist_util.setup(cfg.device)
    ok = False
    try:
        result = _Trainer(cfg, dist, callback).run()
        ok = True
        return result
    finally:
        if ok:
            dist_util.teardown(dist)
        elif dist.created_group:  # a failed peer must not make teardown wait at a barrier
            import torch.distributed as td

            if td.is_initialized():
                td.destroy_process_group()
            dist.created_group = False
