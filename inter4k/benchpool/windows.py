"""The baseline window poolings of the retention benchmark (kernel = stride = k, no padding).

Each takes x of shape (N, C, H, W) and returns (N, C, H // k, W // k); trailing rows / columns that
fill no window are dropped, as ``F.avg_pool2d`` does. Max and average pooling are torch's own
(``F.max_pool2d``, ``F.avg_pool2d``) and are not repeated here; adaPool / eM / eDSCW are
:mod:`adaunpool`'s.

* :func:`median_pool2d` -- the median of the window (the mean of the two middle values for an even
  window, numpy's convention; ``torch.median`` would return the lower one).
* :func:`stochastic_pool2d` -- Zeiler & Fergus (ICLR 2013) at **test time**: the probability-weighted
  average ``sum_i p_i x_i`` with ``p_i = x_i / sum_j x_j``. (In training it samples one x_i with
  probability p_i; a benchmark of retention wants the deterministic form.) Needs x >= 0.
* :func:`lp_pool2d` -- the power average ``(mean_i x_i^p)^(1/p)`` (between average, p = 1, and max,
  p -> inf). ``F.lp_pool2d`` sums instead of averaging, so its outputs are K^(1/p) too large for a
  reconstruction. Needs x >= 0.
* :func:`mixed_pool2d` -- 0.5 * avg + 0.5 * max (``"add"``), or avg and max kept side by side as 2C
  channels, then a fixed 1x1 convolution that averages channel c with channel C + c (``"concat"``).
  With these fixed weights the two are the same numbers; "concat" is there because it is how the
  mixed-pooling layers of networks are built (the 1x1 conv would be learned there).
* :func:`softpool2d` -- SoftPool as its authors' PyTorch code computes it (Stergiou et al., ICCV
  2021): ``avg_pool(x * exp(x)) / avg_pool(exp(x))``, i.e. ``sum_i softmax_i(x) x_i`` per channel,
  without subtracting the window maximum (so it overflows for x > 88 in float32; images are in
  [0, 1]). This is the same weighting as adaunpool's eM, computed another way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adaunpool.pooling import check_map

__all__ = ["median_pool2d", "stochastic_pool2d", "lp_pool2d", "mixed_pool2d", "softpool2d", "MIXED_MODES"]

MIXED_MODES = ("add", "concat")


def _check(x, k, op: str) -> None:
    check_map(x, op)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{op}: kernel_size must be a positive int, got {k!r}")
    if k > x.shape[2] or k > x.shape[3]:
        raise ValueError(f"{op}: kernel_size {k} is larger than the input's {tuple(x.shape[2:])}")


def _check_nonnegative(x: torch.Tensor, op: str) -> None:
    if bool((x < 0).any()):
        raise ValueError(f"{op}: x must be >= 0 (its weights are x itself), got a minimum of {x.min().item():g}")


def _windows(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H // k, W // k, k * k): the items of every window, row-major."""
    n, c = x.shape[:2]
    win = x.unfold(2, k, k).unfold(3, k, k)  # (N, C, oH, oW, k, k); incomplete windows dropped
    return win.reshape(n, c, win.shape[2], win.shape[3], k * k)


def median_pool2d(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """The median of every k x k window (even windows: the mean of the two middle values).

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k).

    Example:
        >>> x = torch.tensor([[[[1.0, 9.0], [4.0, 2.0]]]])
        >>> median_pool2d(x, 2)            # sorted 1, 2, 4, 9: (2 + 4) / 2
        tensor([[[[3.]]]])
    """
    _check(x, kernel_size, "median_pool2d")
    items = _windows(x, kernel_size).sort(dim=-1).values
    K = items.shape[-1]
    if K % 2:
        return items[..., K // 2]
    return 0.5 * (items[..., K // 2 - 1] + items[..., K // 2])


def stochastic_pool2d(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Stochastic pooling at test time: ``sum_i p_i x_i``, ``p_i = x_i / sum_j x_j`` (x >= 0).

    That is ``sum x^2 / sum x`` over the window; an all-zero window gives 0.

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k).

    Example:
        >>> x = torch.tensor([[[[1.0, 3.0], [0.0, 0.0]]]])
        >>> stochastic_pool2d(x, 2)        # (1 + 9) / (1 + 3)
        tensor([[[[2.5000]]]])
    """
    _check(x, kernel_size, "stochastic_pool2d")
    _check_nonnegative(x, "stochastic_pool2d")
    total = F.avg_pool2d(x, kernel_size)
    squares = F.avg_pool2d(x * x, kernel_size)
    # where the window sums to 0 every item is 0, and so is the result
    return torch.where(total > 0, squares / total.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(total))


def lp_pool2d(x: torch.Tensor, kernel_size: int, p: float) -> torch.Tensor:
    """Power-average pooling ``(mean_i x_i^p)^(1/p)`` over every k x k window (x >= 0, p >= 1).

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k).

    Example:
        >>> x = torch.tensor([[[[1.0, 1.0], [1.0, 5.0]]]])
        >>> lp_pool2d(x, 2, p=2)           # sqrt((1 + 1 + 1 + 25) / 4) = sqrt(7)
        tensor([[[[2.6458]]]])
    """
    _check(x, kernel_size, "lp_pool2d")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 1:
        raise ValueError(f"lp_pool2d: p must be a number >= 1, got {p!r}")
    _check_nonnegative(x, "lp_pool2d")
    return F.avg_pool2d(x.pow(p), kernel_size).pow(1.0 / p)


def mixed_pool2d(x: torch.Tensor, kernel_size: int, mode: str = "add") -> torch.Tensor:
    """Mixed average / max pooling with fixed, equal weights.

    ``"add"``: ``0.5 * avg_pool(x) + 0.5 * max_pool(x)``. ``"concat"``: ``cat([avg, max], dim=1)``
    (2C channels), then a fixed 1x1 convolution whose output channel c is ``0.5 * avg_c + 0.5 * max_c``.

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k).

    Example:
        >>> x = torch.tensor([[[[1.0, 3.0], [0.0, 8.0]]]])
        >>> mixed_pool2d(x, 2), mixed_pool2d(x, 2, "concat")   # (3 + 8) / 2
        (tensor([[[[5.5000]]]]), tensor([[[[5.5000]]]]))
    """
    _check(x, kernel_size, "mixed_pool2d")
    if mode not in MIXED_MODES:
        raise ValueError(f"mixed_pool2d: mode must be one of {', '.join(MIXED_MODES)}, got {mode!r}")
    avg, mx = F.avg_pool2d(x, kernel_size), F.max_pool2d(x, kernel_size)
    if mode == "add":
        return 0.5 * avg + 0.5 * mx
    c = x.shape[1]
    both = torch.cat([avg, mx], dim=1)
    weight = torch.zeros(c, 2 * c, 1, 1, dtype=x.dtype, device=x.device)
    idx = torch.arange(c, device=x.device)
    weight[idx, idx] = 0.5
    weight[idx, idx + c] = 0.5
    return F.conv2d(both, weight)


def softpool2d(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """SoftPool, the authors' PyTorch formula: ``avg_pool(x * exp(x)) / avg_pool(exp(x))`` per channel.

    Shape:
        (N, C, H, W) -> (N, C, H // k, W // k).

    Example:
        >>> x = torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]])
        >>> e = torch.e
        >>> bool(torch.isclose(softpool2d(x, 2), torch.tensor(e / (3 + e))))
        True
    """
    _check(x, kernel_size, "softpool2d")
    e_x = torch.exp(x)
    return F.avg_pool2d(x * e_x, kernel_size) / F.avg_pool2d(e_x, kernel_size)
