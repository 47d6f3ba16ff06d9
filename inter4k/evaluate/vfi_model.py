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
from typing import Iterator, NamedTuple, Union

import torch
from torch import nn

from ..infer.common import FramePairModule
from .crops import CropPicker
from .results import FrameRecord
from .scoring import Scorer, psnr_gain
from .tables import t_label
from .tasks import EvalTask, register_task
from .vfi_data import VFISample, open_vfi_data

__all__ = ["build_vfi_methods", "VFITask", "VFITarget", "t_label"]

ModelSpec = Union[None, str, os.PathLike, nn.Module]


class VFITarget(NamedTuple):
    """Target frame ``k`` (0 < k < span) of ``sample``, with the sample's two input frames as (3, H, W) float32:
    one item of the task (one evaluated frame)."""

    sample: VFISample
    k: int
    frame0: torch.Tensor
    frame1: torch.Tensor

    @property
    def clip(self) -> str:
        return self.sample.clip


def build_vfi_methods(model: ModelSpec) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """[(name, module)] with the model first, then the baselines (:data:`~inter4k.models.vfi.VFI_BASELINES`, in
    table order); and any warnings."""
    from ..models.resolver import DEFAULT_VFI_MODEL, resolve
    from ..models.vfi import VFI_BASELINES
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
    for b in VFI_BASELINES:
        if b not in names:
            methods.append((b, resolve(b, task="vfi").module))
    return methods, warnings


@register_task("vfi")
class VFITask(EvalTask):
    """VFI model mode: the model and the baselines on the input pairs of ``data``, every target frame
    scored against the true one, at its own t."""

    default_overlap = 64
    empty = "no samples to evaluate in {source}"
    model_options = {"vfi_mode": "--mode (30to60, 15to60, 8x)", "patch": "--patch (centre crops)"}
    no_scale = "frame interpolation keeps the size"

    def open(self) -> dict:
        req = self.req
        mode = "30to60" if req.vfi_mode is None else req.vfi_mode
        self.data = open_vfi_data(req.data, req.split, mode, req.limit, req.frames, req.patch)
        if self.data.kind == "synthetic" and req.frames is not None:
            self.warnings.append("--frames applies to video clips; every synthetic sample is evaluated (--limit "
                                 "keeps the first N)")
        self.methods, more = build_vfi_methods(req.model)
        self.warnings += more
        self.source, self.clips, self.total = self.data.source, len(self.data.clips), self.data.total
        # the row the model is compared with (gains, crops): frame averaging, however it was named
        self.average = next((n for n, net in self.methods if n == "vfi-average"), None) or next(
            (n for n, net in self.methods if getattr(net, "model_name", None) == "vfi-average"), None)
        span = self.data.span
        return dict(model=self.methods[0][0], data=self.data.source, data_kind=self.data.kind, split=req.split,
                    vfi_mode=mode, span=span, timesteps=[k / span for k in range(1, span)], **self.data.info,
                    tile=req.tile_label, tile_overlap=self.overlap, clips=[name for name, _ in self.data.clips])

    def runner(self, net: nn.Module):
        from ..infer.tiling import TileRunner

        return TileRunner(FramePairModule(net), 1, self.req.device, torch.float32, tile=self.req.tile,
                          overlap=self.overlap)

    def items(self) -> Iterator[VFITarget]:
        """One item per target frame (the progress counts frames, as the other tasks' do); a sample's
        input frames are converted once for all its targets."""
        for sample in self.data:
            frames = sample.frame(0), sample.frame(sample.span)
            for k in range(1, sample.span):
                yield VFITarget(sample, k, *frames)

    def score(self, item: VFITarget, scorer: Scorer, picker: CropPicker) -> int:
        sample, span = item.sample, item.sample.span
        x = torch.cat([item.frame0, item.frame1])[None]
        inputs = (sample.start, sample.start + span)
        primary = self.methods[0][0]
        t = item.k / span
        target = sample.frame(item.k)
        index = sample.start + item.k
        outputs = {}
        for name, runner in self.runners.items():
            runner.model.t = t  # the FramePairModule's target time
            out = runner(x)[0]
            outputs[name] = out
            self.results[name].frames.append(FrameRecord(sample.clip, index, f"#{index}", scorer(out, target),
                                                         t=t, inputs=inputs))
        values = self.results[primary].frames[-1].values
        gain = float("nan") if self.average is None else psnr_gain(
            values, self.results[self.average].frames[-1].values)
        picker.offer_vfi(sample.clip, index, t_label(t), item.frame0, item.frame1, target, outputs, primary,
                         self.average, gain, values.get("psnr_y"))
        return 1
