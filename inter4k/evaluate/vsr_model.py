"""Video SR model mode (``--task vsr``): a clip model, the per-frame SR baseline and bicubic on the same
LR clips, every frame scored against the HR, and the temporal values of each frame after a clip's first.

The methods are the clip model (default ``vsr-small``: its bundled weights, else untrained with a
warning), then the per-frame SR baseline (the bundled default SR model for the scale,
:func:`inter4k.models.weights.default_sr_model`; left out with a warning when there is none) and
``bicubic``. The clip model runs over each whole clip at once (both directions, no tiles: the clips
are a few frames); the per-frame methods run frame by frame through
:class:`inter4k.infer.tiling.TileRunner`, as in ``--task sr``.

Per frame: the scorer's values (PSNR-Y, SSIM-Y, grid-Y, PSNR-RGB, LPIPS, border = scale) and, from the
second frame of a clip on, ``flicker_y`` and ``warp_y`` (:mod:`inter4k.metrics.temporal`, the same
border; the warping error along the reference's Farneback flow, estimated once per clip). Outputs are
clamped to [0, 1] and scored in float.

Data (:mod:`inter4k.data.sources`, task "vsr", purpose "test"): ``photos[:DIR]`` -> fixed
:class:`~inter4k.data.clips.SyntheticClipsVSR` clips over the corpus's ``split`` photographs (256-pixel
frames, the first ``limit`` clips); an Inter4K root -> ``frames`` consecutive whole frames from the
middle of each of the first ``limit`` clips of ``split``. ``frames`` is T (default 5; 3, 5 or 9 for
photos). The LR is bicubic rounded to 8 bits, as a video's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

from ..metrics.temporal import TEMPORAL_KEYS
from .crops import CropPicker
from .results import FrameRecord
from .scoring import Scorer, psnr_gain
from .sr_model import SRTask
from .tasks import register_task

__all__ = ["VSRTask", "VSRClip", "DEFAULT_VSR_MODEL", "DEFAULT_FRAMES"]

DEFAULT_VSR_MODEL = "vsr-small"
DEFAULT_FRAMES = 5


@dataclass
class VSRClip:
    """One clip to evaluate: its name, LR (T, 3, h, w) and HR (T, 3, H, W)."""

    clip: str
    lr: torch.Tensor
    hr: torch.Tensor


class _ClipRunner:
    """Runs a clip model over a whole LR clip (T, 3, h, w) on ``device``; no tiles, so no out-of-memory
    retries (``events`` stays empty, as a :class:`~inter4k.infer.tiling.TileRunner`'s without any)."""

    def __init__(self, net: nn.Module, device: torch.device) -> None:
        self.net, self.device, self.events = net.to(device), device, []

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor) -> torch.Tensor:
        return self.net(lr[None].to(self.device))[0].float().cpu()


@register_task("vsr")
class VSRTask(SRTask):
    """Video SR model mode (see the module docstring): SR's scale, border, grid and tiles, over clips."""

    empty = "no clips to evaluate in {source}"
    model_options: dict[str, str] = {}   # the LR of a video is always 8-bit: no --quantize-lr
    extra_keys = TEMPORAL_KEYS

    def open(self) -> dict:
        from ..data.sources import open_dataset, parse_data
        from ..models.resolver import resolve
        from ..models.vsr import is_clip_model

        req = self.req
        frames = req.frames or DEFAULT_FRAMES
        spec = parse_data(req.data, "vsr", purpose="test")
        self.data = open_dataset(spec, "vsr", "test", scale=req.scale, split=req.split, limit=req.limit,
                                 frames=frames, quantize=True)
        model = resolve(req.model or DEFAULT_VSR_MODEL, task="sr", scale=req.scale, warn=self.warnings.append)
        if not is_clip_model(model.module):
            raise ValueError(f"--task vsr evaluates a clip model ({DEFAULT_VSR_MODEL} or a checkpoint of one); "
                             f"{model.label} super-resolves single frames: use --task sr for it")
        self.methods = [(model.label, model.module)]
        try:
            per_frame = resolve(None, task="sr", scale=req.scale)
            self.methods.append((per_frame.label, per_frame.module))
        except FileNotFoundError as exc:
            self.warnings.append(f"{' '.join(str(exc).split())}; evaluating without the per-frame SR baseline")
        self.methods.append(("bicubic", resolve("bicubic", task="sr", scale=req.scale).module))
        self.names = [self._name(i) for i in range(len(self.data))]
        self.source, self.clips, self.total = str(spec.path), len(self.data), len(self.data) * frames
        return dict(model=model.label, data=self.source, data_kind=spec.kind, split=req.split, frames=frames,
                    tile=req.tile_label, tile_overlap=self.overlap, quantize_lr=True, clips=self.names)

    def _name(self, index: int) -> str:
        clips = getattr(self.data, "clips", None)   # Inter4K: the clip numbers
        if clips is not None:
            return str(clips[index // self.data.samples_per_clip])
        return f"{index}: {self.data.names[index % len(self.data.names)]}"

    def runner(self, net: nn.Module):
        from ..models.vsr import is_clip_model

        return _ClipRunner(net, self.req.device) if is_clip_model(net) else super().runner(net)

    def items(self) -> Iterator[VSRClip]:
        for i in range(len(self.data)):
            lr, hr = self.data[i]
            yield VSRClip(self.names[i], lr, hr)

    def _run(self, name: str, lr: torch.Tensor) -> torch.Tensor:
        """Method ``name``'s output clip (T, 3, H, W) in [0, 1]: a clip model at once, another frame by frame."""
        runner = self.runners[name]
        if isinstance(runner, _ClipRunner):
            return runner(lr).clamp(0, 1)
        return torch.stack([runner(frame[None])[0] for frame in lr]).clamp(0, 1)

    def score(self, item: VSRClip, scorer: Scorer, picker: CropPicker) -> int:
        from ..metrics.temporal import error_flicker, reference_flow, warping_error

        c = scorer.crop_border
        flows = reference_flow(item.hr)
        outputs = {}
        for name, _ in self.methods:
            sr = self._run(name, item.lr)
            if sr.shape != item.hr.shape:
                raise ValueError(f"{name} made {tuple(sr.shape)} from an LR clip {tuple(item.lr.shape)}; expected "
                                 f"{tuple(item.hr.shape)} (x{self.req.scale})")
            flicker = [None, *error_flicker(sr, item.hr, c).tolist()]
            warp = [None, *warping_error(sr, item.hr, flows, c).tolist()]
            for t in range(sr.shape[0]):
                values = {**scorer(sr[t], item.hr[t]), "flicker_y": flicker[t], "warp_y": warp[t]}
                self.results[name].frames.append(FrameRecord(item.clip, t, f"#{t}", values))
            outputs[name] = sr
        mid, primary = item.lr.shape[0] // 2, self.methods[0][0]
        gain = psnr_gain(self.results[primary].frames[-item.lr.shape[0] + mid].values,
                         self.results["bicubic"].frames[-item.lr.shape[0] + mid].values)
        picker.offer_sr(item.clip, mid, item.lr[mid], item.hr[mid], {k: v[mid] for k, v in outputs.items()},
                        primary, gain)
        return sr.shape[0]
