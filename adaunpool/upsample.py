"""AdaUnPoolUpsample: a learned, content-adaptive x2 / x3 / x4 upsampler built on adaUnPool."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from . import functional as F
from .modules import AdaPool2d

__all__ = ["AdaUnPoolUpsample"]

#: Default number of guide channels g (see :class:`AdaUnPoolUpsample`).
DEFAULT_GUIDE_CHANNELS = 4


class AdaUnPoolUpsample(nn.Module):
    r"""Learned upsampling by ``scale``: adaUnPool of the features with weights from a predicted guide.

    The layer used by the super-resolution and frame-interpolation models. For LR features x of
    shape (N, C, H, W):

    1. a 3x3 conv predicts ``g * scale**2`` channels that ``nn.PixelShuffle(scale)`` turns into a
       high-resolution guide of shape (N, g, s*H, s*W);
    2. an :class:`~adaunpool.AdaPool2d` with a learnable scalar beta in [0, 1]
       (``beta = sigmoid(beta_logit)``) and windows of ``scale x scale`` returns the weights of each
       window of the guide, (N, g, H, W, s*s); their mean over the g guide channels still sums to 1
       and is shared by all C feature channels;
    3. :func:`adaunpool.adaunpool2d` (``mode="mean"``) spreads every LR feature over its window with
       those weights, giving (N, C, s*H, s*W): ``u_i = s*s * W_i * x``, so uniform weights give
       nearest-neighbour upsampling and ``avg_pool2d(u, scale) == x`` always holds;
    4. with ``refine=True``, ``u + conv3x3(u)`` mixes neighbouring windows (a residual refinement).

    Guide channels: the weights of one window are ``s*s`` numbers shared by every feature channel,
    so the guide needs little capacity. ``g = 4`` (the default) gives four eM (softmax) maps per
    window, whose mean can be multi-modal (e.g. an edge with two plateaus), and a 4-vector per
    position for the channel-wise Dice-Sørensen similarity of eDSCW, while the guide conv costs
    ``9 * C * g * s*s`` weights, ``g / C`` of a sub-pixel conv's ``9 * C * C * s*s``.

    Initialisation: the guide conv's weights are PyTorch's default times 0.1 and all its biases are
    1, so the guide starts as ``1 + small noise``: the eM weights (a softmax of the guide) and the eDSCW
    weights (the Dice-Sørensen coefficients of near-equal vectors are all near 1) are both close to
    uniform, i.e. the layer starts close to nearest-neighbour upsampling, with the symmetry between
    guide channels broken. The refine conv starts at zero (an identity residual), so the layer's
    initial output is that near-nearest-neighbour upsampling and gradients reach the guide at once.

    Args:
        channels: C, the number of feature channels.
        scale: the upsampling factor, any int >= 2 (the models use 2, 3 and 4).
        guide_channels: g; defaults to 4.
        beta_init: the initial beta of the guide's adaPool, strictly inside (0, 1).
        dsc: ``"channel"`` or ``"element"``, the eDSCW mode of the guide's adaPool.
        refine: add the residual 3x3 conv after the unpooling.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, scale * H, scale * W), the input's dtype.

    Example:
        >>> import torch, adaunpool as au
        >>> up = au.AdaUnPoolUpsample(16, scale=2)
        >>> up(torch.randn(1, 16, 8, 8)).shape
        torch.Size([1, 16, 16, 16])
        >>> sum(p.numel() for p in au.AdaUnPoolUpsample(64, scale=4).parameters())
        73857
    """

    def __init__(
        self,
        channels: int,
        scale: int,
        guide_channels: Optional[int] = None,
        beta_init: float = 0.5,
        dsc: str = "channel",
        refine: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"AdaUnPoolUpsample: channels must be a positive int, got {channels!r}")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
            raise ValueError(f"AdaUnPoolUpsample: scale must be an int >= 2 (e.g. 2, 3 or 4), got {scale!r}")
        if guide_channels is None:
            guide_channels = DEFAULT_GUIDE_CHANNELS
        if isinstance(guide_channels, bool) or not isinstance(guide_channels, int) or guide_channels < 1:
            raise ValueError(f"AdaUnPoolUpsample: guide_channels must be a positive int, got {guide_channels!r}")
        self.channels = channels
        self.scale = scale
        self.guide_channels = guide_channels
        self.guide = nn.Sequential(
            nn.Conv2d(channels, guide_channels * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        self.pool = AdaPool2d(scale, beta="scalar", dsc=dsc, beta_init=beta_init, return_weights=True)
        self.refine = nn.Conv2d(channels, channels, 3, padding=1) if refine else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        conv = self.guide[0]
        conv.reset_parameters()
        with torch.no_grad():
            conv.weight.mul_(0.1)
            conv.bias.fill_(1.0)
        self.pool.reset_parameters()
        if self.refine is not None:
            nn.init.zeros_(self.refine.weight)
            nn.init.zeros_(self.refine.bias)

    @property
    def beta(self) -> torch.Tensor:
        """The guide's adaPool beta in [0, 1]."""
        return self.pool.beta

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The unpooling weights (N, 1, H, W, scale*scale) predicted from x; they sum to 1 per window."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"AdaUnPoolUpsample: x must be (N, {self.channels}, H, W), got shape {tuple(x.shape)}"
            )
        _, w = self.pool(self.guide(x))
        return w.mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = F.adaunpool2d(x, self.weights(x), self.scale, mode="mean")
        if self.refine is not None:
            u = u + self.refine(u)
        return u

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, scale={self.scale}, guide_channels={self.guide_channels}, "
                f"refine={self.refine is not None}")
