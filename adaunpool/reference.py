"""Pure-PyTorch AdaPool / AdaUnPool: the test oracle and the fallback backend.

Written for clarity, not speed: windows are materialised with ``Tensor.unfold`` and autograd
differentiates the formulas of docs/OPS.md directly, so the gradients are exact by construction. Run in
float64 it is the reference every compiled kernel is checked against. All tensors here are in the
canonical 5-D layout (N, C, D, H, W); see ``_geometry``.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def windows(x: torch.Tensor, kernel: list[int], stride: list[int]) -> torch.Tensor:
    """(N, C, D, H, W) -> (N, C, oD, oH, oW, K), window items in (kd, kh, kw) row-major order."""
    w = x.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1]).unfold(4, kernel[2], stride[2])
    return w.flatten(-3)


def em_weights(X: torch.Tensor) -> torch.Tensor:
    """SoftPool weights: a max-subtracted softmax over each window (never overflows)."""
    return torch.softmax(X, dim=-1)


def dsc_weights(X: torch.Tensor, dsc: str) -> torch.Tensor:
    """exp(Dice-Sørensen coefficient) weights, normalised over each window."""
    m = X.mean(dim=-1, keepdim=True)
    if dsc == "element":
        d = 2 * (X * m).abs() / (X * X + m * m + EPS)
    elif dsc == "channel":
        s = (X * m).sum(dim=1, keepdim=True)
        q = (X * X).sum(dim=1, keepdim=True) + (m * m).sum(dim=1, keepdim=True)
        d = (2 * s.abs() / (q + EPS)).expand_as(X)
    else:
        raise ValueError(f"dsc must be 'element' or 'channel', got {dsc!r}")
    # d lies in [0, 1], so exp(d) needs no max subtraction; softmax is used for symmetry with eM.
    return torch.softmax(d, dim=-1)


def adapool(x: torch.Tensor, kernel: list[int], stride: list[int], beta: torch.Tensor, dsc: str,
            return_weights: bool = False):
    """adaPool on 5-D x; beta broadcasts against y (N, C, oD, oH, oW). Computes in >= float32."""
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    X = windows(x.to(acc), kernel, stride)
    b = beta.to(acc).unsqueeze(-1)
    W = b * dsc_weights(X, dsc) + (1 - b) * em_weights(X)
    y = (W * X).sum(dim=-1).to(x.dtype)
    if return_weights:
        return y, W.to(x.dtype)
    return y


def _scatter_index(size: list[int], kernel: list[int], stride: list[int], device) -> torch.Tensor:
    """Flat input position of every (window, item): (oD, oH, oW, K) int64."""
    idx = torch.arange(size[0] * size[1] * size[2], device=device).view(1, 1, *size)
    return windows(idx, kernel, stride)[0, 0]


def adaunpool(y: torch.Tensor, w: torch.Tensor, kernel: list[int], stride: list[int], size: list[int],
              mode: str) -> torch.Tensor:
    """adaUnPool: spread y over its windows with weights w (channel dim C or 1) into ``size``."""
    acc = torch.float64 if torch.float64 in (y.dtype, w.dtype) else torch.float32
    n, c = y.shape[:2]
    K = w.shape[-1]
    idx = _scatter_index(size, kernel, stride, y.device).reshape(-1)
    contrib = (w.to(acc) * y.to(acc).unsqueeze(-1)).reshape(n, c, idx.numel())
    numel = size[0] * size[1] * size[2]
    u = torch.zeros(n, c, numel, dtype=acc, device=y.device).index_add(2, idx, contrib)
    if mode == "mean":
        count = torch.zeros(numel, dtype=acc, device=y.device).index_add(0, idx, torch.ones_like(idx, dtype=acc))
        scale = torch.where(count > 0, K / count.clamp(min=1), torch.zeros_like(count))
        u = u * scale
    elif mode != "sum":
        raise ValueError(f"mode must be 'mean' or 'sum', got {mode!r}")
    return u.view(n, c, *size).to(y.dtype)
