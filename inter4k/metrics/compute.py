"""All the metrics of docs/EVALUATE.md#metrics for a batch of (prediction, reference) pairs, in one call."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .perceptual import LPIPS, LPIPSUnavailable
from .psnr import psnr
from .ssim import ssim

KNOWN_METRICS = ("psnr", "ssim", "lpips")

# The LPIPS built on demand by compute_metrics, reused across calls (building it reads ~230 MB of
# trunk weights). Only successful builds are kept, so a weights file copied in later is picked up.
_default_lpips: LPIPS | None = None


def _shared_lpips() -> LPIPS | None:
    global _default_lpips
    if _default_lpips is None:
        try:
            _default_lpips = LPIPS()
        except LPIPSUnavailable:
            return None
    return _default_lpips


def compute_metrics(
    pred: torch.Tensor,
    ref: torch.Tensor,
    metrics: Iterable[str] = KNOWN_METRICS,
    crop_border: int = 0,
    lpips: LPIPS | None = None,
) -> dict[str, torch.Tensor]:
    """Per-image metrics of (N, 3, H, W) (or (3, H, W)) RGB predictions against references, in [0, 1].

    Keys of the result, each a ``(N,)`` tensor:

    * ``"psnr"`` -> ``psnr_y`` and ``psnr_rgb`` (dB, float64),
    * ``"ssim"`` -> ``ssim_y`` (float64),
    * ``"lpips"`` -> ``lpips`` (float32; lower is better), computed with the given ``lpips`` instance,
      else with a default ``LPIPS()`` built once and reused. When LPIPS cannot be built here (no trunk
      weights, see :func:`~inter4k.metrics.perceptual.lpips_status`) the key is simply absent.

    PSNR and SSIM drop ``crop_border`` pixels from each side (the scale factor for SR,
    docs/EVALUATE.md#border-crop); LPIPS sees the whole images. ``metrics`` may also be a single name.

    Shape: ``pred``, ``ref``: ``(N, 3, H, W)`` or ``(3, H, W)`` -> each value ``(N,)``.

    Examples:
        >>> a = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(0))
        >>> out = compute_metrics(a, (a + 0.05).clamp(0, 1), metrics=("psnr", "ssim"), crop_border=2)
        >>> sorted(out), out["ssim_y"].shape
        (['psnr_rgb', 'psnr_y', 'ssim_y'], torch.Size([2]))
    """
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [name for name in names if name not in KNOWN_METRICS]
    if unknown:
        raise ValueError(f"compute_metrics: unknown metric(s) {unknown}; known: {', '.join(KNOWN_METRICS)}")
    results: dict[str, torch.Tensor] = {}
    if "psnr" in names:
        results["psnr_y"] = psnr(pred, ref, crop_border=crop_border, y_channel=True)
        results["psnr_rgb"] = psnr(pred, ref, crop_border=crop_border, y_channel=False)
    if "ssim" in names:
        results["ssim_y"] = ssim(pred, ref, crop_border=crop_border, y_channel=True)
    if "lpips" in names:
        metric = lpips if lpips is not None else _shared_lpips()
        if metric is not None:
            results["lpips"] = metric(pred, ref)
    return results
