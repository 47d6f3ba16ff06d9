"""Multiply-adds of a module, counted on a real forward: what an equal-cost ablation has to match."""

from __future__ import annotations

from typing import Union

import torch
from torch import nn

from ._modes import evaluating
from .dense import ChannelNorm, DenseShortcut
from .inception import InceptionConv2d

__all__ = ["count_macs", "macs_per_pixel"]

_NORMS = (ChannelNorm, nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm)


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, InceptionConv2d):
        return out.numel() * module.in_channels * 9
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    if isinstance(module, DenseShortcut):
        return out.numel() * module.num_inputs   # weight * feature, added: one per input element
    if isinstance(module, _NORMS):
        return out.numel()                       # (x - mean) * rstd; the reductions are not counted
    return 0


def count_macs(module: nn.Module, *inputs) -> int:
    """The multiply-adds of ``module(*inputs)``, run once (eval mode, no gradients).

    Counted: every ``nn.Conv2d`` (output elements x in_channels / groups x kernel taps; zero padding
    counts as taps, the usual convention), :class:`InceptionConv2d` (9 taps), ``nn.Linear``, each
    :class:`DenseShortcut` (one per output element and input) and each normalisation (one per
    element: the normalising multiply-add; the mean / variance reductions are not counted).
    Activations, additions of a residual and pooling are not counted.
    """
    total = 0

    def hook(m, args, out):
        nonlocal total
        total += _macs(m, out)

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    try:
        with evaluating(module):
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


def macs_per_pixel(body: nn.Module, channels: int, size: int = 16) -> Union[int, float]:
    """:func:`count_macs` of a body on a (1, channels, size, size) input, divided by size * size.

    For a body at one resolution (as :func:`~inter4k.models.layers.make_body`'s) the count is the
    same at every size, an int.

    Example:
        >>> from inter4k.models.layers import make_body
        >>> macs_per_pixel(make_body("plain", 32, 2), 32)    # 2 blocks x 2 convs x 9 x 32 x 32
        36864
    """
    ref = next(iter(body.parameters()), None)
    x = torch.zeros(1, channels, size, size, device=None if ref is None else ref.device,
                    dtype=None if ref is None else ref.dtype)
    total = count_macs(body, x)
    pixels = size * size
    return total // pixels if total % pixels == 0 else total / pixels
