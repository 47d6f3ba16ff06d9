"""SSIM with the conventions of docs/EVALUATE.md#ssim, as MATLAB's ``ssim`` and BasicSR's ``calculate_ssim`` compute it.

RGB in [0, 1] is taken to the 0..255 scale (on Y: ``255 * rgb_to_y``, MATLAB's rgb2ycbcr luma), then the
local statistics come from an 11x11 Gaussian window (sigma 1.5) applied in 'valid' mode: no padding, so
the 5-pixel rim that a same-size filter would fill from padding is not part of the SSIM map. The score of
an image is the mean of its SSIM map. Batched: one value per image.
"""

from __future__ import annotations

import torch

from ._inputs import prepare

WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
# Stabilising constants of Wang et al. 2004 for a data range of 255 (K1 = 0.01, K2 = 0.03).
C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def gaussian_window_1d(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA, dtype=torch.float64) -> torch.Tensor:
    """The normalised 1-D Gaussian taps of OpenCV's ``getGaussianKernel(size, sigma)``.

    The 2-D window is their outer product; filtering with it equals filtering rows then columns.

    Shape: ``(size,)``.

    Examples:
        >>> w = gaussian_window_1d()
        >>> w.shape, round(float(w.sum()), 12)
        (torch.Size([11]), 1.0)
    """
    offsets = torch.arange(size, dtype=dtype) - (size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2 * sigma**2))
    return taps / taps.sum()


def _valid_gaussian_filter(maps: torch.Tensor) -> torch.Tensor:
    """Filter every (H, W) plane of ``(..., H, W)`` with the 11x11 window, 'valid' mode -> (..., H-10, W-10).

    Separable (rows, then columns) and written as a weighted sum of shifted views: the same sums as
    the 2-D window up to rounding, and on the CPU about 4x faster than a float64 ``conv2d``. Each output
    pixel is accumulated in the same order wherever it sits, so equal planes give bitwise-equal results.
    """
    taps = gaussian_window_1d(dtype=maps.dtype).tolist()
    out_h, out_w = maps.shape[-2] - WINDOW_SIZE + 1, maps.shape[-1] - WINDOW_SIZE + 1
    rows = maps[..., 0:out_h, :] * taps[0]
    for k in range(1, WINDOW_SIZE):
        rows.add_(maps[..., k : k + out_h, :], alpha=taps[k])
    out = rows[..., 0:out_w] * taps[0]
    for k in range(1, WINDOW_SIZE):
        out.add_(rows[..., k : k + out_w], alpha=taps[k])
    return out


def ssim(pred: torch.Tensor, ref: torch.Tensor, crop_border: int = 0, y_channel: bool = True) -> torch.Tensor:
    """SSIM of (N, 3, H, W) (or (3, H, W)) RGB images in [0, 1], one float64 value per image.

    ``y_channel=True``: SSIM of the luma planes (MATLAB's rgb2ycbcr Y on 0..255), the figure SR papers
    report. ``y_channel=False``: SSIM of the R, G and B planes (each on 0..255) separately, then their
    mean -- BasicSR's RGB convention, not a joint colour SSIM. ``crop_border`` pixels are removed from
    each side first. Both inputs are clamped to [0, 1] (as an image file would be); the maths runs in
    float64, and identical images give exactly 1.0.

    The statistics use an 11x11 Gaussian window (sigma 1.5) without padding, with
    C1 = (0.01 * 255)^2 and C2 = (0.03 * 255)^2: the SSIM map covers the pixels at least 5 from the
    (cropped) border, and the image after the crop must be at least 11x11.

    Shape: ``pred``, ``ref``: ``(N, 3, H, W)`` or ``(3, H, W)`` -> ``(N,)`` (``(1,)`` for a single image).

    Examples:
        >>> a = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> ssim(a, a).tolist()
        [1.0, 1.0]
        >>> bool((ssim(a, (a + 0.1).clamp(0, 1)) < 1).all())
        True
    """
    p, r = prepare(pred, ref, "ssim", crop_border, y_channel, peak=255.0)
    height, width = p.shape[-2:]
    if height < WINDOW_SIZE or width < WINDOW_SIZE:
        raise ValueError(
            f"ssim: images of {(height, width)} (after crop_border={int(crop_border)}) are smaller than the "
            f"{WINDOW_SIZE}x{WINDOW_SIZE} window"
        )
    planes = p.shape[1]
    # One filtering pass for the five local moments of every plane.
    moments = _valid_gaussian_filter(torch.cat([p, r, p * p, r * r, p * r], dim=1))
    mu_p, mu_r, mean_pp, mean_rr, mean_pr = moments.split(planes, dim=1)
    mu_pp, mu_rr, mu_pr = mu_p * mu_p, mu_r * mu_r, mu_p * mu_r
    var_p, var_r, cov = mean_pp - mu_pp, mean_rr - mu_rr, mean_pr - mu_pr
    ssim_map = ((2 * mu_pr + C1) * (2 * cov + C2)) / ((mu_pp + mu_rr + C1) * (var_p + var_r + C2))
    # Mean over each plane's map, then over the planes (a no-op on Y; BasicSR's channel mean on RGB).
    return ssim_map.flatten(2).mean(2).mean(1)
