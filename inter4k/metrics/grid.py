"""The grid artifact of an upscaled image: the part of its error that repeats with the scale's period.

An SR model that predicts each LR pixel's ``s x s`` block separately can leave a pattern with period
``s`` (a grid of dots along blurred edges is the typical sight). Such a pattern is invisible to a
PSNR average but obvious to a viewer. This metric isolates it.

For the Y error ``e = Y(pred) - Y(ref)`` (BT.601, 0..255, as PSNR-Y) and each ``tile x tile`` tile of
it (tiles whose side is a multiple of ``s``, aligned with the HR grid):

    P[a, b] = mean of e over the tile's pixels at phase (a, b), i.e. e[s*i + a, s*j + b]
    grid    = RMS of (P - mean(P))                                   (in 8-bit levels)

``P`` is the ``s x s`` pattern that the tile's error repeats, its mean removed (a flat offset is no
grid). An error without period ``s`` averages out in ``P`` (its RMS shrinks as ``1/sqrt(tile^2/s^2)``);
a periodic one survives whole. Tiles keep the measure local, because grid patterns appear where the
content is smooth or blurred and not across a whole image. ``grid_error`` returns the largest tile
value per image (the worst place is what a viewer notices) and the mean over tiles.
"""

from __future__ import annotations

import torch

from ._inputs import prepare

__all__ = ["grid_error"]


def grid_error(pred: torch.Tensor, ref: torch.Tensor, period: int, tile: int = 64) -> dict[str, torch.Tensor]:
    """The s-periodic part of the Y error, in 8-bit levels: ``{"max": (N,), "mean": (N,)}``.

    Args:
        pred, ref: (N, 3, H, W) or (3, H, W) RGB in [0, 1] (clamped, as for PSNR).
        period: the pattern's period s (the SR scale), >= 2.
        tile: the side of the tiles (rounded down to a multiple of ``period``); H and W must be at
            least one tile; pixels past the last whole tile are ignored.

    Example:
        >>> ref = torch.full((1, 3, 64, 64), 0.5)
        >>> dots = ref.clone(); dots[..., ::4, ::4] += 0.1          # a dot every 4 pixels
        >>> round(float(grid_error(dots, ref, 4)["max"][0]), 2)
        5.3
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise ValueError(f"grid_error: period must be an int >= 2, got {period!r}")
    t = (int(tile) // period) * period
    if t < period:
        raise ValueError(f"grid_error: tile {tile} is smaller than the period {period}")
    p, r = prepare(pred, ref, "grid_error", 0, y_channel=True, peak=255.0)
    e = p - r                                            # (N, 1, H, W)
    n, _, h, w = e.shape
    th, tw = h // t, w // t
    if th == 0 or tw == 0:
        raise ValueError(f"grid_error: a {h}x{w} image holds no {t}x{t} tile")
    e = e[:, 0, : th * t, : tw * t]
    # (N, th, t/s, s, tw, t/s, s): tile row, block row, phase row, tile col, block col, phase col
    s = period
    blocks = e.reshape(n, th, t // s, s, tw, t // s, s)
    pattern = blocks.mean(dim=(2, 5))                    # (N, th, s, tw, s)
    pattern = pattern - pattern.mean(dim=(2, 4), keepdim=True)
    rms = pattern.pow(2).mean(dim=(2, 4)).sqrt()         # (N, th, tw)
    flat = rms.reshape(n, -1)
    return {"max": flat.amax(1), "mean": flat.mean(1)}
