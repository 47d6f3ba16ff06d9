"""Feature upsamplers for the SR models, created by name, and an exact, fast MATLAB-bicubic upscaler.

    up = create_upsampler("adaunpool", channels=32, scale=4)   # (N, 32, H, W) -> (N, 32, 4H, 4W)

Kinds (:data:`UPSAMPLERS`); C is ``channels``, s is ``scale``:

============  ==========================================================================  ==========================
kind          what it is                                                                  parameters
============  ==========================================================================  ==========================
adaunpool     :class:`adaunpool.AdaUnPoolUpsample`: a guide conv + PixelShuffle gives the  ``36 C s^2 + 4 s^2``
              adaPool weights of each s x s window, adaUnPool spreads the LR features      ``+ 9 C^2 + C + 1``
              with them, then ``u + conv3x3(u)`` (zero-initialised)
pixelshuffle  sub-pixel conv (ESPCN): conv3x3 C -> C s^2, ``nn.PixelShuffle(s)``, ICNR init  ``9 C^2 s^2 + C s^2``
transposed    ``nn.ConvTranspose2d(C, C, k, stride=s, padding=(k - s) / 2)`` with k = 2s    ``C^2 k^2 + C``
              for even s and k = 3s for odd s; initialised to exact bilinear upsampling
bilinear      ``F.interpolate(bilinear)`` then ``u + conv3x3(u)`` (zero-initialised)        ``9 C^2 + C``
nearest       ``F.interpolate(nearest)`` then ``u + conv3x3(u)`` (zero-initialised)         ``9 C^2 + C``
============  ==========================================================================  ==========================

Why these forms:

* **transposed**: a kernel that is a multiple of the stride covers every output pixel the same number
  of times (no uneven overlap, the source of the checkerboard pattern of deconvolutions), and
  ``padding = (k - s) / 2`` centres each LR pixel's kernel on its s x s footprint, so the output is
  aligned with the input (as ``F.interpolate(align_corners=False)`` is). k = 2s needs an even s for that
  padding to be an integer; for x3 the smallest kernel that is a multiple of 3 and can be centred is 9.
  The weights start as bilinear upsampling of each channel (FCN's initialisation), so, like ICNR for
  the sub-pixel conv, the layer starts free of checkerboard artefacts.
* **bilinear / nearest** use the same zero-initialised residual refine conv as AdaUnPoolUpsample:
  adaUnPool with uniform weights *is* nearest-neighbour upsampling, so "nearest" is AdaUnPoolUpsample
  without its learned weights (the guide conv), and the ablation adaunpool vs nearest isolates
  exactly what the adaptive weights add.
* **pixelshuffle** is one sub-pixel conv for every scale (as ESPCN), not EDSR's two x2 stages for x4;
  ICNR (Aitken et al. 2017) makes all s^2 sub-pixels of a channel start equal (a conv followed by
  nearest-neighbour upsampling).

Parameter counts differ a lot (pixelshuffle at C = 64, x4: 590k; adaunpool: 74k), so equal-parameter
comparisons adjust the width of the whole network instead (``match_params`` of the SR presets, see
:mod:`inter4k.models.sr` and docs/MODELS.md).

:class:`BicubicUpsample` is MATLAB's ``imresize(x, s, 'bicubic')`` for an integer s >= 1, computed as
two 1-D polyphase convolutions (5 taps, s phases) instead of a dense matrix product: it equals
:func:`inter4k.data.resize.imresize` up to float rounding, at a cost linear in the image size. It is the
global skip of the SR networks and the "bicubic" baseline.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import adaunpool as au

from ..data.resize import cubic

__all__ = [
    "UPSAMPLERS", "create_upsampler", "register_upsampler", "upsampler_params",
    "PixelShuffleUpsample", "TransposedUpsample", "InterpolateUpsample", "BicubicUpsample",
    "bicubic_upsample",
]

_UPSAMPLERS: dict[str, Callable[[int, int], nn.Module]] = {}


def register_upsampler(name: str) -> Callable:
    """Register ``fn(channels, scale) -> nn.Module`` under ``name``."""

    def deco(fn):
        if name in _UPSAMPLERS:
            raise ValueError(f"upsampler {name!r} is registered twice")
        _UPSAMPLERS[name] = fn
        return fn

    return deco


def _check(channels, scale, who: str) -> None:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"{who}: channels must be a positive int, got {channels!r}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ValueError(f"{who}: scale must be an int >= 2 (e.g. 2, 3 or 4), got {scale!r}")


class PixelShuffleUpsample(nn.Module):
    """Sub-pixel convolution: conv3x3 C -> C*s^2, then ``nn.PixelShuffle(s)``; ICNR initialisation."""

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        _check(channels, scale, "PixelShuffleUpsample")
        self.channels, self.scale = channels, scale
        self.conv = nn.Conv2d(channels, channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # ICNR: one C -> C kernel (PyTorch's default init), repeated for the s*s sub-pixels; PixelShuffle
        # takes output channel c's sub-pixel k from input channel c*s*s + k.
        c, s2 = self.channels, self.scale * self.scale
        base = nn.Conv2d(c, c, 3, padding=1, device=self.conv.weight.device, dtype=self.conv.weight.dtype)
        with torch.no_grad():
            self.conv.weight.copy_(base.weight.repeat_interleave(s2, dim=0))
            self.conv.bias.copy_(base.bias.repeat_interleave(s2, dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}"


def transposed_kernel_size(scale: int) -> int:
    """The transposed conv's kernel: 2s for an even s, 3s for an odd s (see the module docstring)."""
    return 2 * scale if scale % 2 == 0 else 3 * scale


class TransposedUpsample(nn.Module):
    """``ConvTranspose2d(C, C, k, stride=s, padding=(k - s) // 2)``, k = 2s (even s) or 3s (odd s).

    The output is exactly (s*H, s*W) and aligned with the input; the weights start as per-channel
    bilinear upsampling (plus the default bias init set to 0).
    """

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        _check(channels, scale, "TransposedUpsample")
        self.channels, self.scale = channels, scale
        k = transposed_kernel_size(scale)
        self.deconv = nn.ConvTranspose2d(channels, channels, k, stride=scale, padding=(k - scale) // 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k, s = self.deconv.kernel_size[0], self.scale
        # Output pixel o gets input i through tap t = o + p - i*s; the bilinear weight of input i for o is
        # the triangle 1 - |(o + 0.5)/s - 0.5 - i| (support 1 LR pixel), i.e. of t: 1 - |t - (k-1)/2| / s.
        t = np.arange(k, dtype=np.float64)
        tri = np.clip(1.0 - np.abs(t - (k - 1) / 2) / s, 0.0, None)
        kern = torch.as_tensor(np.outer(tri, tri), dtype=self.deconv.weight.dtype)
        with torch.no_grad():
            self.deconv.weight.zero_()
            idx = torch.arange(self.channels)
            self.deconv.weight[idx, idx] = kern.to(self.deconv.weight.device)
            self.deconv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(x)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}, kernel={self.deconv.kernel_size[0]}"


class InterpolateUpsample(nn.Module):
    """``F.interpolate`` (bilinear or nearest), then ``u + conv3x3(u)`` with the conv zero-initialised."""

    def __init__(self, channels: int, scale: int, mode: str = "bilinear") -> None:
        super().__init__()
        _check(channels, scale, "InterpolateUpsample")
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"InterpolateUpsample: mode must be 'bilinear' or 'nearest', got {mode!r}")
        self.channels, self.scale, self.mode = channels, scale, mode
        self.refine = nn.Conv2d(channels, channels, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.refine.weight)
        nn.init.zeros_(self.refine.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "bilinear":
            u = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        else:
            u = F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return u + self.refine(u)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}, mode={self.mode!r}"


@register_upsampler("adaunpool")
def _adaunpool(channels: int, scale: int) -> nn.Module:
    return au.AdaUnPoolUpsample(channels, scale)


@register_upsampler("pixelshuffle")
def _pixelshuffle(channels: int, scale: int) -> nn.Module:
    return PixelShuffleUpsample(channels, scale)


@register_upsampler("transposed")
def _transposed(channels: int, scale: int) -> nn.Module:
    return TransposedUpsample(channels, scale)


@register_upsampler("bilinear")
def _bilinear(channels: int, scale: int) -> nn.Module:
    return InterpolateUpsample(channels, scale, "bilinear")


@register_upsampler("nearest")
def _nearest(channels: int, scale: int) -> nn.Module:
    return InterpolateUpsample(channels, scale, "nearest")


#: The upsampler kinds, the default ("adaunpool") first.
UPSAMPLERS: tuple[str, ...] = tuple(_UPSAMPLERS)


def create_upsampler(kind: str, channels: int, scale: int) -> nn.Module:
    """An ``nn.Module`` mapping (N, C, H, W) to (N, C, s*H, s*W); unknown kinds list the known ones."""
    if kind not in _UPSAMPLERS:
        raise ValueError(f"unknown upsampler {kind!r}; known: {', '.join(_UPSAMPLERS)}")
    return _UPSAMPLERS[kind](channels, scale)


def upsampler_params(kind: str, channels: int, scale: int) -> int:
    """The number of parameters of ``create_upsampler(kind, channels, scale)`` (built on the meta device)."""
    with torch.device("meta"):
        return sum(p.numel() for p in create_upsampler(kind, channels, scale).parameters())


# ---------------------------------------------------------------------------------------------------
# Exact MATLAB bicubic upscaling by an integer factor.

_PHASES: dict = {}


def _phase_filters(scale: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(s, 1, 5) taps: output o = s*i + r takes inputs i-2..i+2 with cubic(d_r - k), d_r = (r+0.5)/s - 0.5.

    That is MATLAB's mapping ``u = x/s + 0.5*(1 - 1/s)`` of output x (1-based) to input u, the kernel
    not widened (upscaling) and its weights normalised to sum to 1 as MATLAB does.
    """
    key = (scale, dtype, str(device))
    hit = _PHASES.get(key)
    if hit is None:
        d = (np.arange(scale, dtype=np.float64) + 0.5) / scale - 0.5
        w = cubic(d[:, None] - np.arange(-2, 3, dtype=np.float64)[None, :])
        w = w / w.sum(axis=1, keepdims=True)
        hit = torch.as_tensor(w[:, None, :], dtype=dtype, device=device)
        _PHASES[key] = hit
    return hit


def _symmetric_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices -pad..n-1+pad folded half-sample symmetrically (MATLAB's 1..n, n..1 repeated)."""
    j = torch.arange(-pad, n + pad, device=device)
    j = torch.remainder(j, 2 * n)
    return torch.where(j >= n, 2 * n - 1 - j, j)


def _upsample_dim(x: torch.Tensor, scale: int, dim: int) -> torch.Tensor:
    """Bicubic upscaling of the last (dim=-1) or second-last (dim=-2) dim of (B, 1, H, W)."""
    n = x.shape[dim]
    xp = x.index_select(x.dim() + dim, _symmetric_index(n, 2, x.device))
    w = _phase_filters(scale, x.dtype, x.device)
    b = x.shape[0]
    if dim == -2:
        y = F.conv2d(xp, w.unsqueeze(-1))                     # (B, s, H, W)
        return y.permute(0, 2, 1, 3).reshape(b, 1, n * scale, y.shape[-1])
    y = F.conv2d(xp, w.unsqueeze(-2))                         # (B, s, H, W)
    return y.permute(0, 2, 3, 1).reshape(b, 1, y.shape[-2], n * scale)


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` of (..., H, W) for an integer ``scale >= 1``.

    Equal to :func:`inter4k.data.resize.imresize` up to float rounding (height first, as MATLAB does
    for equal scales); float16/bfloat16 are computed in float32 and cast back. Values are not clamped.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"bicubic_upsample: scale must be an int >= 1, got {scale!r}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise TypeError("bicubic_upsample: expected a floating-point tensor (..., H, W)")
    if scale == 1:
        return x.clone()
    dtype = x.dtype
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    y = x.reshape(-1, 1, h, w)
    if dtype in (torch.float16, torch.bfloat16):
        y = y.float()
    y = _upsample_dim(_upsample_dim(y, scale, -2), scale, -1)
    return y.reshape(*lead, h * scale, w * scale).to(dtype)


class BicubicUpsample(nn.Module):
    """:func:`bicubic_upsample` as a module (no parameters, no buffers)."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"BicubicUpsample: scale must be an int >= 1, got {scale!r}")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_upsample(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"
