"""Functional AdaPool / AdaUnPool (Stergiou & Poppe, IEEE TIP 2022).

Each function checks its arguments, maps the input to the canonical 5-D layout and runs either the
compiled kernels (``torch.ops.adaunpool``) or the pure-PyTorch reference; ``backend_info()`` says
which. The maths is in docs/OPS.md; the docstrings of :func:`adapool2d` and :func:`adaunpool2d` hold it.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from . import _geometry as g
from . import reference
from ._loader import backend

Beta = Union[float, torch.Tensor]


def _adapool(x, kernel_size, stride, beta, dsc, return_weights, dims, op):
    win = g.pool_windows(x, kernel_size, stride, dims, op)
    dsc_id = g.check_mode(dsc, g.DSC_MODES, "dsc", op)
    acc = g.acc_dtype(x.dtype)
    y_shape = tuple(x.shape[:2]) + win.spatial_out()
    beta5 = g.broadcast_beta(beta, y_shape, acc, x.device, dims, op)
    x5 = g.to5d(x, dims)
    if backend() == "compiled":
        y5, w5 = torch.ops.adaunpool.adapool_forward(x5, win.kernel, win.stride, beta5, dsc_id, return_weights)
    else:
        out = reference.adapool(x5, win.kernel, win.stride, beta5, dsc, return_weights)
        y5, w5 = out if return_weights else (out, None)
    y = g.from5d(y5, dims)
    if return_weights:
        w = w5
        for _ in range(3 - dims):
            w = w.squeeze(2)
        return y, w
    return y


def _adaunpool(y, w, kernel_size, stride, mode, output_size, dims, op):
    win = g.unpool_windows(y, w, kernel_size, stride, output_size, dims, op)
    mode_id = g.check_mode(mode, g.UNPOOL_MODES, "mode", op)
    if w.device != y.device:
        raise ValueError(f"{op}: w is on {w.device} but y is on {y.device}")
    w = w.to(y.dtype)
    y5 = g.to5d(y, dims)
    w5 = w
    for _ in range(3 - dims):
        w5 = w5.unsqueeze(2)
    if backend() == "compiled":
        u5 = torch.ops.adaunpool.adaunpool_forward(y5, w5, win.kernel, win.stride, mode_id, win.in_size)
    else:
        u5 = reference.adaunpool(y5, w5, win.kernel, win.stride, win.in_size, mode)
    return g.from5d(u5, dims)


# --------------------------------------------------------------------------------------------- 2-d

def adapool2d(x: torch.Tensor, kernel_size, stride=None, beta: Beta = 0.5, dsc: str = "channel",
              return_weights: bool = False):
    r"""Adaptive exponential pooling (adaPool) over 2-d windows.

    Each window R holds K = kH * kW items. Two weightings of the items are fused by ``beta``:

    * eM (exponential maximum, SoftPool): ``wM_i = softmax_i(x_i)`` per channel;
    * eDSCW (exponent of the Dice-Sørensen coefficient of each item with the window mean m):
      ``wD_i = softmax_i(d_i)``, ``d_i = 2|x_i . m| / (|x_i|^2 + |m|^2 + 1e-8)``, where the dot
      product runs over channels (``dsc="channel"``, one d_i for all channels) or is a per-channel
      product (``dsc="element"``).

    ``W_i = beta * wD_i + (1 - beta) * wM_i`` and ``y = sum_i W_i x_i``. Windows start at 0 and step
    by ``stride``; trailing items that fill no window are dropped. The maths runs in float32 (float64
    for float64 input) whatever the storage dtype; exp never overflows and an all-zero window gives
    its average. Gradients to ``x`` and ``beta`` are exact.

    Args:
        x: input of shape (N, C, H, W), a floating dtype.
        kernel_size: the window size, an int or (kH, kW).
        stride: the step between windows; defaults to ``kernel_size``.
        beta: a float in [0, 1] or a tensor that broadcasts against the output (N, C, oH, oW), e.g.
            shape (1, C, 1, 1) for one value per channel. 1 gives eDSCW, 0 gives eM.
        dsc: ``"channel"`` (default) or ``"element"``.
        return_weights: also return W, of shape (N, C, oH, oW, K), summing to 1 over its last dim,
            to drive :func:`adaunpool2d`.

    Returns:
        y of shape (N, C, oH, oW) with ``o = (size - k) // s + 1``, and W if asked for.

    Example:
        >>> import torch, adaunpool as au
        >>> x = torch.randn(2, 3, 8, 8)
        >>> au.adapool2d(x, 2).shape
        torch.Size([2, 3, 4, 4])
        >>> y, w = au.adapool2d(x, 3, stride=2, beta=0.3, return_weights=True)
        >>> w.shape, bool(torch.allclose(w.sum(-1), torch.ones(2, 3, 3, 3)))
        (torch.Size([2, 3, 3, 3, 9]), True)
    """
    return _adapool(x, kernel_size, stride, beta, dsc, return_weights, 2, "adapool2d")


def edscwpool2d(x: torch.Tensor, kernel_size, stride=None, dsc: str = "channel") -> torch.Tensor:
    """eDSCW pooling: :func:`adapool2d` with ``beta = 1``. See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 1.0, dsc, False, 2, "edscwpool2d")


def empool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """eM (SoftPool) pooling: :func:`adapool2d` with ``beta = 0``. See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 0.0, "element", False, 2, "empool2d")


def adaunpool2d(y: torch.Tensor, w: torch.Tensor, kernel_size, stride=None, mode: str = "mean",
                output_size: Optional[Sequence[int]] = None) -> torch.Tensor:
    r"""Adaptive unpooling (adaUnPool): spread each pooled value back over its window.

    With window weights W (from :func:`adapool2d` with ``return_weights=True``, of the same or of a
    guiding tensor), input position i receives

    * ``mode="mean"`` (default): ``u_i = sum_{p covering i} K * W_{p,i} * y_p / count(i)``, so that with
      stride == kernel ``avg_pool2d(u, k) == y`` exactly;
    * ``mode="sum"``: ``u_i = sum_{p covering i} W_{p,i} * y_p`` (the original release's variant).

    Positions that no window covers are 0. Gradients flow to ``y`` and to ``w``.

    Args:
        y: pooled values (N, C, oH, oW).
        w: window weights (N, C or 1, oH, oW, K), K = kH * kW; a channel dim of 1 is shared.
        kernel_size, stride: the windows y was pooled with (stride defaults to kernel_size).
        mode: ``"mean"`` or ``"sum"``.
        output_size: (H, W) of the result; defaults to ``(o - 1) * s + k``. Must pool back to y's size.

    Returns:
        u of shape (N, C, H, W), y's dtype.

    Example:
        >>> import torch, torch.nn.functional as F, adaunpool as au
        >>> x = torch.rand(1, 3, 8, 8)
        >>> y, w = au.adapool2d(x, 2, return_weights=True)
        >>> u = au.adaunpool2d(y, w, 2)
        >>> bool(torch.allclose(F.avg_pool2d(u, 2), y, atol=1e-6))
        True
    """
    return _adaunpool(y, w, kernel_size, stride, mode, output_size, 2, "adaunpool2d")


# ------------------------------------------------------------------------------------- 1-d and 3-d

def adapool1d(x, kernel_size, stride=None, beta: Beta = 0.5, dsc: str = "channel", return_weights: bool = False):
    """adaPool over 1-d windows: x (N, C, L) -> y (N, C, oL) [, W (N, C, oL, K)]. See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, beta, dsc, return_weights, 1, "adapool1d")


def adapool3d(x, kernel_size, stride=None, beta: Beta = 0.5, dsc: str = "channel", return_weights: bool = False):
    """adaPool over 3-d windows: x (N, C, D, H, W) -> y (N, C, oD, oH, oW) [, W (..., K)]. See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, beta, dsc, return_weights, 3, "adapool3d")


def edscwpool1d(x, kernel_size, stride=None, dsc: str = "channel"):
    """eDSCW pooling over 1-d windows (beta = 1). See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 1.0, dsc, False, 1, "edscwpool1d")


def edscwpool3d(x, kernel_size, stride=None, dsc: str = "channel"):
    """eDSCW pooling over 3-d windows (beta = 1). See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 1.0, dsc, False, 3, "edscwpool3d")


def empool1d(x, kernel_size, stride=None):
    """eM (SoftPool) pooling over 1-d windows (beta = 0). See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 0.0, "element", False, 1, "empool1d")


def empool3d(x, kernel_size, stride=None):
    """eM (SoftPool) pooling over 3-d windows (beta = 0). See :func:`adapool2d`."""
    return _adapool(x, kernel_size, stride, 0.0, "element", False, 3, "empool3d")


def adaunpool1d(y, w, kernel_size, stride=None, mode: str = "mean", output_size=None):
    """adaUnPool over 1-d windows: y (N, C, oL), w (N, C|1, oL, K) -> (N, C, L). See :func:`adaunpool2d`."""
    return _adaunpool(y, w, kernel_size, stride, mode, output_size, 1, "adaunpool1d")


def adaunpool3d(y, w, kernel_size, stride=None, mode: str = "mean", output_size=None):
    """adaUnPool over 3-d windows: y (N, C, oD, oH, oW), w (..., K) -> (N, C, D, H, W). See :func:`adaunpool2d`."""
    return _adaunpool(y, w, kernel_size, stride, mode, output_size, 3, "adaunpool3d")
