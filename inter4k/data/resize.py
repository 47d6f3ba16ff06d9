"""MATLAB-compatible bicubic resizing and the BT.601 luma used by the SR conventions (docs/EVALUATE.md#luma).

:func:`imresize` reproduces MATLAB's ``imresize(x, scale, 'bicubic')`` (the default method, with
antialiasing on): the cubic convolution kernel with ``a = -0.5``, the kernel widened by ``1/scale``
(and its height divided by the same) when downscaling with antialiasing, MATLAB's mapping of output
pixel ``x`` (1-based) to input coordinate ``u = x/scale + 0.5*(1 - 1/scale)``, weights normalised to
sum to 1 per output pixel, and half-sample symmetric borders (index sequence ``1..n, n..1``
repeated). The output size for a scale is ``ceil(scale * size)`` per dimension, as in MATLAB. The
two dimensions are resized one after the other (height first unless the width shrinks more; MATLAB
resizes the dimension with the smaller scale first).

Weights and source indices are computed once per (length, output length, scale) in float64 and
cached; each 1-D pass is then a dense (out x in) matrix product (a sum over the kernel's taps of
gathered rows when that matrix would be huge, beyond 8K lines). Both
give MATLAB's result up to float rounding (about 1e-7 relative in float32, 1e-15 in float64); a given
input shape always takes the same path, so results are reproducible bit for bit.

Conventions:

- Tensors are ``(..., H, W)`` (any number of leading dims, e.g. ``(N, C, H, W)``), any float dtype
  (float16/bfloat16 are computed in float32 and cast back), any device. Values are not clamped.
- NumPy arrays follow the image convention instead: ``(H, W)`` or ``(H, W, C)``. Float arrays are
  returned in their dtype; uint8 arrays are resized in float64 and rounded (half away from zero)
  and saturated back to uint8 after each 1-D pass, as MATLAB does for uint8 images (which is where
  MATLAB's order of the two passes changes the result).
- ``size`` is ``(height, width)`` (like ``F.interpolate``, not OpenCV's ``(width, height)``).

:func:`rgb_to_y` is MATLAB's ``rgb2ycbcr`` luma (ITU-R BT.601, limited range) for RGB in [0, 1]:
``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` is in [16, 235] on the 0..255 scale; **this function
returns Y / 255**, i.e. values in [16/255, 235/255] on the same [0, 1] scale as its input, so a PSNR
computed with a peak of 1 on its output equals MATLAB's PSNR on uint8 Y with a peak of 255.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence, Union

import numpy as np
import torch

__all__ = ["imresize", "imresize_np", "cubic", "contributions", "rgb_to_y", "output_size"]

KERNEL_WIDTH = 4.0  # support of the cubic kernel, in input pixels (at scale >= 1)
# A pass is a dense (out, in) matrix product (BLAS; faster than gathering the taps at every size
# measured, UHD frames included) unless that matrix would exceed this many entries, then a sum over
# the kernel's taps of gathered rows.
_DENSE_MAX = 1 << 25

Scale = Union[float, Sequence[float]]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2)))


@lru_cache(maxsize=256)
def _contributions(in_length: int, out_length: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    kernel_width = KERNEL_WIDTH
    if scale < 1 and antialias:
        def h(x):
            return scale * cubic(scale * x)
        kernel_width = kernel_width / scale
    else:
        h = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    p = int(math.ceil(kernel_width)) + 2
    ind = left[:, None] + np.arange(p, dtype=np.float64)[None, :]  # 1-based, may fall outside
    weights = h(u[:, None] - ind)
    weights = weights / weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_length + 1), np.arange(in_length, 0, -1)])
    ind = aux[np.mod(ind.astype(np.int64) - 1, aux.size)]
    keep = np.any(weights != 0, axis=0)  # drop taps that are zero for every output
    weights = np.ascontiguousarray(weights[:, keep])
    ind = np.ascontiguousarray(ind[:, keep] - 1)  # 0-based
    weights.setflags(write=False)
    ind.setflags(write=False)
    return weights, ind


def contributions(in_length: int, out_length: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's ``contributions()``: float64 weights (out, P) and 0-based source indices (out, P)."""
    return _contributions(int(in_length), int(out_length), float(scale), bool(antialias))


def output_size(in_size: tuple[int, int], scale: Optional[Scale] = None,
                size: Optional[Sequence[Optional[int]]] = None) -> tuple[tuple[int, int], tuple[float, float]]:
    """((out_h, out_w), (scale_h, scale_w)) as MATLAB derives them from a scale or an output size.

    A scale gives ``ceil(scale * in)``; a size gives ``out / in`` as the scale, and a size with one
    entry None keeps the aspect ratio from the other (MATLAB's NaN).
    """
    if (scale is None) == (size is None):
        raise ValueError("imresize: give exactly one of scale= and size=")
    h, w = int(in_size[0]), int(in_size[1])
    if scale is not None:
        sh, sw = (scale, scale) if np.isscalar(scale) else tuple(scale)
        sh, sw = float(sh), float(sw)
        if not (sh > 0 and sw > 0) or not (math.isfinite(sh) and math.isfinite(sw)):
            raise ValueError(f"imresize: scale must be positive and finite, got {scale}")
        return (int(math.ceil(sh * h)), int(math.ceil(sw * w))), (sh, sw)
    if len(size) != 2:
        raise ValueError(f"imresize: size must be (height, width), got {size}")
    oh, ow = size
    if oh is None and ow is None:
        raise ValueError("imresize: size=(None, None) says nothing")
    if oh is None:
        s = int(ow) / w
        oh = int(math.ceil(s * h))
        return (oh, int(ow)), (s, s)
    if ow is None:
        s = int(oh) / h
        ow = int(math.ceil(s * w))
        return (int(oh), ow), (s, s)
    oh, ow = int(oh), int(ow)
    if oh < 1 or ow < 1:
        raise ValueError(f"imresize: output size must be >= 1, got {size}")
    return (oh, ow), (oh / h, ow / w)


_TORCH_CACHE: dict = {}


def _torch_weights(in_length, out_length, scale, antialias, dtype, device, dense):
    key = (in_length, out_length, scale, antialias, dtype, str(device), dense)
    hit = _TORCH_CACHE.get(key)
    if hit is not None:
        return hit
    w, ind = contributions(in_length, out_length, scale, antialias)
    if dense:
        m = np.zeros((out_length, in_length), dtype=np.float64)
        np.add.at(m, (np.repeat(np.arange(out_length), w.shape[1]), ind.reshape(-1)), w.reshape(-1))
        hit = torch.as_tensor(m, dtype=dtype, device=device)
    else:
        hit = (torch.as_tensor(w.T.copy(), dtype=dtype, device=device),       # (P, out)
               torch.as_tensor(ind.T.copy(), dtype=torch.long, device=device))  # (P, out)
    if len(_TORCH_CACHE) > 512:
        _TORCH_CACHE.clear()
    _TORCH_CACHE[key] = hit
    return hit


def _resize_dim(x: torch.Tensor, dim: int, out_length: int, scale: float, antialias: bool) -> torch.Tensor:
    """One 1-D pass along ``dim`` (-1 or -2)."""
    in_length = x.shape[dim]
    dense = in_length * out_length <= _DENSE_MAX
    if dense:
        m = _torch_weights(in_length, out_length, scale, antialias, x.dtype, x.device, True)
        return torch.matmul(m, x) if dim == -2 else torch.matmul(x, m.T)
    w, ind = _torch_weights(in_length, out_length, scale, antialias, x.dtype, x.device, False)
    shape = [1] * x.dim()
    shape[dim] = out_length
    out = None
    for p in range(w.shape[0]):
        term = x.index_select(x.dim() + dim, ind[p]) * w[p].view(shape)
        out = term if out is None else out.add_(term)
    return out


def _resize(x: torch.Tensor, scale, size, antialias: bool, between=None) -> torch.Tensor:
    (oh, ow), (sh, sw) = output_size(x.shape[-2:], scale, size)
    y = x
    # MATLAB resizes the dimension with the smaller scale first (stable order: height on a tie).
    order = [(-2, oh, sh), (-1, ow, sw)]
    if sw < sh:
        order.reverse()
    for dim, out_length, s in order:
        if out_length == y.shape[dim] and s == 1.0:
            continue  # the identity (MATLAB's weights are exactly one-hot here)
        y = _resize_dim(y, dim, out_length, s, antialias)
        if between is not None:
            y = between(y)
    return y


def imresize(x, scale: Optional[Scale] = None, size: Optional[Sequence[Optional[int]]] = None,
             antialias: bool = True):
    """MATLAB ``imresize(x, scale)`` / ``imresize(x, [h w])`` with the bicubic kernel.

    Args:
        x: a float tensor ``(..., H, W)``; a NumPy array goes to :func:`imresize_np` (``(H, W[, C])``).
        scale: one factor or ``(scale_h, scale_w)``; the output is ``ceil(scale * size)``.
        size: ``(out_h, out_w)`` instead of a scale (one of them may be None).
        antialias: widen the kernel when downscaling (MATLAB's default ``'Antialiasing', true``).
    """
    if isinstance(x, np.ndarray):
        return imresize_np(x, scale=scale, size=size, antialias=antialias)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"imresize: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"imresize: expected a floating-point tensor, got {x.dtype} (convert it, e.g. x.float() / 255)")
    if x.dim() < 2:
        raise ValueError(f"imresize: expected a tensor (..., H, W), got shape {tuple(x.shape)}")
    dtype = x.dtype
    y = _resize(x.float() if dtype in (torch.float16, torch.bfloat16) else x, scale, size, antialias)
    if y is x:
        y = x.clone()
    return y.to(dtype) if y.dtype != dtype else y


def _to_uint8_levels(y: torch.Tensor) -> torch.Tensor:
    """MATLAB's conversion of doubles to uint8: saturate, round half away from zero."""
    return torch.floor(y.clamp(0.0, 255.0) + 0.5)


def imresize_np(img: np.ndarray, scale: Optional[Scale] = None, size: Optional[Sequence[Optional[int]]] = None,
                antialias: bool = True) -> np.ndarray:
    """:func:`imresize` for a NumPy image ``(H, W)`` or ``(H, W, C)`` (computed in float64 on the CPU).

    Float input comes back in its dtype. uint8 input comes back as uint8 and, as in MATLAB (whose
    resize kernel returns the input's class after each 1-D pass), the intermediate image between
    the two passes is rounded and saturated to uint8 too.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"imresize_np: expected an image (H, W) or (H, W, C), got shape {img.shape}")
    if not (np.issubdtype(img.dtype, np.floating) or img.dtype == np.uint8):
        raise TypeError(f"imresize_np: expected a float or uint8 array, got {img.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64))
    t = t if img.ndim == 2 else t.permute(2, 0, 1)
    u8 = img.dtype == np.uint8
    out = _resize(t, scale, size, antialias, between=_to_uint8_levels if u8 else None)
    out = out if img.ndim == 2 else out.permute(1, 2, 0)
    out = out.numpy()
    if u8:
        return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return np.array(out, dtype=img.dtype)


# BT.601 limited range (MATLAB rgb2ycbcr), for R, G, B in [0, 1]: Y (0..255 scale) = 16 + c . rgb
_Y_COEFFS = (65.481, 128.553, 24.966)


def rgb_to_y(x, channel_dim: int = -3):
    """Luma Y / 255 of RGB in [0, 1], as MATLAB's ``rgb2ycbcr`` (result in [16/255, 235/255]).

    Tensors: channels along ``channel_dim`` (default -3, i.e. ``(..., 3, H, W)``); the channel dim is
    kept with size 1. NumPy arrays: channels last (``(H, W, 3)``) unless ``channel_dim`` says
    otherwise (pass ``channel_dim=-1`` explicitly for tensors laid out that way); a uint8 array is
    read as 0..255 and the result is float64.
    """
    if isinstance(x, np.ndarray):
        cd = -1 if channel_dim == -3 else channel_dim
        a = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x
        if a.shape[cd] != 3:
            raise ValueError(f"rgb_to_y: expected 3 channels along dim {cd}, got shape {a.shape}")
        r, g, b = (np.take(a, i, axis=cd) for i in range(3))
        y = (16.0 + _Y_COEFFS[0] * r + _Y_COEFFS[1] * g + _Y_COEFFS[2] * b) / 255.0
        return np.expand_dims(y, cd)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"rgb_to_y: expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.shape[channel_dim] != 3:
        raise ValueError(f"rgb_to_y: expected 3 channels along dim {channel_dim}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float() / 255.0
    r, g, b = x.unbind(channel_dim)
    y = (16.0 + _Y_COEFFS[0] * r + _Y_COEFFS[1] * g + _Y_COEFFS[2] * b) / 255.0
    return y.unsqueeze(channel_dim)
