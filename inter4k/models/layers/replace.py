"""replace_conv: swap a model's 3x3 convolutions for InceptionConv2d (the twin of adaunpool's replace_pooling)."""

from __future__ import annotations

import copy
import warnings
from typing import Callable, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .inception import InceptionConv2d, Pair, check_dilations

__all__ = ["replace_conv", "swap_convs", "swap_3x3_convs", "why_not_replaceable"]


def why_not_replaceable(conv: nn.Conv2d) -> Optional[str]:
    """None when ``conv`` is a 3x3 conv that an InceptionConv2d can take over, else the reason it is not.

    Replaceable: kernel 3x3, stride 1, groups 1, zero padding equal to its dilation (so H and W are
    kept, as an InceptionConv2d keeps them). Its own dilation is replaced by the new pairs.
    """
    if tuple(conv.kernel_size) != (3, 3):
        return f"kernel_size={tuple(conv.kernel_size)}, not 3x3"
    if tuple(conv.stride) != (1, 1):
        return f"stride={tuple(conv.stride)}; InceptionConv2d has stride 1"
    if conv.groups != 1:
        return f"groups={conv.groups}; InceptionConv2d has groups=1"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}; InceptionConv2d pads with zeros"
    if conv.padding != "same" and tuple(conv.padding) != tuple(conv.dilation):
        return f"padding={conv.padding} with dilation={tuple(conv.dilation)} changes H and W"
    return None


def swap_convs(model: nn.Module, convert: Callable[[str, nn.Conv2d], Optional[nn.Module]], inplace: bool,
               who: str) -> tuple[nn.Module, list[str]]:
    """Replace every ``nn.Conv2d`` ``c`` named ``name`` (recursively) by ``convert(name, c)`` unless that is None.

    A conv registered under several names is converted once (the sharing is kept); a model that is
    itself a conv is converted too (use the return value). Returns the model (a deep copy unless
    ``inplace``) and the names that were replaced, in ``named_modules()`` order.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: model must be an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    names: list[str] = []
    memo: dict[int, Optional[nn.Module]] = {}

    def new_for(conv: nn.Conv2d, name: str) -> Optional[nn.Module]:
        if id(conv) not in memo:
            memo[id(conv)] = convert(name, conv)
        if memo[id(conv)] is not None:
            names.append(name)
        return memo[id(conv)]

    def visit(module: nn.Module, prefix: str) -> None:
        for child_name, child in list(module.named_children()):
            full = f"{prefix}.{child_name}" if prefix else child_name
            if isinstance(child, nn.Conv2d):
                new = new_for(child, full)
                if new is not None:
                    setattr(module, child_name, new)
            else:
                visit(child, full)

    if isinstance(model, nn.Conv2d):
        new = new_for(model, "")
        model = model if new is None else new
    else:
        visit(model, "")
    return model, names


def swap_3x3_convs(model: nn.Module, build: Callable[[str, nn.Conv2d], nn.Module], inplace: bool, who: str,
                   select: Optional[Sequence[str]] = None) -> tuple[nn.Module, list[str]]:
    """Replace the replaceable 3x3 convs of ``model`` by ``build(name, conv)``; returns (model, names).

    ``select=None``: every 3x3 ``nn.Conv2d``; those that cannot be replaced (:func:`why_not_replaceable`)
    are left and named in one warning. ``select=[names]``: exactly those; a name that is not a
    replaceable 3x3 conv is a ``ValueError``. A model with nothing replaced gets a warning.
    """
    chosen = None if select is None else set(select)
    skipped: list[str] = []
    seen: set[str] = set()

    def convert(name: str, conv: nn.Conv2d) -> Optional[nn.Module]:
        if tuple(conv.kernel_size) != (3, 3) or (chosen is not None and name not in chosen):
            return None
        seen.add(name)
        label = name or "the model"
        reason = why_not_replaceable(conv)
        if reason is not None:
            if chosen is not None:
                raise ValueError(f"{who}: {label} cannot become an InceptionConv2d: {reason}")
            skipped.append(f"{label} ({reason})")
            return None
        new = build(name, conv)
        new.train(conv.training)
        return new

    model, names = swap_convs(model, convert, inplace, who)
    if chosen is not None and chosen - seen:
        raise ValueError(f"{who}: no 3x3 nn.Conv2d named {sorted(chosen - seen)[:8]} in the model")
    if skipped:
        warnings.warn(f"{who}: left {len(skipped)} 3x3 conv(s) as they are: {'; '.join(skipped[:8])}", stacklevel=3)
    if not names:
        warnings.warn(f"{who}: the model has no replaceable 3x3 nn.Conv2d; nothing was replaced", stacklevel=3)
    return model, names


Dilations = Union[Pair, Sequence[Pair], Mapping[str, Union[Pair, Sequence[Pair]]]]


def _pairs_for(d, conv: nn.Conv2d, where: str) -> list[Pair]:
    """One pair for every output channel, or a list of them."""
    if isinstance(d, (tuple, list)) and len(d) == 2 and all(isinstance(v, int) for v in d):
        d = [tuple(d)] * conv.out_channels  # two ints; a list of pairs holds tuples, so they cannot be confused
    return check_dilations(d, conv.out_channels, where)


def replace_conv(model: nn.Module, dilations: Dilations = (1, 1), inplace: bool = True, *,
                 return_names: bool = False):
    """Swap a model's 3x3 convolutions for :class:`InceptionConv2d`, keeping their weights and biases.

    ``dilations`` says which pairs the new layers get:

    * a pair ``(dy, dx)``: every output channel of every replaceable 3x3 conv (``(1, 1)`` leaves the
      model's function unchanged);
    * a list of ``out_channels`` pairs: the same list for every replaceable 3x3 conv (each must have
      that many output channels);
    * a dict ``{name: pair or list}`` (names as in ``named_modules()``, e.g. the patterns that
      :func:`~inter4k.models.layers.edo_convert` returns): exactly the named convs; a name that is
      not a replaceable 3x3 conv of the model is a ``ValueError``.

    With a pair or a list, 3x3 convs that cannot be replaced (stride, groups, padding that changes
    the size; see :func:`why_not_replaceable`) are left as they are and named in one warning.
    Other convs (1x1, 5x5, ...) are never touched. The new layers take each conv's device and dtype.

    Args:
        model: the model; a conv itself is replaced too (use the return value).
        dilations: as above.
        inplace: modify ``model`` itself; with False a deep copy is modified and returned.
        return_names: also return the replaced layers' names.

    Returns:
        the model, and with ``return_names=True`` also the names of the replaced layers.

    Example:
        >>> import torch, torch.nn as nn
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
        >>> x = torch.randn(1, 3, 16, 16)
        >>> ref = net(x)
        >>> net, names = replace_conv(net, return_names=True)
        >>> names, torch.allclose(net(x), ref, atol=1e-6)
        (['0', '2'], True)
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
        >>> net = replace_conv(net, {"2": [(1, 1), (1, 2), (2, 1), (2, 2)]})    # only layer 2
        >>> type(net[0]).__name__, net[2].dilations
        ('Conv2d', [(1, 1), (1, 2), (2, 1), (2, 2)])
    """
    select = None
    if isinstance(dilations, Mapping):
        select = list(dilations)
        bad = [k for k in select if not isinstance(k, str)]
        if bad:
            raise ValueError(f"replace_conv: dilations' keys must be layer names (str), got {bad[:4]}")

    def build(name: str, conv: nn.Conv2d) -> InceptionConv2d:
        d = dilations[name] if select is not None else dilations
        pairs = _pairs_for(d, conv, f"replace_conv: {name or 'the model'}")
        new = InceptionConv2d(conv.in_channels, conv.out_channels, pairs, bias=conv.bias is not None,
                              device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(conv.weight)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        return new

    model, names = swap_3x3_convs(model, build, inplace, "replace_conv", select)
    return (model, names) if return_names else model
