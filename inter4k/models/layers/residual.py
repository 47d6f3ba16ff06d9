"""ResBlock: the residual block of the plain bodies (EDSR's, without batch norm)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResBlock"]


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3, scaled by ``res_scale`` and added to the input (no batch norm)."""

    def __init__(self, channels: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(self.act(self.conv1(x)))
        return x + r * self.res_scale if self.res_scale != 1.0 else x + r
