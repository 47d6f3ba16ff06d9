"""The training loop shared by ``inter4k train-sr`` and ``inter4k train-vfi``.

:class:`Trainer` runs what every task shares; a task (:class:`inter4k.train.sr.SRTrainer`,
:class:`inter4k.train.vfi.VFITrainer`) is a subclass that overrides hooks, as BasicSR's model classes do:

==================================  =============================================================
hook                                what it decides (default)
==================================  =============================================================
``config_class``                    the task's config (:mod:`.config`: checks, defaults, run folder)
``build_model()``                   the model and its config dict (required)
``data_options(purpose)``           the task's :class:`~inter4k.data.sources.DataOptions` fields
``build_train_dataset(spec)``       the training set (:func:`~inter4k.data.sources.open_dataset`)
``build_val_dataset(spec, ...)``    the validation set, None when there is none (the same)
``build_optimizer()``               AdamW, no weight decay on 1-D parameters (:mod:`.optim`)
``build_scheduler(optimizer)``      per-step linear warm-up, then cosine decay to ``min_lr``
``check_data(cfg)``                 what must fail before DDP starts (``--data`` parses)
``batch_loss(batch)``               the loss of one training batch, forward included (required)
``validate(step)``                  a validation pass over this process's share, all-reduced;
                                    built from ``val_keys / val_begin / val_batch / val_end``
``initial_metrics()``               the metrics a fresh run starts with
``start_info(spec)``                extra fields of the ``start`` event
``make_result(start)``              the object the run returns
==================================  =============================================================

What the base class does, the same for every task:

- **Data**: ``--data`` / ``val_data`` through :mod:`inter4k.data.sources` (the one place for the data
  rules; a new kind of data is a registration there), a too-small training set repeated (:class:`Repeat`).
- **Optimisation**: AdamW, the warm-up / cosine schedule (:mod:`.optim`), gradient-norm clipping, bf16
  autocast on CUDA only.
- **Data order**: a pure function of (seed, epoch): a seeded ``DistributedSampler`` per epoch
  (:meth:`Trainer.batches`), and datasets whose samples come from ``default_rng([seed, epoch,
  index])`` (``set_epoch``).
- **Checkpoints** ``OUT/last.pt`` / ``OUT/best.pt`` (atomic, :mod:`.checkpoint`) with the task name
  (``"task": "sr"`` / ``"vfi"``), the model, optimiser, scheduler, step, data position, every RNG
  state, the metrics and the resolved config; ``resume`` continues exactly (the batches already seen
  in the current epoch are skipped), and refuses a checkpoint of another task or config.
- **Logs** ``OUT/metrics.jsonl`` (trimmed to the resumed step) and ``OUT/config.json``; progress as
  ``callback(event, info)`` (``start``, ``step``, ``val``, ``checkpoint``, ``end``) on rank 0.
- **Stops**: Ctrl-C / SIGTERM finish the current step, save ``last.pt`` and raise KeyboardInterrupt
  (:mod:`.stops`).
- **DDP** under ``torchrun`` (:mod:`.distributed`): ``batch`` per process, validation split over the
  processes and all-reduced, rank 0 alone writes files.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data import sources
from ..data.sources import DataSpec
from . import checkpoint as ckpt_io
from . import distributed as dist_util
from .config import TrainConfig, config_diff
from .optim import lr_factor, param_groups
from .results import TrainResult
from .stops import StopSignals

METRICS = "metrics.jsonl"
CONFIG = "config.json"
LAST = "last.pt"
BEST = "best.pt"

Callback = Callable[[str, dict], None]

__all__ = ["Trainer", "TrainResult", "Repeat", "run_trainer", "Callback", "create_trainable", "config_diff",
           "METRICS", "CONFIG", "LAST", "BEST"]


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
    trainable parameters (a fixed baseline). ``--init`` weights are loaded by the task's ``build_model``
    with :func:`load_init_weights`, after its own checks of the model."""
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


def load_init_weights(model: nn.Module, spec: str, task: str, scale: Optional[int] = None) -> None:
    """Copy the weights of ``spec`` (a model name with bundled weights, or a checkpoint file) into
    ``model`` (``--init``: fine-tuning starts from them). The architecture must be the same: a
    different config is one ValueError naming both. The do-no-harm ``deadzone`` that bundled weights
    carry is an inference setting, not an architecture: the run keeps its own."""
    from ..models.resolver import resolve

    source = resolve(spec, task=task, scale=scale).module

    def architecture(m):
        config = getattr(m, "config", None)
        return {k: v for k, v in config.items() if k != "deadzone"} if isinstance(config, dict) else config

    mine, theirs = architecture(model), architecture(source)
    if type(source) is not type(model) or mine != theirs:
        raise ValueError(f"--init {spec}: its architecture ({type(source).__name__} {theirs}) is not the model's "
                         f"({type(model).__name__} {mine})")
    model.load_state_dict(source.state_dict())


class Repeat(Dataset):
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


class Trainer:
    """One training run (see the module docstring); a task subclasses it and overrides the hooks."""

    task: str = ""
    config_class: type = TrainConfig

    def __init__(self, cfg: TrainConfig, dist: dist_util.DistInfo, callback: Optional[Callback]):
        self.cfg = cfg
        self.dist = dist
        self.callback = callback if dist.is_main else None
        self.device = dist.device
        self.amp = bool(cfg.amp if cfg.amp is not None else True) and self.device.type == "cuda"
        if cfg.amp and self.device.type != "cuda":
            warnings.warn("mixed precision (bf16 autocast) is used on CUDA only; training in float32 on "
                          f"{self.device}", stacklevel=4)
        self.out = cfg.run_folder()
        self.t0 = time.perf_counter()

    # -- hooks: data -----------------------------------------------------------------------------
    @classmethod
    def check_data(cls, cfg: TrainConfig) -> DataSpec:
        """What must fail before any process group is made (a missing data folder, data that is not
        training data, ...)."""
        spec = sources.parse_data(cfg.data, cls.task)
        sources.get_source(spec.kind, cls.task).check_purpose(spec, "train")
        return spec

    def parse_data(self, data: Optional[str]) -> DataSpec:
        return sources.parse_data(data, self.task)

    def describe_data(self, spec: DataSpec) -> str:
        return sources.get_source(spec.kind, self.task).describe(spec)

    def data_options(self, purpose: str) -> dict:
        """The :class:`~inter4k.data.sources.DataOptions` fields of the ``purpose`` dataset."""
        cfg = self.cfg
        if purpose == "train":
            return dict(patch=cfg.patch, seed=cfg.seed)
        return dict(patch=cfg.val_patch, train_patch=cfg.patch)

    def build_train_dataset(self, spec: DataSpec):
        return sources.open_dataset(spec, self.task, "train", **self.data_options("train"))

    def build_val_dataset(self, spec: DataSpec, explicit: bool = False):
        """The validation set (None when there is none; an error only when ``explicit``: ``val_data``)."""
        return sources.open_dataset(spec, self.task, "val", explicit=explicit, **self.data_options("val"))

    # -- hooks: model and optimisation -----------------------------------------------------------
    def build_model(self) -> tuple[nn.Module, dict]:
        """The model and its config dict (stored in checkpoints)."""
        raise NotImplementedError

    def build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.cfg
        return torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas),
                                 weight_decay=cfg.weight_decay)

    def build_scheduler(self, optimizer: torch.optim.Optimizer):
        ratio = self.cfg.min_lr / self.cfg.lr
        steps, warmup = self.cfg.steps, self.cfg.warmup
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, steps, warmup, ratio))

    def batch_loss(self, batch) -> torch.Tensor:
        """The (scalar) loss of one training batch, forward pass included."""
        raise NotImplementedError

    # -- hooks: validation and reporting ---------------------------------------------------------
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
    def resolve(self, spec: DataSpec) -> TrainConfig:
        """The config with its defaults filled in (the patch a prepared folder stores included)."""
        return self.cfg.resolved(sources.get_source(spec.kind, self.task).stored_patch(spec))

    def setup_data(self, spec: DataSpec) -> None:
        cfg, w = self.cfg, self.dist.world_size
        ds = self.build_train_dataset(spec)
        need = cfg.batch * w
        if len(ds) < need:  # too few samples for one global batch: repeat the set (new crops per copy)
            ds = Repeat(ds, -(-need // len(ds)))
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
        ckpt_io.seed_everything(self.cfg.seed)
        model, self.model_config = self.build_model()
        self.model = model.to(self.device)
        self.optimizer = self.build_optimizer()
        self.scheduler = self.build_scheduler(self.optimizer)

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
        if cfg.resume and not last.exists():
            warnings.warn(f"--resume: there is no checkpoint to resume ({last} does not exist); starting a new "
                          "run from step 0", stacklevel=4)
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
        spec = self.check_data(cfg)
        self.cfg = cfg = self.resolve(spec)
        self.out = cfg.run_folder()
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
        with StopSignals() as stop:
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



def run_trainer(trainer_cls: type, config=None, callback: Optional[Callback] = None, **overrides):
    """Train with ``trainer_cls``: its config from ``config`` (a config, a dict or None) and keyword
    overrides (checked: :meth:`~inter4k.train.config.TrainConfig.make`), its data checked before any
    process group is made; then set up DDP (when launched by torchrun), run and tear DDP down."""
    cfg = trainer_cls.config_class.make(config, f"train_{trainer_cls.task}", **overrides)
    trainer_cls.check_data(cfg)
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
