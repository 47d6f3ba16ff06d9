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

**Realism** (``realism``, synthetic kinds only): "rigid" or "real" (:mod:`inter4k.data.realism`:
large displacements, occluding layers, non-rigid motion, motion blur, brightness changes, sensor
noise, H.264); default "real" for ``photos`` and "rigid" for ``synthetic``. Validation clips get the
same realism as training clips.

**Real validation footage**: ``--val-data videos`` (or ``videos:DIR``) validates on the samples of the
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
:class:`inter4k.train.loop.Trainer`'s, as for ``train-sr``; checkpoints say ``"task": "vfi"``, and
resuming a train-sr run (or the reverse) is an error.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from .loop import (PHOTOS, Callback, DataSpec, TaskFunctions, Trainer, TrainConfig, TrainResult, build_config,
                   check_common, check_stored_patch, create_trainable, import_model_modules, parse_data_path,
                   parse_photos, prepared_or_inter4k_val, resolve_common, run_trainer, split_folder)

MODES = ("30to60", "15to60", "8x")  # the keys of inter4k.data.datasets.VFI_SPANS (a test checks)
VFI_PATCH = 256
SYNTHETIC = "synthetic"
SYNTHETIC_PREFIXES = ("synthetic:", "images:")
SYNTHETIC_KINDS = ("synthetic", PHOTOS)  # the data whose clips SyntheticMotionVFI renders
VIDEOS = "videos"  # the real footage of inter4k.data.videos: validation only
PSNR_CAP = 100.0


@dataclass
class VFITrainConfig(TrainConfig):
    """Everything a VFI training run depends on (stored in each checkpoint; see the module docstring).

    The shared fields are :class:`~inter4k.train.loop.TrainConfig`'s; here: ``data`` is an Inter4K
    root, a prepared VFI folder, "synthetic" or "synthetic:DIR" / "images:DIR"; ``patch`` is the
    frame side (default 256; prepared: the stored size); ``val_patch`` defaults to 480 centre crops
    (Inter4K) or ``patch`` (synthetic); ``out`` to runs/vfi-<mode>-<model>.
    """

    model: str = "vfi-small"
    mode: str = "30to60"
    flow_loss: float = 0.0   # weight of the flow supervision (synthetic data; see the module docstring)
    realism: Optional[str] = None  # synthetic data: "rigid" / "real" (None: "real" for photos, else "rigid")


@dataclass(kw_only=True)
class VFITrainResult(TrainResult):
    """What a finished (or stopped) VFI run reached: :class:`~inter4k.train.loop.TrainResult`'s fields
    and the mode. PSNRs in dB over every target frame of the validation set (None without validation)."""

    val_psnr_y: Optional[float]
    val_psnr_rgb: Optional[float]
    best_psnr_y: Optional[float]
    average_psnr_y: Optional[float]
    average_psnr_rgb: Optional[float]
    mode: str


# --- config ---------------------------------------------------------------------------------------

def make_config(config: Union[VFITrainConfig, dict, None] = None, **overrides) -> VFITrainConfig:
    """A :class:`VFITrainConfig` from a config, a dict and/or keyword overrides (unknown keys are errors)."""
    cfg = build_config(VFITrainConfig, config, overrides, "train_vfi")
    check_config(cfg)
    return cfg


def check_config(cfg: VFITrainConfig) -> None:
    """Raise ValueError / TypeError for settings that cannot work (before anything is loaded)."""
    if cfg.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    v = cfg.flow_loss
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise ValueError(f"flow_loss must be a finite number >= 0, got {v!r}")
    if cfg.realism is not None:
        from ..data.realism import REALISM

        if cfg.realism not in REALISM:
            raise ValueError(f"realism must be one of {', '.join(REALISM)}, got {cfg.realism!r}")
    check_common(cfg)


def check_flow_data(spec: DataSpec, cfg: VFITrainConfig) -> None:
    """ValueError when ``flow_loss`` > 0 and the data has no true flows (only synthetic motion has), or
    ``realism`` is given for data that is not synthetic."""
    if cfg.flow_loss > 0 and spec.kind not in SYNTHETIC_KINDS:
        raise ValueError(f"flow_loss {cfg.flow_loss} needs the true flows of synthetic data (--data synthetic, "
                         f"synthetic:DIR or photos); {spec.kind} data has none: use --flow-loss 0")
    if cfg.realism is not None and spec.kind not in SYNTHETIC_KINDS:
        raise ValueError(f"realism {cfg.realism!r} applies to synthetic clips (--data synthetic, synthetic:DIR or "
                         f"photos); {spec.kind} data is real footage: leave --realism out")


def realism_for(spec: DataSpec, cfg: VFITrainConfig) -> str:
    """The realism of the synthetic clips: ``cfg.realism``, else "real" for the photo corpus, "rigid" otherwise."""
    return cfg.realism or ("real" if spec.kind == PHOTOS else "rigid")


def _resolve(cfg: VFITrainConfig, stored_patch: Optional[int]) -> VFITrainConfig:
    """Fill in the defaults that depend on other settings (stored in the checkpoint as resolved)."""
    cfg = resolve_common(cfg, str(Path("runs") / f"vfi-{cfg.mode}-{cfg.model}"))
    if cfg.patch is None:
        cfg.patch = stored_patch if stored_patch is not None else VFI_PATCH
    return cfg


# --- data -----------------------------------------------------------------------------------------

def parse_data(data: Optional[str]) -> DataSpec:
    """What kind of data ``data`` names ("inter4k", "prepared", "synthetic" or "photos"; "synthetic" alone:
    scikit-image's photographs; "photos" / "photos:DIR": the real-photograph corpus, see
    :func:`~inter4k.train.loop.parse_photos`; else :func:`~inter4k.train.loop.parse_data_path`); a missing
    folder is a FileNotFoundError."""
    if data is not None and str(data) in (SYNTHETIC, SYNTHETIC + ":"):
        return DataSpec("synthetic", None)
    text = None if data is None else str(data)
    if text is not None and (text == VIDEOS or text.startswith(VIDEOS + ":")):
        from ..data.videos import build_video_corpus

        return DataSpec(VIDEOS, build_video_corpus(text[len(VIDEOS) + 1:] or None))
    return parse_photos(data) or parse_data_path(
        data, SYNTHETIC_PREFIXES, "synthetic", "a folder made by inter4k prepare --task vfi, synthetic "
        "(scikit-image's photographs), synthetic:DIR or photos (the real-photograph corpus)")


def _prepared(path: Path, cfg: VFITrainConfig, augment: Optional[bool] = None):
    from ..data.prepare import PreparedVFI

    ds = PreparedVFI(path, augment=augment, seed=cfg.seed)
    if ds.mode != cfg.mode:
        raise ValueError(f"the patches in {path} are for mode {ds.mode}; pass --mode {ds.mode} or "
                         f"prepare {cfg.mode} patches")
    return ds


def _photo_folder(spec: DataSpec, split: str) -> Optional[Path]:
    """The photographs of ``split``: None (scikit-image's) for plain synthetic data; the corpus's own
    split folder for photos (a missing one is an error: train clips never come from held-out photographs);
    DIR/split or DIR for synthetic:DIR (:func:`~inter4k.train.loop.split_folder`)."""
    if spec.path is None:
        return None
    if spec.kind != PHOTOS:
        return split_folder(spec.path, split)
    from ..data.images import list_images

    folder = spec.path / split
    if not folder.is_dir() or not list_images(folder):
        raise FileNotFoundError(f"the photo corpus {spec.path} has no {split}/ images; rebuild it "
                                f"(inter4k.data.photos.build_photo_corpus(overwrite=True))")
    return folder


def build_train_dataset(spec: DataSpec, cfg: VFITrainConfig):
    """The training set that ``spec`` names (see the module docstring); with ``flow_loss`` > 0 its
    samples carry the true flows."""
    if spec.kind == VIDEOS:
        raise ValueError(f"{spec.path} holds the real validation videos; train on Inter4K, synthetic or photos "
                         f"data and pass --val-data videos")
    check_flow_data(spec, cfg)
    if spec.kind == "prepared":
        ds = _prepared(spec.path, cfg)
        check_stored_patch(ds, spec.path, cfg.patch)
        return ds
    if spec.kind in SYNTHETIC_KINDS:
        from ..data.motion import SyntheticMotionVFI

        return SyntheticMotionVFI(_photo_folder(spec, "train"), mode=cfg.mode, patch_size=cfg.patch, seed=cfg.seed,
                                  split="train", with_flows=cfg.flow_loss > 0, realism=realism_for(spec, cfg))
    from ..data.datasets import Inter4KVFI

    return Inter4KVFI(spec.path, split="train", mode=cfg.mode, patch_size=cfg.patch, seed=cfg.seed)


def build_val_dataset(spec: DataSpec, cfg: VFITrainConfig, explicit: bool = False):
    """The validation set for ``spec`` (None when there is none; an error only when ``explicit``)."""
    if spec.kind == VIDEOS:
        from ..data.videos import VideoTripletsVFI

        return VideoTripletsVFI(spec.path, mode=cfg.mode, patch_size=cfg.val_patch)
    if spec.kind in SYNTHETIC_KINDS:
        from ..data.motion import SyntheticMotionVFI

        patch = cfg.val_patch if cfg.val_patch is not None else cfg.patch
        return SyntheticMotionVFI(_photo_folder(spec, "val"), mode=cfg.mode, patch_size=patch, seed=0, split="val",
                                  realism=realism_for(spec, cfg))

    def open_inter4k(root: Path, patch: Optional[int]):
        from ..data.datasets import Inter4KVFI

        return Inter4KVFI(root, split="val", mode=cfg.mode, patch_size=patch)

    return prepared_or_inter4k_val(spec, cfg.val_patch, explicit, lambda path: _prepared(path, cfg, augment=False),
                                   open_inter4k, "synthetic:DIR")


# --- the trainer ----------------------------------------------------------------------------------

def build_model(cfg: VFITrainConfig) -> tuple[nn.Module, dict]:
    """``create_model(cfg.model, **model_kwargs)`` (a registered VFI model) and its config dict."""
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
    return model, config


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
    functions = TaskFunctions(parse_data, _resolve, build_train_dataset, build_val_dataset, build_model)

    def describe_data(self, spec: DataSpec) -> str:
        where = "scikit-image photographs" if spec.path is None else str(spec.path)
        return f"{where} ({realism_for(spec, self.cfg)} motion)" if spec.kind in SYNTHETIC_KINDS else where

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
    cfg = make_config(config, **overrides)
    # a missing data folder, or flow_loss without true flows, fails before any process group is made
    check_flow_data(parse_data(cfg.data), cfg)
    return run_trainer(VFITrainer, cfg, callback)
