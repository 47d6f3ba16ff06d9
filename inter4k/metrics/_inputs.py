"""The input checks and preparation every metric shares (docs/EVALUATE.md#metrics)."""

from __future__ import annotations

import torch

from ..data.resize import rgb_to_y


def as_image_batch(pred: torch.Tensor, ref: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 3, H, W)`` views of two equal-shaped RGB batches (a single ``(3, H, W)`` image gets N = 1)."""
    if pred.shape != ref.shape:
        raise ValueError(f"{metric}: pred {tuple(pred.shape)} and ref {tuple(ref.shape)} differ in shape")
    if pred.dim() == 3:
        pred, ref = pred.unsqueeze(0), ref.unsqueeze(0)
    if pred.dim() != 4 or pred.shape[1] != 3:
        raise ValueError(f"{metric}: expected (N, 3, H, W) RGB images, got {tuple(pred.shape)}")
    return pred, ref


def prepare(pred: torch.Tensor, ref: torch.Tensor, metric: str, crop_border: int, y_channel: bool,
            peak: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked, clamped to [0, 1] (as an image file would be), float64, Y (BT.601, MATLAB's rgb2ycbcr)
    or RGB, scaled to ``peak``, with ``crop_border`` pixels removed from each side."""
    pred, ref = as_image_batch(pred, ref, metric)
    p, r = pred.double().clamp(0, 1), ref.double().clamp(0, 1)
    if y_channel:
        p, r = rgb_to_y(p), rgb_to_y(r)
    if peak != 1.0:
        p, r = p * peak, r * peak
    if crop_border:
        c = int(crop_border)
        if 2 * c >= p.shape[-1] or 2 * c >= p.shape[-2]:
            raise ValueError(f"{metric}: crop_border {c} leaves nothing of a {tuple(p.shape[-2:])} image")
        p, r = p[..., c:-c, c:-c], r[..., c:-c, c:-c]
    return p, r
