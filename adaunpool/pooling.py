"""Global and pyramid pooling layers that turn a feature map into one vector per sample.

Unlike the window ops of :mod:`adaunpool.functional`, these do not keep a spatial layout and have
no unpooling counterpart: they are the "head" poolings of retrieval and fine-grained recognition.

* :class:`GlobalAvgPool2d`, :class:`GlobalMaxPool2d` -- one value per channel.
* :class:`SpatialPyramidPool2d` -- He et al., "Spatial Pyramid Pooling in Deep Convolutional
  Networks" (ECCV 2014): max / average / adaPool over an l x l grid of bins for every level l.
* :class:`NetVLAD` -- Arandjelovic et al., "NetVLAD: CNN architecture for weakly supervised place
  recognition" (CVPR 2016): soft-assigned residuals to K learned centroids.
* :class:`BilinearPool2d` -- Lin et al., "Bilinear CNN Models for Fine-grained Visual Recognition"
  (ICCV 2015): averaged outer products, signed square root, L2 normalisation.

    >>> import torch
    >>> from adaunpool.pooling import SpatialPyramidPool2d
    >>> SpatialPyramidPool2d(levels=(1, 2, 4))(torch.rand(2, 8, 13, 17)).shape
    torch.Size([2, 168])
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .functional import adapool2d

__all__ = ["GlobalAvgPool2d", "GlobalMaxPool2d", "SpatialPyramidPool2d", "NetVLAD", "BilinearPool2d"]

SPP_MODES = ("max", "avg", "ada")


def check_map(x, op: str, channels: Optional[int] = None) -> None:
    """x must be a floating (N, C, H, W) tensor (with C == channels when given)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{op}: x must have shape (N, C, H, W), got {x.dim()} dims {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{op}: x must be a floating-point tensor, got {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{op}: x has {x.shape[1]} channels, expected {channels}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{op}: x has an empty spatial size {tuple(x.shape[2:])}")


# ------------------------------------------------------------------------------------------ global

class _GlobalPool2d(nn.Module):
    """One value per channel over all positions; a subclass's :meth:`_reduce` maps (N, C, H, W) to (N, C)."""

    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = bool(keepdim)

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_map(x, type(self).__name__)
        y = self._reduce(x)
        return y[..., None, None] if self.keepdim else y

    def extra_repr(self) -> str:
        return f"keepdim={self.keepdim}"


class GlobalAvgPool2d(_GlobalPool2d):
    """The mean of every channel over all positions.

    Args:
        keepdim: keep the spatial dims as size 1 (output (N, C, 1, 1)) instead of dropping them.

    Shape:
        - Input: (N, C, H, W), floating point.
        - Output: (N, C), or (N, C, 1, 1) with ``keepdim=True``.

    Example:
        >>> import torch
        >>> x = torch.arange(8.0).view(1, 2, 2, 2)
        >>> GlobalAvgPool2d()(x)
        tensor([[1.5000, 5.5000]])
        >>> GlobalAvgPool2d(keepdim=True)(x).shape
        torch.Size([1, 2, 1, 1])
    """

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class GlobalMaxPool2d(_GlobalPool2d):
    """The maximum of every channel over all positions (tied maxima share the gradient evenly).

    Args:
        keepdim: as for :class:`GlobalAvgPool2d`, (N, C, 1, 1) instead of (N, C).

    Shape:
        - Input: (N, C, H, W), floating point.
        - Output: (N, C), or (N, C, 1, 1) with ``keepdim=True``.

    Example:
        >>> import torch
        >>> GlobalMaxPool2d()(torch.tensor([[[[0.0, 3.0], [1.0, 2.0]], [[7.0, 4.0], [5.0, 6.0]]]]))
        tensor([[3., 7.]])
    """

    def _reduce(self, x: torch.Tensor) -> torch.Tensor:
        # amax over a flat view: one reduction, gradient shared evenly among tied maxima
        return x.flatten(2).amax(dim=2)


# ----------------------------------------------------------------------------------------- pyramid

def _bin_edges(size: int, bins: int) -> list[tuple[int, int]]:
    """[start, end) of each of ``bins`` bins over ``size`` positions, PyTorch's adaptive-pooling rule:
    start = floor(i * size / bins), end = ceil((i + 1) * size / bins). Bins cover everything and
    overlap by at most one position; with size < bins some positions serve several bins."""
    return [((i * size) // bins, -((-(i + 1) * size) // bins)) for i in range(bins)]


class SpatialPyramidPool2d(nn.Module):
    """Spatial pyramid pooling: pool an l x l grid of bins for every level l, concatenate.

    The bins of a level split H and W as PyTorch's adaptive pooling does (bin i of l covers
    ``[floor(i*H/l), ceil((i+1)*H/l))``), so any input size gives the same output length.
    ``mode="max"`` / ``"avg"`` are ``F.adaptive_max_pool2d`` / ``F.adaptive_avg_pool2d``;
    ``mode="ada"`` runs :func:`adaunpool.adapool2d` with one window per bin, with a fixed ``beta``
    (not learned) and the given ``dsc``.

    Output layout: the levels in the given order; within a level, channel-major then the bins in
    row-major order (``y[:, :C*l*l]`` of a level reshaped to (N, C, l, l) is its pooled grid).

    Args:
        levels: the grid sizes, positive ints (default (1, 2, 4): 21 bins).
        mode: ``"max"`` (He et al.), ``"avg"`` or ``"ada"``.
        beta: adaPool's beta in [0, 1] for ``mode="ada"`` (1: eDSCW, 0: eM / SoftPool).
        dsc: adaPool's ``"channel"`` or ``"element"`` Dice-Sorensen mode for ``mode="ada"``.

    Shape:
        - Input: (N, C, H, W), floating point, any H, W >= 1.
        - Output: (N, C * sum(l * l for l in levels)).

    Example:
        >>> import torch
        >>> spp = SpatialPyramidPool2d(levels=(1, 2), mode="avg")
        >>> x = torch.arange(16.0).view(1, 1, 4, 4)
        >>> spp(x)
        tensor([[ 7.5000,  2.5000,  4.5000, 10.5000, 12.5000]])
        >>> SpatialPyramidPool2d(mode="ada", beta=0.5)(torch.rand(2, 3, 9, 12)).shape
        torch.Size([2, 63])
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4), mode: str = "max", beta: float = 0.5,
                 dsc: str = "channel") -> None:
        super().__init__()
        name = type(self).__name__
        try:
            levels = tuple(levels)
        except TypeError:
            raise TypeError(f"{name}: levels must be a sequence of positive ints, got {levels!r}") from None
        if not levels or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in levels):
            raise ValueError(f"{name}: levels must be a non-empty sequence of positive ints, got {levels!r}")
        if mode not in SPP_MODES:
            raise ValueError(f"{name}: mode must be one of {', '.join(SPP_MODES)}, got {mode!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta <= 1.0:
            raise ValueError(f"{name}: beta must be a float in [0, 1], got {beta!r}")
        if dsc not in ("channel", "element"):
            raise ValueError(f"{name}: dsc must be 'channel' or 'element', got {dsc!r}")
        self.levels, self.mode, self.beta, self.dsc = levels, mode, float(beta), dsc

    def output_features(self, channels: int) -> int:
        """The output length for ``channels`` input channels: C * sum(l * l)."""
        return channels * sum(level * level for level in self.levels)

    def _ada_level(self, x: torch.Tensor, level: int) -> torch.Tensor:
        rows, cols = _bin_edges(x.shape[2], level), _bin_edges(x.shape[3], level)
        grid = [[adapool2d(x[:, :, r0:r1, c0:c1], (r1 - r0, c1 - c0), beta=self.beta, dsc=self.dsc)
                 for c0, c1 in cols] for r0, r1 in rows]
        return torch.cat([torch.cat(row, dim=3) for row in grid], dim=2)  # (N, C, l, l)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_map(x, type(self).__name__)
        parts = []
        for level in self.levels:
            if self.mode == "max":
                pooled = F.adaptive_max_pool2d(x, level)
            elif self.mode == "avg":
                pooled = F.adaptive_avg_pool2d(x, level)
            else:
                pooled = self._ada_level(x, level)
            parts.append(pooled.flatten(1))
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        ada = f", beta={self.beta}, dsc={self.dsc!r}" if self.mode == "ada" else ""
        return f"levels={self.levels}, mode={self.mode!r}{ada}"


# ------------------------------------------------------------------------------------------ NetVLAD

class NetVLAD(nn.Module):
    r"""NetVLAD (Arandjelovic et al., CVPR 2016): aggregate local descriptors into K residual vectors.

    With descriptors x_i (the D-dim columns of the map, L2-normalised first when
    ``normalize_input``), soft assignments ``a_k(x_i) = softmax_k(w_k . x_i + b_k)`` from a 1x1
    convolution, and centroids c_k:

        V(k) = sum_i a_k(x_i) (x_i - c_k)            (a D-vector per cluster)
        V(k) <- V(k) / ||V(k)||                        (intra-normalisation)
        v    <- flatten(V) / ||flatten(V)||            (one unit vector of K * D values)

    The convolution starts as the paper's ``w_k = 2 alpha c_k``, ``b_k = -alpha ||c_k||^2``, which
    makes ``a_k(x) = softmax_k(-alpha ||x - c_k||^2)`` (soft nearest centroid) before training
    decouples them. Centroids start uniform in [0, 1) (torch's RNG); :meth:`set_centroids` loads
    e.g. k-means centres and re-derives the convolution from them.

    Args:
        num_clusters: K.
        dim: D, the number of input channels.
        alpha: the initial sharpness of the soft assignment (> 0).
        normalize_input: L2-normalise every descriptor over its channels first.

    Shape:
        - Input: (N, D, H, W), floating point.
        - Output: (N, K * D), every row of unit L2 norm (cluster k at ``[k*D:(k+1)*D]``).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> vlad = NetVLAD(num_clusters=8, dim=16, alpha=10.0)
        >>> v = vlad(torch.randn(2, 16, 7, 5))
        >>> v.shape, torch.allclose(v.norm(dim=1), torch.ones(2))
        (torch.Size([2, 128]), True)
    """

    def __init__(self, num_clusters: int = 64, dim: int = 128, alpha: float = 100.0,
                 normalize_input: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (("num_clusters", num_clusters), ("dim", dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {value!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0 or not math.isfinite(alpha):
            raise ValueError(f"{name}: alpha must be a positive finite number, got {alpha!r}")
        self.num_clusters, self.dim, self.alpha = num_clusters, dim, float(alpha)
        self.normalize_input = bool(normalize_input)
        self.conv = nn.Conv2d(dim, num_clusters, kernel_size=1, bias=True)
        self.centroids = nn.Parameter(torch.empty(num_clusters, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.centroids.uniform_(0.0, 1.0)
        self._conv_from_centroids()

    def set_centroids(self, centroids: torch.Tensor) -> None:
        """Load (K, D) centroids (e.g. k-means of training descriptors) and re-derive the 1x1 conv."""
        if not isinstance(centroids, torch.Tensor) or tuple(centroids.shape) != (self.num_clusters, self.dim):
            shape = tuple(centroids.shape) if isinstance(centroids, torch.Tensor) else type(centroids).__name__
            raise ValueError(f"NetVLAD: centroids must be a tensor of shape ({self.num_clusters}, {self.dim}), "
                             f"got {shape}")
        with torch.no_grad():
            self.centroids.copy_(centroids)
        self._conv_from_centroids()

    def _conv_from_centroids(self) -> None:
        with torch.no_grad():
            c = self.centroids
            self.conv.weight.copy_((2.0 * self.alpha * c)[:, :, None, None])
            self.conv.bias.copy_(-self.alpha * c.pow(2).sum(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_map(x, type(self).__name__, channels=self.dim)
        if self.normalize_input:
            x = F.normalize(x, p=2, dim=1)
        assign = F.softmax(self.conv(x).flatten(2), dim=1)        # (N, K, HW)
        desc = x.flatten(2)                                       # (N, D, HW)
        # sum_i a_k(x_i) x_i - (sum_i a_k(x_i)) c_k, without materialising the (N, K, D, HW) residuals
        vlad = torch.bmm(assign, desc.transpose(1, 2)) - assign.sum(dim=2, keepdim=True) * self.centroids
        vlad = F.normalize(vlad, p=2, dim=2)                      # intra-normalisation
        return F.normalize(vlad.flatten(1), p=2, dim=1)

    def extra_repr(self) -> str:
        return (f"num_clusters={self.num_clusters}, dim={self.dim}, alpha={self.alpha}, "
                f"normalize_input={self.normalize_input}")


# ----------------------------------------------------------------------------------------- bilinear

class BilinearPool2d(nn.Module):
    r"""Bilinear (second-order) pooling (Lin et al., ICCV 2015).

    For one map x (or two maps x, y of the same N, H, W: a two-stream bilinear CNN):

        B = (1 / HW) sum_i x_i y_i^T          (C_x x C_y, the outer products averaged over positions)
        z = sign(B) * sqrt(|B| + eps)          (signed square root, element-wise)
        z <- z / ||z||_2                        (over all C_x * C_y values)

    ``eps`` keeps the square root's gradient finite where B is 0 (eps = 0 is exact but its gradient at
    0 is NaN).

    Args:
        eps: added under the square root (default 1e-12).

    Shape:
        - Input: x (N, C, H, W); optional y (N, C2, H, W), default x.
        - Output: (N, C * C2); (N, C * C) for one input. Row-major: ``z[:, i * C2 + j]`` is (i, j).

    Example:
        >>> import torch
        >>> x = torch.ones(1, 2, 3, 3)
        >>> x[:, 1] = -4.0                   # a constant map c = (1, -4): B = c c^T
        >>> BilinearPool2d(eps=0.0)(x)       # sign(B) sqrt|B| / sum|c| = (1, -2, -2, 4) / 5
        tensor([[ 0.2000, -0.4000, -0.4000,  0.8000]])
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0 or not math.isfinite(eps):
            raise ValueError(f"BilinearPool2d: eps must be a finite number >= 0, got {eps!r}")
        self.eps = float(eps)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        name = type(self).__name__
        check_map(x, name)
        if y is None:
            y = x
        else:
            check_map(y, name)
            if y.shape[0] != x.shape[0] or y.shape[2:] != x.shape[2:]:
                raise ValueError(f"{name}: y {tuple(y.shape)} must match x {tuple(x.shape)} in N, H and W")
        n, _, h, w = x.shape
        gram = torch.bmm(x.flatten(2), y.flatten(2).transpose(1, 2)) / (h * w)   # (N, C, C2)
        z = gram.flatten(1)
        z = torch.sign(z) * torch.sqrt(z.abs() + self.eps)
        return F.normalize(z, p=2, dim=1)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
