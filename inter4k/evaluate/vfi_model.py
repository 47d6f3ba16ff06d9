"""VFI model mode: run a frame-interpolation model and the baselines on the same input pairs and score
every target frame against the true one.

The methods are the model (``model``: a VFI name or checkpoint path, resolved as ``inter4k interpolate``
does by :func:`inter4k.models.resolve`; default: the bundled
``data/weights/vfi-small.pt``), then frame averaging ``vfi-average``, the nearest input frame
``vfi-nearest`` (:mod:`inter4k.models.vfi`) and FFmpeg's motion-compensated ``minterpolate``,
``vfi-ffmpeg`` (:mod:`inter4k.models.vfi_ffmpeg`); a model that is itself a baseline is not repeated.
Without bundled weights and no ``model`` given, only the baselines run, with a warning.

Each method runs through :class:`inter4k.infer.tiling.TileRunner` (the two frames stacked on channels,
one call per target frame at its own t; whole frames unless out of memory, overlap 64 pixels as for
``interpolate``), in float32; its output is clamped to [0, 1] and scored in float.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..infer.common import FramePairModule
from .crops import CropPicker
from .results import FrameRecord, MethodResult
from .scoring import Scorer, oom_warnings, psnr_gain
from .vfi_data import VFIData

__all__ = ["VFI_BASELINE_ORDER", "build_vfi_methods", "run_vfi_methods", "t_label"]

#: The baselines every VFI model-mode evaluation includes, in table order.
VFI_BASELINE_ORDER = ("vfi-average", "vfi-nearest", "vfi-ffmpeg")

Callback = Callable[[str, dict], None]
ModelSpec = Union[None, str, os.PathLike, nn.Module]


def t_label(t: float) -> str:
    """A target time as the fraction it is (t = k / span).

    Examples:
        >>> t_label(0.5), t_label(0.375), t_label(1 / 3)
        ('1/2', '3/8', '1/3')
    """
    f = Fraction(float(t)).limit_denominator(64)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def build_vfi_methods(model: ModelSpec) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """[(name, module)] with the model first, then the baselines; and any warnings."""
    from ..models.resolver import DEFAULT_VFI_MODEL, resolve
    from ..models.weights import weights_path

    warnings: list[str] = []
    methods: list[tuple[str, nn.Module]] = []
    if model is None and not weights_path(DEFAULT_VFI_MODEL).is_file():
        warnings.append(f"no trained VFI weights are bundled yet ({weights_path(DEFAULT_VFI_MODEL)} is missing); "
                        "evaluating the baselines only (pass --model vfi-small for the untrained network, or "
                        "--model PATH for a checkpoint)")
    else:
        net, label = resolve(model, task="vfi", warn=warnings.append)
        methods.append((label, net))
    names = {getattr(net, "model_name", None) for _, net in methods} | {n for n, _ in methods}
    for b in VFI_BASELINE_ORDER:
        if b not in names:
            methods.append((b, resolve(b, task="vfi").module))
    return methods, warnings



def run_vfi_methods(data: VFIData, methods: list[tuple[str, nn.Module]], scorer: Scorer, device: torch.device,
                    tile="auto", tile_overlap: int = 64, picker: Optional[CropPicker] = None,
                    callback: Optional[Callback] = None) -> tuple[list[MethodResult], list[str]]:
    """Score every method on every target frame of ``data``; returns the results (in ``methods`` order)
    and warnings (out-of-memory retries). ``callback("frame", {"done", "total", "clip"})`` after each
    target frame."""
    from ..infer.tiling import TileRunner

    pairs = {name: FramePairModule(net) for name, net in methods}
    runners = {name: TileRunner(pair, 1, device, torch.float32, tile=tile, overlap=tile_overlap)
               for name, pair in pairs.items()}
    results = {name: MethodResult(name, list(scorer.keys)) for name, _ in methods}
    primary = methods[0][0]
    # the row the model is compared with (gains, crops): frame averaging, however it was named
    average = next((n for n, net in methods if n == "vfi-average"), None) or next(
        (n for n, net in methods if getattr(net, "model_name", None) == "vfi-average"), None)
    total, done = data.total, 0
    current: Optional[str] = None
    for sample in data:
        if sample.clip != current:
            if current is not None:
                for r in results.values():
                    r.close_clip(current, r.name, data.source)
            current = sample.clip
        span = sample.span
        frame0, frame1 = sample.frame(0), sample.frame(span)
        x = torch.cat([frame0, frame1])[None]
        inputs = (sample.start, sample.start + span)
        for k in range(1, span):
            t = k / span
            target = sample.frame(k)
            index = sample.start + k
            outputs = {}
            for name, runner in runners.items():
                pairs[name].t = t
                out = runner(x)[0]
                outputs[name] = out
                results[name].frames.append(FrameRecord(sample.clip, index, f"#{index}", scorer(out, target),
                                                        t=t, inputs=inputs))
            if picker is not None:
                values = results[primary].frames[-1].values
                gain = float("nan") if average is None else psnr_gain(values, results[average].frames[-1].values)
                picker.offer_vfi(sample.clip, index, t_label(t), frame0, frame1, target, outputs, primary, average,
                                 gain, values.get("psnr_y"))
            done += 1
            if callback is not None:
                callback("frame", {"done": done, "total": total, "clip": sample.clip})
    if current is None:
        raise ValueError(f"no samples to evaluate in {data.source}")
    for r in results.values():
        r.close_clip(current, r.name, data.source)
    return [results[name] for name, _ in methods], oom_warnings(runners)

