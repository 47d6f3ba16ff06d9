"""Train a video SR (clip) model: ``inter4k train-vsr`` / :func:`inter4k.api.train_vsr`.

    from inter4k.train.vsr import train_vsr
    result = train_vsr(dict(scale=4, data="photos", frames=5, steps=20000, out="runs/vsr-x4"))

A clip model (``vsr-small``, :attr:`~inter4k.models.vsr.VSRSmall.clip_model`) maps LR clips
(N, T, 3, h, w) to HR clips; train-sr trains single-frame models and refuses it, and this trainer
refuses single-frame models.

**Data** (``data``, the "vsr" kinds of :mod:`inter4k.data.sources`): ``photos[:DIR]`` (default) ->
:class:`~inter4k.data.clips.SyntheticClipsVSR`, clips of ``frames`` frames rendered with realistic
scene motion over the photo corpus's ``train`` photographs (validation: ``val_clips`` fixed clips over
its ``val`` photographs, ``val_patch`` or the training patch); an Inter4K root ->
:class:`~inter4k.data.datasets.Inter4KSR` with ``frames`` consecutive frames (validation: the val
split's clips, 480-pixel centre crops); a folder of ``frames``-frame clips made by ``inter4k prepare``
(rendered with ``--data photos --task vsr``, or cut from Inter4K with ``--frames``) ->
:class:`~inter4k.data.prepare.PreparedSR` (validation: the data it came from). LR = MATLAB bicubic of
the HR, rounded to 8 bits (``quantize_lr``, on by default: the LR of a video is 8-bit).

**Loss**: L1 over every frame of the clip (the model runs over the whole clip, both directions).

**Validation** every ``val_every`` steps and at the end, on the held-out clips: PSNR-Y (border =
scale, as train-sr) over every frame, and the error flicker (:func:`inter4k.metrics.temporal.error_flicker`,
8-bit Y levels, border = scale) per clip; the same, measured once, for the per-frame SR baseline (the
bundled default SR model for the scale, :func:`~inter4k.models.weights.default_sr_model`; none when
there is none) and for bicubic. ``best.pt`` keeps the best PSNR-Y.

**Start**: the model's per-frame network (:attr:`~inter4k.models.vsr.VSRSmall.frame_net`) starts from a
trained single-frame model's weights (``frame_init``; "auto": the bundled default SR model for the
scale when it has the same architecture, as sr-lr-small has vsr-small's), and the temporal parts add
nothing until trained, so step 0 is the per-frame model exactly and training learns only what the
neighbouring frames add. ``init`` (a whole video model) takes precedence.

Everything else (checkpoints with ``"task": "vsr"``, exact ``resume``, DDP, logs, stops) is
:class:`inter4k.train.loop.Trainer`'s, the SR hooks (data options, model building with ``scale``)
:class:`inter4k.train.sr.SRTrainer`'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import nn

from .config import VSRTrainConfig
from .loop import Callback, run_trainer
from .results import TrainResult
from .sr import SRTrainer

__all__ = ["VSRTrainConfig", "VSRTrainResult", "VSRTrainer", "train_vsr"]


@dataclass(kw_only=True)
class VSRTrainResult(TrainResult):
    """What a finished (or stopped) run reached: :class:`~inter4k.train.results.TrainResult`'s fields and
    the last validation's PSNR-Y (dB, over frames) and error flicker (8-bit Y levels, over clips), the
    best PSNR-Y, and the per-frame SR baseline's and bicubic's figures (None where not measured)."""

    val_psnr: Optional[float]
    val_flicker: Optional[float]
    best_psnr: Optional[float]
    baseline: Optional[str]
    baseline_psnr: Optional[float]
    baseline_flicker: Optional[float]
    bicubic_psnr: Optional[float]
    bicubic_flicker: Optional[float]


class VSRTrainer(SRTrainer):
    """The video SR hooks: (lr, hr) clip batches, L1 over every frame, PSNR-Y and error flicker against
    the per-frame SR baseline and bicubic."""

    task = "vsr"
    config_class = VSRTrainConfig
    clip_models = True

    def build_model(self) -> tuple[nn.Module, dict]:
        """SRTrainer's model, then (without ``init``) the per-frame network's starting weights."""
        model, config = super().build_model()
        self.frame_init_used: Optional[str] = None
        spec = self.cfg.frame_init
        if self.cfg.init is not None or spec is None or not hasattr(model, "load_frame_weights"):
            return model, config
        from ..models.resolver import resolve
        from ..models.weights import default_sr_model

        auto = spec == "auto"
        if auto:
            try:
                spec = default_sr_model(self.cfg.scale)
            except FileNotFoundError:  # no bundled single-frame model for the scale: a random start
                return model, config
        source = resolve(spec, task="sr", scale=self.cfg.scale).module
        if auto and not model.frame_weights_fit(source):  # another architecture: a random start
            return model, config
        model.load_frame_weights(source)   # a named model that does not fit: ValueError
        self.frame_init_used = spec
        return model, config

    def data_options(self, purpose: str) -> dict:
        options = dict(super().data_options(purpose), frames=self.cfg.frames)
        options.pop("blur_prob", None)
        options.pop("smooth_prob", None)
        if purpose == "val":
            options["limit"] = self.cfg.val_clips
        return options

    # -- validation ------------------------------------------------------------------------------
    def initial_metrics(self) -> dict:
        return {"best_psnr_y": None, "best_step": None, "last_psnr_y": None, "last_flicker_y": None,
                "baseline": None, "baseline_psnr_y": None, "baseline_flicker_y": None, "bicubic_psnr_y": None,
                "bicubic_flicker_y": None, "loss": None}

    def val_keys(self) -> tuple[str, ...]:
        return ("psnr_y", "flicker_y", "clips", "baseline_psnr_y", "baseline_flicker_y", "bicubic_psnr_y",
                "bicubic_flicker_y")

    def val_begin(self) -> None:
        self._need_baselines = self.metrics.get("bicubic_psnr_y") is None
        if self._need_baselines and not hasattr(self, "_baseline"):
            from ..models.resolver import resolve

            try:
                self._baseline = resolve(None, task="sr", scale=self.cfg.scale, device=self.device)
            except FileNotFoundError:  # no bundled single-frame model for this scale: bicubic alone
                self._baseline = None

    def _add(self, sums: dict, prefix: str, sr: torch.Tensor, hr: torch.Tensor) -> None:
        from ..metrics import psnr
        from ..metrics.temporal import error_flicker

        scale = self.cfg.scale
        sums[f"{prefix}psnr_y"] += float(psnr(sr, hr, crop_border=scale).sum())
        sums[f"{prefix}flicker_y"] += float(error_flicker(sr, hr, crop_border=scale).mean())

    def val_batch(self, module: nn.Module, batch, sums: dict) -> int:
        from ..models.upsamplers import bicubic_upsample

        lr, hr = batch[0].to(self.device), batch[1].to(self.device)[0]
        with self.autocast():
            sr = module(lr)
        self._add(sums, "", sr.float()[0].clamp(0, 1), hr)
        sums["clips"] += 1
        if self._need_baselines:
            self._add(sums, "bicubic_", bicubic_upsample(lr[0], self.cfg.scale).clamp(0, 1), hr)
            if self._baseline is not None:
                self._add(sums, "baseline_", self._baseline.module(lr[0]).float().clamp(0, 1), hr)
        return hr.shape[0]

    def val_end(self, step: int, sums: dict, count: float, samples: int, seconds: float) -> bool:
        frames, clips = max(count, 1), max(sums["clips"], 1)
        if self._need_baselines:
            self.metrics["bicubic_psnr_y"] = sums["bicubic_psnr_y"] / frames
            self.metrics["bicubic_flicker_y"] = sums["bicubic_flicker_y"] / clips
            if self._baseline is not None:
                self.metrics["baseline"] = self._baseline.label
                self.metrics["baseline_psnr_y"] = sums["baseline_psnr_y"] / frames
                self.metrics["baseline_flicker_y"] = sums["baseline_flicker_y"] / clips
        value, flicker = sums["psnr_y"] / frames, sums["flicker_y"] / clips
        self.metrics["last_psnr_y"], self.metrics["last_flicker_y"] = value, flicker
        improved = self.record_best(value, step, "best_psnr_y")
        m = self.metrics
        self.log({"type": "val", "step": step, "psnr_y": value, "flicker_y": flicker,
                  "baseline": m["baseline"], "baseline_psnr_y": m["baseline_psnr_y"],
                  "baseline_flicker_y": m["baseline_flicker_y"], "bicubic_psnr_y": m["bicubic_psnr_y"],
                  "bicubic_flicker_y": m["bicubic_flicker_y"], "best_psnr_y": m["best_psnr_y"],
                  "clips": int(sums["clips"]), "frames": int(count), "seconds": seconds,
                  "time": round(time.perf_counter() - self.t0, 3)})
        self.emit("val", step=step, psnr=value, flicker=flicker, bicubic=m["bicubic_psnr_y"],
                  baseline=m["baseline_psnr_y"], best=m["best_psnr_y"], improved=improved)
        return improved

    def start_info(self, spec) -> dict:
        return {"scale": self.cfg.scale, "frames": self.cfg.frames,
                "frame_init": self.frame_init_used}

    def make_result(self, start: int) -> VSRTrainResult:
        m = self.metrics
        return VSRTrainResult(**self.result_fields(start), val_psnr=m.get("last_psnr_y"),
                              val_flicker=m.get("last_flicker_y"), best_psnr=m.get("best_psnr_y"),
                              baseline=m.get("baseline"), baseline_psnr=m.get("baseline_psnr_y"),
                              baseline_flicker=m.get("baseline_flicker_y"), bicubic_psnr=m.get("bicubic_psnr_y"),
                              bicubic_flicker=m.get("bicubic_flicker_y"))


def train_vsr(config: Union[VSRTrainConfig, dict, None] = None, callback: Optional[Callback] = None,
              **overrides) -> VSRTrainResult:
    """Train a video SR clip model (see the module docstring); returns a :class:`VSRTrainResult`.

    ``config`` is a :class:`VSRTrainConfig` or a dict of its fields; keyword arguments override it.
    Ctrl-C / SIGTERM saves ``last.pt`` and raises KeyboardInterrupt; bad settings raise ValueError /
    TypeError / FileNotFoundError before anything is trained.
    """
    return run_trainer(VSRTrainer, config, callback, **overrides)
