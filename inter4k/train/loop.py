"""The training machinery shared by ``inter4k train-sr`` and ``inter4k train-vfi``.

:class:`Trainer` runs the loop that every task shares; a task (:class:`inter4k.train.sr.SRTrainer`,
:class:`inter4k.train.vfi.VFITrainer`) overrides only its hooks:

================================  ===============================================================
hook                              what the task decides
================================  ===============================================================
``parse_data(data)``              what kind of data ``--data`` names (a :class:`DataSpec`)
``resolve(spec)``                 the defaults that depend on other settings (patch, out, ...)
``build_train_dataset(spec)``     the training set
``build_val_dataset(spec, ...)``  the validation set (None when there is none)
``build_model()``                 the model and its config dict
                                  (these five call the task's :class:`TaskFunctions`, ``functions``)
``batch_loss(batch)``             the loss of one training batch (forward included)
``val_keys / val_batch /          the validation sums of one batch, and what to make of them
val_end``                         (metrics, the ``val`` log line and event; True when improved)
``initial_metrics()``             the metrics a fresh run starts with
``start_info(spec)``              extra fields of the ``start`` event
``make_result(start)``            the object the run returns
================================  ===============================================================

What the base class does, the same for every task:

- **Data and models**: the ``--data`` rules (:func:`parse_data_path`), prepared patches
  (:func:`stored_patch`, :func:`check_stored_patch`), train/ and val/ image folders (:func:`split_folder`),
  the validation set of prepared / Inter4K data (:func:`prepared_or_inter4k_val`), the model
  (:func:`create_trainable`).
- **Optimisation**: AdamW (no weight decay on biases and other 1-D parameters, :func:`param_groups`),
  a per-step schedule of linear warm-up then cosine decay to ``min_lr`` (:func:`lr_factor`),
  gradient-norm clipping, bf16 autocast on CUDA only.
- **Data order**: a pure function of (seed, epoch): a seeded ``DistributedSampler`` per epoch
  (:meth:`Trainer.batches`), and datasets whose samples come from ``default_rng([seed, epoch,
  index])`` (``set_epoch``). A too-small training set is repeated (:class:`_Repeat`).
- **Checkpoints** ``OUT/last.pt`` / ``OUT/best.pt`` (atomic, :mod:`.checkpoint`) with the task name
  (``"task": "sr"`` / ``"vfi"``), the model, optimiser, scheduler, step, data position, every RNG
  state, the metrics and the resolved config; ``resume`` continues exactly (the batches already seen
  in the current epoch are skipped), and refuses a checkpoint of another task or config.
- **Logs** ``OUT/metrics.jsonl`` (trimmed to the resumed step) and ``OUT/config.json``; progress as
  ``callback(event, info)`` (``start``, ``step``, ``val``, ``checkpoint``, ``end``) on rank 0.
- **Stops**: Ctrl-C / SIGTERM finish the current step, save ``last.pt`` and raise KeyboardInterrupt.
- **DDP** under ``torchrun`` (:mod:`.distributed`): ``batch`` per process, validation split over the
  processes and all-reduced, rank 0 alone writes files.
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
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from . import checkpoint as ckpt_io
from . import distributed as dist_util

METRICS = "metrics.jsonl"
CONFIG = "config.json"
LAST = "last.pt"
BEST = "best.pt"
INTER4K_VAL_PATCH = 480  # centre crops of Inter4K validation frames (a multiple of 2, 3 and 4)

# Config fields that may change between a run and its resumption; every other field must match.
RESUMABLE_CHANGES = ("workers", "val_every", "ckpt_every", "log_every", "out", "resume", "device", "stop_at",
                     "amp", "deterministic")

Callback = Callable[[str, dict], None]


@dataclass
class TrainConfig:
    """The settings every task shares (a task's config adds its own; see :mod:`.sr`, :mod:`.vfi`)."""

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
    out: Optional[str] = None           # the task's default under runs/
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


# --- config ---------------------------------------------------------------------------------------

def is_int(v) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def build_config(cls: type, config, overrides: dict, what: str):
    """A ``cls`` (a :class:`TrainConfig` dataclass) from a config, a dict and/or keyword overrides;
    unknown keys are a TypeError naming them (``what`` names the function in the message)."""
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
    return cls(**base)


def check_common(cfg: TrainConfig) -> None:
    """Raise ValueError / TypeError for shared settings that cannot work (before anything is loaded)."""
    for name in ("steps", "batch"):
        v = getattr(cfg, name)
        if not is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    for name in ("patch", "val_patch"):
        v = getattr(cfg, name)
        if v is not None and (not is_int(v) or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    for name in ("val_every", "ckpt_every", "log_every"):
        v = getattr(cfg, name)
        if not is_int(v) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
    if cfg.log_every == 0:
        raise ValueError("log_every must be >= 1")
    if cfg.workers is not None and (not is_int(cfg.workers) or cfg.workers < 0):
        raise ValueError(f"workers must be an integer >= 0, got {cfg.workers!r}")
    if cfg.warmup is not None and (not is_int(cfg.warmup) or cfg.warmup < 0):
        raise ValueError(f"warmup must be an integer >= 0, got {cfg.warmup!r}")
    if cfg.stop_at is not None and (not is_int(cfg.stop_at) or cfg.stop_at < 1):
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
    if not is_int(cfg.seed):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")


def resolve_common(cfg: TrainConfig, default_out: str) -> TrainConfig:
    """A copy of ``cfg`` with the shared defaults filled in (stored in the checkpoint as resolved)."""
    cfg = dataclasses.replace(cfg, betas=tuple(float(b) for b in cfg.betas), model_kwargs=dict(cfg.model_kwargs))
    if cfg.warmup is None:
        cfg.warmup = min(1000, cfg.steps // 20)
    if cfg.out is None:
        cfg.out = default_out
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


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on the >= 2-D parameters, none on biases and other 1-D ones."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


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


def trim_metrics(path: Path, step: int) -> None:
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


def import_model_modules(names: tuple = ("inter4k.models.sr", "inter4k.models.baselines")) -> None:
    """Import the modules that register models (the registry is filled on import); a module that
    does not exist (yet) is skipped."""
    import importlib

    import inter4k.models  # noqa: F401

    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def create_trainable(name: str, kwargs: dict) -> tuple[nn.Module, dict]:
    """``create_model(name, **kwargs)`` (a registered model) and its config dict (the model's ``config``,
    else the name and kwargs). ValueError when the model does not take these options, or has no
    trainable parameters (a fixed baseline)."""
    from ..models.registry import create_model

    try:
        model = create_model(name, **kwargs)
    except TypeError as exc:
        raise ValueError(f"model {name!r} does not take these options ({', '.join(sorted(kwargs))}): {exc}") from None
    config = getattr(model, "config", None)
    config = dict(config) if isinstance(config, dict) else {"name": name, **kwargs}
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"model {name!r} has no trainable parameters (a fixed baseline); nothing to train")
    return model, config


# --- data -----------------------------------------------------------------------------------------

@dataclass
class DataSpec:
    """What ``--data`` names: a kind (the task's: "prepared", "inter4k", "images", "synthetic")
    and a folder (None: a built-in source, e.g. the bundled photographs)."""

    kind: str
    path: Optional[Path]


def parse_data_path(data: Optional[str], prefixes: tuple[str, ...], folder_kind: str, kinds_hint: str) -> DataSpec:
    """What kind of data ``data`` names, the rules both tasks share:

    - ``PREFIX + DIR`` (a prefix of ``prefixes``, e.g. "images:") -> ``folder_kind`` over the images of DIR;
    - otherwise a folder (None: $INTER4K_ROOT or the default root): with ``index.json`` -> "prepared";
      without an ``Inter4K`` folder but with images -> ``folder_kind``; else -> "inter4k".

    A missing folder is a FileNotFoundError whose message lists what ``--data`` takes (``kinds_hint``:
    the task's kinds after "an Inter4K root"); a file is a NotADirectoryError.
    """
    from ..data import layout

    text = None if data is None else str(data)
    for prefix in prefixes:
        if text is not None and text.startswith(prefix):
            path = Path(text[len(prefix):]).expanduser()
            if not path.is_dir():
                raise FileNotFoundError(f"image folder {path} does not exist (from --data {text})")
            return DataSpec(folder_kind, path)
    path = layout.resolve_root(text)
    if not path.exists():
        raise FileNotFoundError(
            f"data folder {path} does not exist: give --data an Inter4K root (inter4k download / inter4k sample), "
            f"{kinds_hint}")
    if not path.is_dir():
        raise NotADirectoryError(f"--data {path} is not a folder")
    if (path / "index.json").is_file():
        return DataSpec("prepared", path)
    if not (path / "Inter4K").is_dir():
        from ..data.images import list_images

        if list_images(path):
            return DataSpec(folder_kind, path)
    return DataSpec("inter4k", path)


PHOTOS = "photos"


def parse_photos(data: Optional[str]) -> Optional[DataSpec]:
    """``photos`` / ``photos:DIR`` -> DataSpec("photos", the real-photograph corpus of :mod:`inter4k.data.photos`,
    built on first use in the default folder or DIR); anything else -> None."""
    text = None if data is None else str(data)
    if text is None or not (text == PHOTOS or text.startswith(PHOTOS + ":")):
        return None
    from ..data.photos import build_photo_corpus

    given = text[len(PHOTOS) + 1:]
    return DataSpec(PHOTOS, build_photo_corpus(given or None))


def stored_patch(spec: DataSpec) -> Optional[int]:
    """The patch side stored in a prepared folder's index (None for other kinds of data)."""
    if spec.kind != "prepared":
        return None
    from ..data.prepare import read_index

    index = read_index(spec.path)
    return int(index["config"]["patch"]) if index else None


def check_stored_patch(ds, path: Path, patch: int) -> None:
    """ValueError unless ``patch`` is the side of the prepared patches of ``ds`` (read from ``path``)."""
    stored = int(ds.config["patch"])
    if patch != stored:
        raise ValueError(f"the patches in {path} are {stored} pixels wide; pass --patch {stored} or leave it out")


def split_folder(path: Path, split: str) -> Path:
    """``path/split`` when ``path`` has both train/ and val/ folders of images, else ``path``."""
    from ..data.images import list_images

    both = all((path / s).is_dir() and list_images(path / s) for s in ("train", "val"))
    return path / split if both else path


def prepared_or_inter4k_val(spec: DataSpec, val_patch: Optional[int], explicit: bool, open_prepared: Callable,
                            open_inter4k: Callable, folder_hint: str):
    """The validation set of "prepared" or "inter4k" data (None when there is none; errors only when ``explicit``).

    - a prepared val / test folder: its stored patches, ``open_prepared(path)``;
    - a prepared training folder: the val split of the Inter4K root it was cut from (when it still exists;
      given ``explicit``-ly, an error whose message suggests ``folder_hint``, e.g. "images:DIR");
    - an Inter4K root: ``open_inter4k(root, patch)`` on its val split, ``val_patch`` centre crops (default
      :data:`INTER4K_VAL_PATCH`, and whole frames, patch None, when the frames are smaller).
    """
    if spec.kind == "prepared":
        from ..data.prepare import read_index

        index = read_index(spec.path)
        if index["config"]["split"] != "train":  # a prepared val / test folder: its stored patches
            return open_prepared(spec.path)
        if explicit:
            raise ValueError(f"{spec.path} holds training patches; give a prepared val folder, an Inter4K root "
                             f"or {folder_hint}")
        root = Path(index.get("source", {}).get("root", ""))
        if not root.is_dir():
            return None
        spec = DataSpec("inter4k", root)
    try:
        patch = val_patch if val_patch is not None else INTER4K_VAL_PATCH
        try:
            return open_inter4k(spec.path, patch)
        except ValueError as exc:
            if val_patch is None and "larger than the frames" in str(exc):  # small frames: use them whole
                return open_inter4k(spec.path, None)
            raise
    except FileNotFoundError:
        if explicit:
            raise
        return None


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


# --- the trainer ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskFunctions:
    """A task's module-level functions; :class:`Trainer`'s default hooks call them with the run's config."""

    parse_data: Callable[[Optional[str]], DataSpec]
    resolve: Callable[[Any, Optional[int]], Any]               # (cfg, the stored patch or None) -> resolved cfg
    build_train_dataset: Callable[[DataSpec, Any], Any]         # (spec, cfg)
    build_val_dataset: Callable[[DataSpec, Any, bool], Any]     # (spec, cfg, explicit) -> dataset or None
    build_model: Callable[[Any], tuple[nn.Module, dict]]        # (cfg) -> (model, its config dict)


class Trainer:
    """One training run (see the module docstring); subclasses set ``task``, ``functions`` and the hooks."""

    task: str = ""
    functions: TaskFunctions  # the task's data / config / model functions

    def __init__(self, cfg: TrainConfig, dist: dist_util.DistInfo, callback: Optional[Callback]):
        self.cfg = cfg
        self.dist = dist
        self.callback = callback if dist.is_main else None
        self.device = dist.device
        self.amp = bool(cfg.amp if cfg.amp is not None else True) and self.device.type == "cuda"
        if cfg.amp and self.device.type != "cuda":
            warnings.warn("mixed precision (bf16 autocast) is used on CUDA only; training in float32 on "
                          f"{self.device}", stacklevel=4)
        self.out = Path(cfg.out).expanduser() if cfg.out is not None else Path("runs")
        self.t0 = time.perf_counter()

    # -- task hooks ------------------------------------------------------------------------------
    def parse_data(self, data: Optional[str]) -> DataSpec:
        return self.functions.parse_data(data)

    def resolve(self, spec: DataSpec) -> TrainConfig:
        return self.functions.resolve(self.cfg, stored_patch(spec))

    def build_train_dataset(self, spec: DataSpec):
        return self.functions.build_train_dataset(spec, self.cfg)

    def build_val_dataset(self, spec: DataSpec, explicit: bool = False):
        return self.functions.build_val_dataset(spec, self.cfg, explicit)

    def build_model(self) -> tuple[nn.Module, dict]:
        return self.functions.build_model(self.cfg)

    def batch_loss(self, batch) -> torch.Tensor:
        """The (scalar) loss of one training batch, forward pass included."""
        raise NotImplementedError

    def initial_metrics(self) -> dict:
        return {"loss": None}

    def val_keys(self) -> tuple[str, ...]:
        """The names of the sums :meth:`val_batch` accumulates (all-reduced in this order)."""
        raise NotImplementedError

    def val_begin(self) -> None:
        """Called before each validation pass."""

    def val_batch(self, module: nn.Module, batch, sums: dict) -> int:
        """Add one validation batch's values to ``sums``; return how many items it counted."""
        raise NotImplementedError

    def val_end(self, step: int, sums: dict, count: float, samples: int, seconds: float) -> bool:
        """Record a finished validation (metrics, log line, ``val`` event); True when it improved."""
        raise NotImplementedError

    def start_info(self, spec: DataSpec) -> dict:
        return {}

    def describe_data(self, spec: DataSpec) -> str:
        return str(spec.path)

    def make_result(self, start: int):
        raise NotImplementedError

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

    def record_best(self, value: float, step: int, best_key: str) -> bool:
        """Keep ``value`` as ``metrics[best_key]`` (and ``best_step``) when it beats it; True if so."""
        best = self.metrics.get(best_key)
        improved = best is None or value > best
        if improved:
            self.metrics[best_key], self.metrics["best_step"] = value, step
        return improved

    # -- setup -----------------------------------------------------------------------------------
    def setup_data(self, spec: DataSpec) -> None:
        cfg, w = self.cfg, self.dist.world_size
        ds = self.build_train_dataset(spec)
        need = cfg.batch * w
        if len(ds) < need:  # too few samples for one global batch: repeat the set (new crops per copy)
            ds = _Repeat(ds, -(-need // len(ds)))
        self.train_ds = ds
        self.steps_per_epoch = len(ds) // w // cfg.batch
        if cfg.val_every > 0:
            if cfg.val_data is not None:
                self.val_ds = self.build_val_dataset(self.parse_data(cfg.val_data), explicit=True)
            else:
                self.val_ds = self.build_val_dataset(spec)
            if self.val_ds is None:
                warnings.warn(f"no validation data found for {self.describe_data(spec)}; pass val_data "
                              f"(--val-data) to validate", stacklevel=4)
        else:
            self.val_ds = None

    def setup_model(self) -> None:
        cfg = self.cfg
        ckpt_io.seed_everything(cfg.seed)
        model, self.model_config = self.build_model()
        self.model = model.to(self.device)
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
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
            "task": self.task,
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
        self.metrics: dict[str, Any] = self.initial_metrics()
        start = 0
        if cfg.resume and last.exists():
            state = ckpt_io.load(last)
            task = state.get("task", "sr")  # the first checkpoints of train-sr had no task
            if task != self.task:
                raise ValueError(f"cannot resume {last}: it is a train-{task} checkpoint, and this is "
                                 f"train-{self.task}; choose another --out")
            defaults = type(cfg)().to_dict()
            diffs = config_diff(state["config"], cfg.to_dict(), defaults)
            if state.get("world_size", 1) != self.dist.world_size:
                diffs.append(f"world_size: {state.get('world_size', 1)} in the checkpoint, {self.dist.world_size} now")
            if diffs:
                raise ValueError(f"cannot resume {last}: the config differs ({'; '.join(diffs)}); "
                                 f"use the same settings, or another --out for a new run")
            if state["data"]["train_samples"] != len(self.train_ds):
                warnings.warn(f"the training set changed size ({state['data']['train_samples']} -> "
                              f"{len(self.train_ds)} samples) since {last} was written; the data order "
                              f"will not be the one of an uninterrupted run", stacklevel=4)
            dist_util.unwrap(self.model).load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            ckpt_io.set_rng_state(state["rng"])
            self.metrics.update(state.get("metrics") or {})
            start = int(state["step"])
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            trim_metrics(self.out / METRICS, start)
            (self.out / CONFIG).write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
        return start

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, step: int) -> Optional[bool]:
        """Run the task's validation over this process's share of the val set; True when improved."""
        if self.val_ds is None or len(self.val_ds) == 0:
            return None
        t0 = time.perf_counter()
        module = dist_util.unwrap(self.model)
        was_training = module.training
        module.eval()
        self.val_begin()
        keys = self.val_keys()
        sums = {k: 0.0 for k in keys}
        count = samples = 0.0
        mine = list(range(self.dist.rank, len(self.val_ds), self.dist.world_size))
        loader = DataLoader(torch.utils.data.Subset(self.val_ds, mine), batch_size=1, shuffle=False,
                            num_workers=min(self.cfg.workers, len(mine)) if mine else 0,
                            generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
        for batch in loader:
            count += self.val_batch(module, batch, sums)
            samples += 1
        module.train(was_training)
        totals = dist_util.all_reduce_sum([sums[k] for k in keys] + [count, samples], self.dist)
        sums = dict(zip(keys, totals[:len(keys)]))
        count, samples = totals[len(keys)], totals[len(keys) + 1]
        return self.val_end(step, sums, count, int(samples), round(time.perf_counter() - t0, 3))

    # -- the loop --------------------------------------------------------------------------------
    def train_step(self, batch) -> float:
        loss = self.batch_loss(batch)
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

    def run(self):
        cfg, dist = self.cfg, self.dist
        spec = self.parse_data(cfg.data)
        self.cfg = cfg = self.resolve(spec)
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
                  steps_per_epoch=self.steps_per_epoch, data=self.describe_data(spec), data_kind=spec.kind,
                  task=self.task, **self.start_info(spec))
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
                        last_loss = self.train_step(batch)
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
        return self.make_result(start)

    def result_fields(self, start: int) -> dict:
        """The result fields every task reports."""
        best = self.out / BEST
        return dict(out=self.out, last=self.out / LAST, best=best if best.exists() else None, step=self.step,
                    start_step=start, steps=self.cfg.steps, finished=self.step >= self.cfg.steps,
                    loss=self.metrics.get("loss"), seconds=round(time.perf_counter() - self.t0, 3),
                    world_size=self.dist.world_size, device=str(self.device), amp=self.amp,
                    config=self.cfg.to_dict(), model=dist_util.unwrap(self.model))


@dataclass
class TrainResult:
    """What every finished (or stopped) run reached (:meth:`Trainer.result_fields`); a task's result
    (:class:`~inter4k.train.sr.SRTrainResult`, :class:`~inter4k.train.vfi.VFITrainResult`) adds its
    validation figures. ``model`` is the trained module (unwrapped)."""

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
        """The result as plain values for JSON (:func:`result_dict`)."""
        return result_dict(self)


def result_dict(result) -> dict:
    """A result dataclass as plain values (paths as strings, without the model)."""
    d = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.name != "model"}
    for k in ("out", "last", "best"):
        d[k] = None if d[k] is None else str(d[k])
    return d


def run_trainer(trainer_cls: type, cfg: TrainConfig, callback: Optional[Callback]):
    """Set up DDP (when launched by torchrun), run ``trainer_cls(cfg, ...)`` and tear DDP down."""
    dist = dist_util.setup(cfg.device)
    ok = False
    try:
        result = trainer_cls(cfg, dist, callback).run()
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
