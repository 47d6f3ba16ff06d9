"""The EDO search of IC-Conv: pick each output channel's dilation pair from a trained supernet.

    supernet = make_supernet(model, max_dilation=2)        # 3x3 convs -> 5x5 convs (padding 2)
    ... train supernet ...
    searched, patterns = edo_convert(supernet, batches, max_dilation=2)
    fresh = replace_conv(new_model, patterns)               # or fine-tune `searched` directly

A supernet layer is a plain (2D+1)x(2D+1) conv, whose kernel holds every dilated 3x3 pattern (dy, dx)
in 1..D: the nine taps at rows D + dy * {-1, 0, 1} and columns D + dx * {-1, 0, 1}. For each output
channel, EDO keeps the pattern whose cropped 3x3 sub-kernel gives the smallest mean absolute error
against the full kernel's output on the layer's real inputs (its expected L1 error on training data).
"""

from __future__ import annotations

import copy
from typing import Iterable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_ints
from ._modes import evaluating
from .inception import InceptionConv2d, Pair
from .replace import swap_3x3_convs, swap_convs

__all__ = ["make_supernet", "edo_search", "edo_convert", "crop_pattern"]


def _check_max_dilation(max_dilation, who: str) -> int:
    check_ints(who, ("max_dilation", max_dilation, 1))
    return max_dilation


def _patterns(max_dilation: int) -> list[Pair]:
    # smallest first: a tie keeps the smaller dilation
    return [(dy, dx) for dy in range(1, max_dilation + 1) for dx in range(1, max_dilation + 1)]


def crop_pattern(weight: torch.Tensor, pattern: Pair) -> torch.Tensor:
    """The 3x3 sub-kernel of a (O, I, 2D+1, 2D+1) supernet kernel at the taps of ``pattern`` = (dy, dx)."""
    c = weight.shape[-1] // 2
    dy, dx = pattern
    rows = torch.tensor([c - dy, c, c + dy], device=weight.device)
    cols = torch.tensor([c - dx, c, c + dx], device=weight.device)
    return weight.index_select(2, rows).index_select(3, cols)


def _supernet_problem(conv: nn.Module, max_dilation: int) -> Optional[str]:
    k = 2 * max_dilation + 1
    if not isinstance(conv, nn.Conv2d):
        return f"is a {type(conv).__name__}, not an nn.Conv2d"
    want = {"kernel_size": (k, k), "stride": (1, 1), "padding": (max_dilation, max_dilation), "dilation": (1, 1)}
    for attr, v in want.items():
        if tuple(getattr(conv, attr)) != v:
            return f"has {attr}={tuple(getattr(conv, attr))}; a supernet layer for max_dilation={max_dilation} has {v}"
    if conv.groups != 1 or conv.padding_mode != "zeros":
        return f"has groups={conv.groups}, padding_mode={conv.padding_mode!r}; expected 1, 'zeros'"
    return None


def make_supernet(model: nn.Module, max_dilation: int = 2, inplace: bool = True, *, keep_weights: bool = False,
                  return_names: bool = False):
    """Replace each replaceable 3x3 conv (as ``replace_conv`` picks them) by a supernet conv: kernel 2D+1, padding D.

    The new convs are freshly initialised (``nn.Conv2d``'s rule), so that no pattern is favoured
    before training. With ``keep_weights=True`` each old 3x3 kernel is put at the taps of its own
    dilation pattern and the other taps are zero, so the supernet starts as the model (for a model
    that is already trained); that needs every old dilation <= D. Other 3x3 convs are left, with a
    warning, as ``replace_conv`` does. Returns the model (and with ``return_names`` the names).
    """
    d = _check_max_dilation(max_dilation, "make_supernet")

    def build(name: str, conv: nn.Conv2d) -> nn.Conv2d:
        new = nn.Conv2d(conv.in_channels, conv.out_channels, 2 * d + 1, padding=d, bias=conv.bias is not None,
                        device=conv.weight.device, dtype=conv.weight.dtype)
        if keep_weights:
            dy, dx = tuple(conv.dilation)
            if max(dy, dx) > d:
                raise ValueError(f"make_supernet: {name or 'the model'} has dilation {(dy, dx)} > max_dilation={d}, "
                                 "so keep_weights cannot place its kernel")
            with torch.no_grad():
                new.weight.zero_()
                new.weight[:, :, d - dy: d + dy + 1: dy, d - dx: d + dx + 1: dx] = conv.weight
                if conv.bias is not None:
                    new.bias.copy_(conv.bias)
        return new

    model, names = swap_3x3_convs(model, build, inplace, "make_supernet")
    return (model, names) if return_names else model


class _EdoErrors:
    """The summed absolute error of every (output channel, pattern) of one supernet conv, batch by batch."""

    def __init__(self, conv: nn.Conv2d, max_dilation: int) -> None:
        self.conv, self.patterns = conv, _patterns(max_dilation)
        self.sums = torch.zeros(conv.out_channels, len(self.patterns), dtype=torch.float64, device=conv.weight.device)
        self.count = 0

    @torch.no_grad()
    def add(self, x: torch.Tensor, ref: Optional[torch.Tensor] = None) -> None:
        """Score one batch; ``ref`` is the supernet conv's output on it when already known (a hook's)."""
        conv = self.conv
        if x.dim() != 4 or x.shape[1] != conv.in_channels:
            raise ValueError(f"edo_search: inputs must be (N, {conv.in_channels}, H, W), got {tuple(x.shape)}")
        x = x.to(device=conv.weight.device, dtype=conv.weight.dtype)
        ref = conv(x) if ref is None else ref
        for k, p in enumerate(self.patterns):
            y = F.conv2d(x, crop_pattern(conv.weight, p), conv.bias, padding=p, dilation=p)
            self.sums[:, k] += (ref - y).abs().sum((0, 2, 3), dtype=torch.float64)
        self.count += x.shape[0] * x.shape[2] * x.shape[3]

    def errors(self) -> torch.Tensor:
        if self.count == 0:
            raise ValueError("edo_search: no inputs were given")
        return self.sums / self.count

    def convert(self) -> InceptionConv2d:
        best = self.errors().argmin(1).tolist()   # the first minimum: ties keep the smaller pattern
        conv = self.conv
        pairs = [self.patterns[k] for k in best]
        new = InceptionConv2d(conv.in_channels, conv.out_channels, pairs, bias=conv.bias is not None,
                              device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            for k, p in enumerate(self.patterns):
                chans = [o for o, b in enumerate(best) if b == k]
                if chans:
                    idx = torch.tensor(chans, device=conv.weight.device)
                    new.weight[idx] = crop_pattern(conv.weight[idx], p)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        new.train(conv.training)
        return new


def edo_search(conv: nn.Conv2d, inputs: Union[torch.Tensor, Iterable[torch.Tensor]], max_dilation: int) -> InceptionConv2d:
    """The IC-Conv layer that EDO picks from one supernet conv.

    ``conv`` is a supernet ``nn.Conv2d`` (kernel 2 * max_dilation + 1, stride 1, padding max_dilation).
    For each output channel, every (dy, dx) in 1..max_dilation is scored by the mean absolute error,
    over ``inputs`` (a (N, C, H, W) tensor or an iterable of such batches), between ``conv``'s output
    channel and that of the 3x3 sub-kernel cropped at the pattern's nine taps (dilation and padding
    (dy, dx), the same bias); the smallest wins (ties: the first in (1, 1), (1, 2), ..., (D, D)).
    The returned layer has those pairs, the cropped weights and the supernet's bias.
    """
    d = _check_max_dilation(max_dilation, "edo_search")
    problem = _supernet_problem(conv, d)
    if problem is not None:
        raise ValueError(f"edo_search: conv {problem}")
    acc = _EdoErrors(conv, d)
    for x in ([inputs] if isinstance(inputs, torch.Tensor) else inputs):
        acc.add(x)
    return acc.convert()


def edo_convert(supernet: nn.Module, data: Iterable, max_dilation: int, inplace: bool = True):
    """Run EDO on every supernet conv of a model; return ``(model, patterns)``.

    ``data`` yields model inputs (a tensor, or a tuple of forward arguments); each supernet conv
    (every ``nn.Conv2d`` with kernel 2D+1, stride 1, padding D, as :func:`make_supernet` makes them)
    is scored on the inputs it receives during those forwards (run in eval mode, without gradients),
    then replaced by the :func:`edo_search` result. ``patterns`` maps each replaced layer's name to
    its list of pairs, the form :func:`~inter4k.models.layers.replace_conv` takes.
    """
    d = _check_max_dilation(max_dilation, "edo_convert")
    if not isinstance(supernet, nn.Module):
        raise TypeError(f"edo_convert: supernet must be an nn.Module, got {type(supernet).__name__}")
    if not inplace:
        supernet = copy.deepcopy(supernet)
    accs: dict[int, _EdoErrors] = {}
    for name, m in supernet.named_modules():
        if isinstance(m, nn.Conv2d) and _supernet_problem(m, d) is None and id(m) not in accs:
            accs[id(m)] = _EdoErrors(m, d)
    if not accs:
        raise ValueError(f"edo_convert: the model has no supernet conv for max_dilation={d} "
                         f"(kernel {2 * d + 1}, stride 1, padding {d}); build one with make_supernet")
    hooks = [acc.conv.register_forward_hook(lambda m, args, out, acc=acc: acc.add(args[0], out))
             for acc in accs.values()]
    try:
        with evaluating(supernet):
            for batch in data:
                supernet(*(batch if isinstance(batch, tuple) else (batch,)))
    finally:
        for h in hooks:
            h.remove()
    def convert(name: str, conv: nn.Conv2d) -> Optional[InceptionConv2d]:
        if id(conv) not in accs:
            return None
        if accs[id(conv)].count == 0:
            raise ValueError(f"edo_convert: supernet conv {name or 'the model'} received no input during the "
                             "forwards over data, so it cannot be scored")
        return accs[id(conv)].convert()

    model, names = swap_convs(supernet, convert, True, "edo_convert")
    patterns = {}
    for name in names:
        layer = model if name == "" else model.get_submodule(name)
        patterns[name] = layer.dilations
    return model, patterns
