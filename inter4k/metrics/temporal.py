"""Temporal consistency of a video result: how much its error changes from frame to frame.

A per-frame metric (PSNR, SSIM) cannot see flicker: an output whose error jumps between +d and -d
every frame scores as well as one whose error stays at +d. Both measures here are on Y (BT.601,
MATLAB's rgb2ycbcr, as PSNR-Y) in 8-bit levels (0..255), of clips (T, 3, H, W) in [0, 1] clamped as
for PSNR, and give one value per frame t = 1 .. T-1 (frame 0 has no predecessor):

**Error flicker** (``error_flicker``): with ``e_t = Y(pred_t) - Y(ref_t)``,

    flicker_t = mean over pixels of |e_t - e_{t-1}|

A constant error (a bias, or a blur that stays put) has flicker 0; an error alternating +d / -d has
flicker 2d. It needs no motion estimate, and it counts only what the result adds: where the scene
moves, ``e`` moves with it and this measures that too (a sharp, static error pattern on moving content
also counts), so compare methods on the same clips.

**Warping error** (``warping_error``, after Lai et al., *Learning Blind Video Temporal Consistency*,
ECCV 2018, with absolute instead of squared differences): the previous output frame is carried to
frame t along the *reference's* motion and compared with the output,

    warp_t = sum_x M_t(x) |Y(pred_t)(x) - W(Y(pred_{t-1}), F_t)(x)| / sum_x M_t(x)

``F_t`` is the backward flow of the reference from t to t - 1 (for each pixel of frame t, where it is in
frame t - 1), given (``flows``, e.g. a synthetic clip's true flow) or estimated from the reference's Y
with OpenCV's Farneback method (:func:`reference_flow`); W is a bilinear backward warp (OpenCV's
``remap``, the sampling convention of :func:`inter4k.models.vfi.backward_warp`, border pixels outside). ``M_t`` keeps the pixels where the motion explains the reference itself: the warped
reference is within ``tolerance`` levels of the reference and the flow stays inside the frame.
Occlusions, disocclusions, lighting changes and flow failures are so left out. On the kept pixels the
reference's own warping error is below ``tolerance``; a result as stable as the reference scores
about as low, flicker raises it.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ._inputs import prepare

__all__ = ["error_flicker", "warping_error", "reference_flow", "WARP_TOLERANCE", "TEMPORAL_KEYS"]

#: Levels (0..255) within which the warped reference must match the reference for a pixel to count.
WARP_TOLERANCE = 8.0
#: The per-frame keys of the temporal values in evaluation results (undefined at a clip's first frame).
TEMPORAL_KEYS = ("flicker_y", "warp_y")


def _y_levels(pred: torch.Tensor, ref: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Y in 8-bit levels (T, 1, H, W) float64 of two equal clips of at least two frames."""
    if pred.dim() != 4 or pred.shape[0] < 2:
        raise ValueError(f"{metric}: expected clips (T, 3, H, W) with T >= 2, got {tuple(pred.shape)}")
    return prepare(pred, ref, metric, 0, y_channel=True, peak=255.0)


def _crop(x: torch.Tensor, c: int, metric: str) -> torch.Tensor:
    if isinstance(c, bool) or not isinstance(c, int) or c < 0:
        raise ValueError(f"{metric}: crop_border must be an int >= 0, got {c!r}")
    if c and (2 * c >= x.shape[-1] or 2 * c >= x.shape[-2]):
        raise ValueError(f"{metric}: crop_border {c} leaves nothing of a {tuple(x.shape[-2:])} frame")
    return x[..., c:x.shape[-2] - c, c:x.shape[-1] - c]


def error_flicker(pred: torch.Tensor, ref: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    """The error flicker of frames 1 .. T-1 (see the module docstring): (T - 1,) float64, 8-bit levels.

    Example:
        >>> ref = torch.full((3, 3, 8, 8), 0.5)
        >>> d = torch.tensor([1.0, -1.0, 1.0]).view(3, 1, 1, 1) * 2 / 255    # +-2 levels of RGB = of Y x 219/255
        >>> [round(v, 3) for v in error_flicker(ref + d, ref).tolist()]
        [3.435, 3.435]
    """
    p, r = _y_levels(pred, ref, "error_flicker")
    e = _crop(p - r, crop_border, "error_flicker")
    return (e[1:] - e[:-1]).abs().flatten(1).mean(1)


def reference_flow(ref: torch.Tensor) -> torch.Tensor:
    """The backward flows of a clip from each frame t to t - 1, estimated on Y with OpenCV's Farneback
    method (3 levels, 15-pixel window): (T - 1, 2, H, W) float32, x then y in pixels, as
    :func:`inter4k.models.vfi.backward_warp` takes them (``frame_{t-1}`` warped by it approximates frame t).

    Example:
        >>> reference_flow(torch.full((2, 3, 16, 16), 0.5)).abs().max().item()    # nothing moves
        0.0
    """
    import cv2

    if ref.dim() != 4 or ref.shape[0] < 2 or ref.shape[1] != 3:
        raise ValueError(f"reference_flow: expected a clip (T, 3, H, W) with T >= 2, got {tuple(ref.shape)}")
    y = prepare(ref, ref, "reference_flow", 0, y_channel=True, peak=255.0)[0][:, 0]
    frames = [np.ascontiguousarray(np.clip(np.round(f), 0, 255).astype(np.uint8)) for f in y.cpu().numpy()]
    flows = [cv2.calcOpticalFlowFarneback(frames[t], frames[t - 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
             for t in range(1, len(frames))]
    return torch.from_numpy(np.stack(flows).transpose(0, 3, 1, 2).copy()).float()


def warping_error(pred: torch.Tensor, ref: torch.Tensor, flows: Optional[torch.Tensor] = None,
                  crop_border: int = 0, tolerance: float = WARP_TOLERANCE) -> torch.Tensor:
    """The warping error of frames 1 .. T-1 (see the module docstring): (T - 1,) float64, 8-bit levels;
    NaN for a frame where no pixel is kept.

    Args:
        pred, ref: clips (T, 3, H, W) in [0, 1].
        flows: (T - 1, 2, H, W) backward flows of the reference, t -> t - 1; None: :func:`reference_flow`.
        crop_border: pixels left out at each side.
        tolerance: levels within which the warped reference must match the reference (the mask).

    Example:
        >>> ref = torch.full((3, 3, 8, 8), 0.5)
        >>> d = torch.tensor([1.0, -1.0, 1.0]).view(3, 1, 1, 1) * 2 / 255
        >>> [round(v, 3) for v in warping_error(ref + d, ref, torch.zeros(2, 2, 8, 8)).tolist()]
        [3.435, 3.435]
    """
    p, r = _y_levels(pred, ref, "warping_error")
    t, _, h, w = p.shape
    if flows is None:
        flows = reference_flow(ref)
    if tuple(flows.shape) != (t - 1, 2, h, w):
        raise ValueError(f"warping_error: flows must be (T - 1, 2, H, W) = {(t - 1, 2, h, w)}, got "
                         f"{tuple(flows.shape)}")
    fl = flows.detach().cpu().numpy().astype(np.float32)
    pn, rn = p[:, 0].cpu().numpy().astype(np.float32), r[:, 0].cpu().numpy().astype(np.float32)
    values = []
    for k in range(t - 1):
        map_x, map_y = _xs(h, w) + fl[k, 0], _ys(h, w) + fl[k, 1]
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        keep = inside & (np.abs(_warp(rn[k], map_x, map_y) - rn[k + 1]) <= float(tolerance))
        diff = np.abs(pn[k + 1] - _warp(pn[k], map_x, map_y))
        keep, diff = _crop(torch.from_numpy(keep), crop_border, "warping_error"), _crop(
            torch.from_numpy(diff), crop_border, "warping_error")
        kept = int(keep.sum())
        values.append(float(diff[keep].double().sum()) / kept if kept else float("nan"))
    return torch.tensor(values, dtype=torch.float64)


def _xs(h: int, w: int) -> np.ndarray:
    return np.broadcast_to(np.arange(w, dtype=np.float32)[None, :], (h, w))


def _ys(h: int, w: int) -> np.ndarray:
    return np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))


def _warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """``image(map_y, map_x)``, bilinear, the border pixel outside (OpenCV's remap, as the flow is OpenCV's)."""
    import cv2

    return cv2.remap(image, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
