"""Image quality metrics (docs/EVALUATE.md#metrics)."""

from .compute import compute_metrics
from .perceptual import LPIPS, LPIPSUnavailable, lpips_status
from .psnr import psnr
from .ssim import ssim

__all__ = ["LPIPS", "LPIPSUnavailable", "compute_metrics", "lpips_status", "psnr", "ssim"]
