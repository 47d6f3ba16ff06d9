"""Non-learned SR "models": bicubic (MATLAB), bilinear and nearest upscaling by an integer factor.

    create_model("bicubic", scale=4)(lr)      # (N, C, H, W) -> (N, C, 4H, 4W); no parameters

They follow the SR models' contract (input in [0, 1], any H and W, nothing clamped) so ``inter4k
evaluate`` and the tests can use them wherever a model goes:

* ``bicubic``: MATLAB's ``imresize(x, scale, 'bicubic')`` (cubic kernel a = -0.5, half-sample
  symmetric borders), computed by :func:`~inter4k.models.upsamplers.bicubic_upsample`, equal to
  :func:`inter4k.data.resize.imresize` up to float rounding (antialiasing plays no part when upscaling);
* ``bilinear``: ``F.interpolate(mode="bilinear", align_corners=False)``;
* ``nearest``: ``F.interpolate(mode="nearest")`` (for integer factors the same as "nearest-exact").
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model
from .upsamplers import bicubic_upsample
from .vfi import VFI_BASELINES

__all__ = ["BASELINES", "Interpolate", "is_baseline"]

#: The names of the non-learned SR models, in table order (``evaluate`` runs them all beside the model).
BASELINES: tuple[str, ...] = ("bicubic", "bilinear", "nearest")


def is_baseline(name: str) -> bool:
    """Whether ``name`` is a non-learned model of either task (:data:`BASELINES` for SR,
    :data:`~inter4k.models.vfi.VFI_BASELINES` for VFI): built, never loaded from weights.

    Examples:
        >>> is_baseline("bicubic"), is_baseline("vfi-average"), is_baseline("sr-small")
        (True, True, False)
    """
    return name in BASELINES or name in VFI_BASELINES


class Interpolate(nn.Module):
    """Fixed upscaling by ``scale`` with ``mode`` in :data:`BASELINES`; no parameters or buffers."""

    def __init__(self, scale: int = 4, mode: str = "bicubic") -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"{mode}: scale must be an int >= 1 (e.g. 2, 3 or 4), got {scale!r}")
        if mode not in BASELINES:
            raise ValueError(f"Interpolate: mode must be one of {', '.join(BASELINES)}, got {mode!r}")
        self.scale, self.mode = scale, mode
        self.config = {"scale": scale}
        self.model_name: Optional[str] = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"{self.mode}: expected (N, C, H, W), got shape {tuple(x.shape)}")
        if self.mode == "bicubic":
            return bicubic_upsample(x, self.scale)
        if self.mode == "bilinear":
            return F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")

    def extra_repr(self) -> str:
        return f"scale={self.scale}, mode={self.mode!r}"


@register_model("bicubic", task="sr")
def bicubic(scale: int = 4) -> Interpolate:
    return Interpolate(scale, "bicubic")


@register_model("bilinear", task="sr")
def bilinear(scale: int = 4) -> Interpolate:
    return Interpolate(scale, "bilinear")


@register_model("nearest", task="sr")
def nearest(scale: int = 4) -> Interpolate:
    return Interpolate(scale, "nearest")
