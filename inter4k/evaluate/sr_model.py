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
from typing import Callable, Optional, Union

import torch
from torch import nn

from .crops import CropPicker
from .results import FrameRecord, MethodResult
from .scoring import Scorer, oom_warnings, psnr_gain
from .sr_data import SRData

__all__ = ["BASELINE_ORDER", "build_methods", "run_sr_methods"]

#: The baselines every model-mode evaluation includes, in table order.
BASELINE_ORDER = ("bicubic", "bilinear", "nearest")

Callback = Callable[[str, dict], None]
ModelSpec = Union[None, str, os.PathLike, nn.Module]


def build_methods(model: ModelSpec, scale: int) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """[(name, module)] with the model first, then the baselines; and any warnings."""
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
    for b in BASELINE_ORDER:
        if b not in names:
            methods.append((b, resolve(b, task="sr", scale=scale).module))
    return methods, warnings


def run_sr_methods(data: SRData, methods: list[tuple[str, nn.Module]], scorer: Scorer, scale: int,
                   device: torch.device, tile="auto", tile_overlap: int = 32,
                   picker: Optional[CropPicker] = None, callback: Optional[Callback] = None
                   ) -> tuple[list[MethodResult], list[str]]:
    """Score every method on every frame of ``data``; returns the results (in ``methods`` order) and
    warnings (out-of-memory retries). ``callback("frame", {"done", "total", "clip"})`` after each frame."""
    from ..infer.tiling import TileRunner

    runners = {name: TileRunner(net, scale, device, torch.float32, tile=tile, overlap=tile_overlap)
               for name, net in methods}
    results = {name: MethodResult(name, list(scorer.keys)) for name, _ in methods}
    primary = methods[0][0]
    total, done = data.total, 0
    current: Optional[str] = None
    for item in data:
        if item.clip != current:
            if current is not None:
                for r in results.values():
                    r.close_clip(current, r.name, data.source)
            current = item.clip
        outputs = {}
        for name, runner in runners.items():
            sr = runner(item.lr[None])[0]
            if sr.shape != item.hr.shape:
                raise ValueError(f"{name} made a {sr.shape[-1]}x{sr.shape[-2]} frame from a "
                                 f"{item.lr.shape[-1]}x{item.lr.shape[-2]} LR; expected "
                                 f"{item.hr.shape[-1]}x{item.hr.shape[-2]} (x{scale})")
            outputs[name] = sr
            results[name].frames.append(FrameRecord(item.clip, item.index, item.name, scorer(sr, item.hr)))
        if picker is not None:
            gain = psnr_gain(results[primary].frames[-1].values, results["bicubic"].frames[-1].values)
            picker.offer_sr(item.clip, item.index, item.lr, item.hr, outputs, primary, gain)
        done += 1
        if callback is not None:
            callback("frame", {"done": done, "total": total, "clip": item.clip})
    if current is None:
        raise ValueError(f"no frames to evaluate in {data.source}")
    for r in results.values():
        r.close_clip(current, r.name, data.source)
    return [results[name] for name, _ in methods], oom_warnings(runners)

