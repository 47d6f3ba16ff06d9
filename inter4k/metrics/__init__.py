"""Image quality metrics (docs/EVALUATE.md#metrics) and the temporal consistency of videos
(docs/EVALUATE.md#temporal-consistency)."""

from .compute import compute_metrics
from .perceptual import LPIPS, LPIPSUnavailable, lpips_status
from .psnr import psnr
from .ssim import ssim
from .temporal import error_flicker, warping_error

__all__ = ["LPIPS", "LPIPSUnavailable", "compute_metrics", "error_flicker", "lpips_status", "psnr", "ssim",
           "warping_error"]
