"""Image quality metrics (SPEC §5)."""

from .psnr import psnr

__all__ = ["psnr"]
