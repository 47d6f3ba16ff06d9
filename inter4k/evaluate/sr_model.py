"""Model mode: run an SR model and the baselines on the same LR frames and score each against the HR.

The methods are the model (default: the bundled weights for the scale,
:func:`inter4k.models.weights.default_sr_model`) then ``bicubic``, ``bilinear`` and ``nearest``
(:mod:`inter4k.models.baselines`); a model that is itself a baseline is not repeated. Each runs through
:class:`inter4k.infer.tiling.TileRunner` (tiles with blended overlaps, out-of-memory retries), so large
frames fit; its output is clamped to [0, 1] and scored in float (no rounding to 8 bits, as
``train-sr``'s validation). Without bundled weights for the scale and no ``model`` given, only the
baselines run, with a warning.
"""

from __future__ import annotations

import os
from typing import Optional, Union

import torch
from torch import nn

from .crops import CropPicker
from .results import FrameRecord
from .scoring import Scorer, psnr_gain
from .sr_data import open_sr_data
from .tasks import EvalTask, register_task

__all__ = ["build_methods", "SRTask"]

ModelSpec = Union[None, str, os.PathLike, nn.Module]


def build_methods(model: ModelSpec, scale: int) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """[(name, module)] with the model first, then the baselines (:data:`~inter4k.models.baselines.BASELINES`, in
    table order); and any warnings."""
    from ..models.baselines import BASELINES
    from ..models.resolver import resolve

    warnings: list[str] = []
    methods: list[tuple[str, nn.Module]] = []
    try:
        net, name = resolve(model, task="sr", scale=scale)
        methods.append((name, net))
    except FileNotFoundError as exc:
        if model is not None:
            raise
        warnings.append(f"{' '.join(str(exc).split())}; evaluating the baselines only")
    names = {n for n, _ in methods}
    for b in BASELINES:
        if b not in names:
            methods.append((b, resolve(b, task="sr", scale=scale).module))
    return methods, warnings


@register_task("sr")
class SRTask(EvalTask):
    """SR model mode: the model and the baselines on LR frames made from ``data``, scored against the HR
    (with ``grid_y``, the grid artifact of period ``scale``)."""

    default_overlap = 32
    model_options = {"quantize_lr": "--quantize-lr"}
    default_scale = 4  # as upscale and train-sr

    @classmethod
    def default_crop_border(cls, scale: Optional[int]) -> int:
        if scale is None:
            raise ValueError("--task sr crops `scale` pixels from each border (docs/EVALUATE.md#border-crop): "
                             "give --scale (or --crop-border)")
        return scale

    @property
    def align(self) -> int:
        return self.req.scale

    @property
    def grid_period(self) -> Optional[int]:
        return self.req.scale if self.req.scale >= 2 else None

    def open(self) -> dict:
        req = self.req
        self.data = open_sr_data(req.data, req.split, req.scale, req.limit, req.frames, req.quantize_lr)
        if self.data.kind == "images" and req.frames is not None:
            self.warnings.append("--frames applies to video clips; every image is evaluated (--limit keeps the "
                                 "first N)")
        self.methods, more = build_methods(req.model, req.scale)
        self.warnings += more
        self.source, self.clips, self.total = self.data.source, len(self.data.clips), self.data.total
        return dict(model=self.methods[0][0], data=self.data.source, data_kind=self.data.kind, split=req.split,
                    tile=req.tile_label, tile_overlap=self.overlap, quantize_lr=bool(req.quantize_lr),
                    clips=[name for name, _ in self.data.clips])

    def runner(self, net: nn.Module):
        from ..infer.tiling import TileRunner

        return TileRunner(net, self.req.scale, self.req.device, torch.float32, tile=self.req.tile,
                          overlap=self.overlap)

    def items(self):
        return self.data

    def score(self, item, scorer: Scorer, picker: CropPicker) -> int:
        outputs = {}
        for name, runner in self.runners.items():
            sr = runner(item.lr[None])[0]
            if sr.shape != item.hr.shape:
                raise ValueError(f"{name} made a {sr.shape[-1]}x{sr.shape[-2]} frame from a "
                                 f"{item.lr.shape[-1]}x{item.lr.shape[-2]} LR; expected "
                                 f"{item.hr.shape[-1]}x{item.hr.shape[-2]} (x{self.req.scale})")
            outputs[name] = sr
            self.results[name].frames.append(FrameRecord(item.clip, item.index, item.name, scorer(sr, item.hr)))
        primary = self.methods[0][0]
        gain = psnr_gain(self.results[primary].frames[-1].values, self.results["bicubic"].frames[-1].values)
        picker.offer_sr(item.clip, item.index, item.lr, item.hr, outputs, primary, gain)
        return 1
