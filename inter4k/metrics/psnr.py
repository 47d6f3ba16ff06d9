"""PSNR with the conventions of SPEC §5: RGB in [0, 1]; on Y (BT.601 limited range, MATLAB's
rgb2ycbcr) or on RGB; ``crop_border`` pixels removed from each side first. Batched: one value per image."""

from __future__ import annotations

import torch

from ..data.resize import rgb_to_y


def psnr(pred: torch.Tensor, ref: torch.Tensor, crop_border: int = 0, y_channel: bool = True) -> torch.Tensor:
    """PSNR in dB of (N, 3, H, W) (or (3, H, W)) images in [0, 1], one value per image.

    On Y the peak is that of MATLAB's uint8 Y scaled to [0, 1] (so the figures equal MATLAB's and
    BasicSR's); identical images give ``inf``. Both inputs are clamped to [0, 1] after the model, as an
    image file would be; the maths runs in float64.
    """
    if pred.shape != ref.shape:
        raise ValueError(f"psnr: pred {tuple(pred.shape)} and ref {tuple(ref.shape)} differ in shape")
    if pred.dim() == 3:
        pred, ref = pred.unsqueeze(0), ref.unsqueeze(0)
    if pred.dim() != 4 or pred.shape[1] != 3:
        raise ValueError(f"psnr: expected (N, 3, H, W) RGB images, got {tuple(pred.shape)}")
    p, r = pred.double().clamp(0, 1), ref.double().clamp(0, 1)
    if y_channel:
        p, r = rgb_to_y(p), rgb_to_y(r)
    if crop_border:
        c = int(crop_border)
        if 2 * c >= p.shape[-1] or 2 * c >= p.shape[-2]:
            raise ValueError(f"psnr: crop_border {c} leaves nothing of a {tuple(p.shape[-2:])} image")
        p, r = p[..., c:-c, c:-c], r[..., c:-c, c:-c]
    mse = (p - r).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)
