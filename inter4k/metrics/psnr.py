"""PSNR with the conventions of docs/EVALUATE.md#psnr: RGB in [0, 1]; on Y (BT.601 limited range, MATLAB's
rgb2ycbcr) or on RGB; ``crop_border`` pixels removed from each side first. Batched: one value per image."""

from __future__ import annotations

import torch

from ._inputs import prepare


def psnr(pred: torch.Tensor, ref: torch.Tensor, crop_border: int = 0, y_channel: bool = True) -> torch.Tensor:
    """PSNR in dB of (N, 3, H, W) (or (3, H, W)) images in [0, 1], one value per image.

    On Y the peak is that of MATLAB's uint8 Y scaled to [0, 1] (so the figures equal MATLAB's and
    BasicSR's); identical images give ``inf``. Both inputs are clamped to [0, 1] after the model, as an
    image file would be; the maths runs in float64.
    """
    p, r = prepare(pred, ref, "psnr", crop_border, y_channel)
    mse = (p - r).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)
