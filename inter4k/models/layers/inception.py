"""InceptionConv2d: a 3x3 convolution whose dilation is chosen per output channel and per axis (IC-Conv).

Output channel ``o`` is ``F.conv2d(x, weight[o:o+1], bias[o:o+1], padding=d_o, dilation=d_o)`` with
``d_o = dilations[o] = (dy, dx)``: every channel sees a 3x3 grid of taps spread ``dy`` rows and ``dx``
columns apart, and the zero padding ``d_o`` keeps H and W. Channels that share a pair are computed by
one ``F.conv2d`` (at most one per distinct pair, D * D for dilations in 1..D), not one per channel.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InceptionConv2d", "default_dilations", "check_dilations"]

Pair = tuple[int, int]


def check_dilations(dilations, out_channels: int, where: str) -> list[Pair]:
    """``dilations`` as a list of ``out_channels`` (dy, dx) int pairs, each >= 1 (``ValueError`` otherwise)."""
    if isinstance(dilations, torch.Tensor):
        dilations = dilations.tolist()
    if not isinstance(dilations, (list, tuple)) or len(dilations) != out_channels:
        n = len(dilations) if isinstance(dilations, (list, tuple)) else type(dilations).__name__
        raise ValueError(f"{where}: dilations must be a list of out_channels={out_channels} (dy, dx) pairs, got {n}")
    pairs = []
    for o, d in enumerate(dilations):
        ok = (isinstance(d, (list, tuple)) and len(d) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in d))
        if not ok:
            raise ValueError(f"{where}: dilations[{o}] must be a pair of ints >= 1 (dy, dx), got {d!r}")
        pairs.append((int(d[0]), int(d[1])))
    return pairs


def default_dilations(out_channels: int, max_dilation: int = 2) -> list[Pair]:
    """Every pair (dy, dx) in 1..max_dilation, each on a contiguous run of about equal size.

    In the order (1, 1), (1, 2), ..., (D, D); contiguous runs need no reordering of the output. With
    fewer channels than pairs, the first ``out_channels`` pairs.

    Example:
        >>> default_dilations(5, 2)
        [(1, 1), (1, 1), (1, 2), (2, 1), (2, 2)]
    """
    if isinstance(max_dilation, bool) or not isinstance(max_dilation, int) or max_dilation < 1:
        raise ValueError(f"default_dilations: max_dilation must be an int >= 1, got {max_dilation!r}")
    pairs = [(dy, dx) for dy in range(1, max_dilation + 1) for dx in range(1, max_dilation + 1)]
    return [pairs[o * len(pairs) // out_channels] for o in range(out_channels)]


class InceptionConv2d(nn.Module):
    """A 3x3, stride-1 convolution with one dilation pair (dy, dx) per output channel.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        dilations: ``out_channels`` pairs (dy, dx), each >= 1 (rows, columns).
        bias: learn an additive bias.

    Attributes:
        weight: (out_channels, in_channels, 3, 3), initialised as ``nn.Conv2d``'s.
        bias: (out_channels,) or None.
        dilations: the list of pairs (read-only; change it with :meth:`set_dilations`).
        dilation_pairs: the same pairs as an (out_channels, 2) int64 buffer, saved in the state dict;
            ``load_state_dict`` restores the pairs from it.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, H, W).

    Example:
        >>> conv = InceptionConv2d(4, 3, [(1, 1), (2, 1), (1, 3)])
        >>> conv(torch.randn(2, 4, 9, 7)).shape
        torch.Size([2, 3, 9, 7])
    """

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[Pair], bias: bool = True,
                 *, device=None, dtype=None) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"InceptionConv2d: {name} must be an int >= 1, got {v!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        pairs = check_dilations(dilations, out_channels, "InceptionConv2d")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3, device=device, dtype=dtype))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("dilation_pairs", torch.zeros(out_channels, 2, dtype=torch.long, device=device))
        # the channels sorted by pair, and its inverse (not saved: rebuilt from dilation_pairs)
        self.register_buffer("_order", torch.zeros(out_channels, dtype=torch.long, device=device), persistent=False)
        self.set_dilations(pairs)
        self.reset_parameters()
        self.register_load_state_dict_post_hook(_restore_dilations)

    def reset_parameters(self) -> None:
        # nn.Conv2d's initialisation
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * 9)
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def dilations(self) -> list[Pair]:
        return list(self._pairs)

    def set_dilations(self, dilations: Sequence[Pair]) -> None:
        """Change the dilation pairs (the weights stay)."""
        pairs = check_dilations(dilations, self.out_channels, "InceptionConv2d")
        self._pairs = pairs
        with torch.no_grad():
            self.dilation_pairs.copy_(torch.tensor(pairs, dtype=torch.long))
        order = sorted(range(self.out_channels), key=lambda o: pairs[o])   # stable: runs keep channel order
        self._order.copy_(torch.tensor(order, dtype=torch.long))
        # (pair, start, end): the run of sorted channels that share a pair, one F.conv2d each
        spans, start = [], 0
        for i in range(1, self.out_channels + 1):
            if i == self.out_channels or pairs[order[i]] != pairs[order[start]]:
                spans.append((pairs[order[start]], start, i))
                start = i
        self._spans = spans
        self._sorted = order == list(range(self.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"InceptionConv2d: expected (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        w, b = self.weight, self.bias
        if not self._sorted:
            w = w.index_select(0, self._order)
            b = None if b is None else b.index_select(0, self._order)
        ys = [F.conv2d(x, w[s:e], None if b is None else b[s:e], padding=d, dilation=d)
              for d, s, e in self._spans]
        if len(ys) == 1 and self._sorted:
            return ys[0]
        if self._sorted:
            return torch.cat(ys, 1)
        # one write per output element: each run goes straight to its channels
        out = ys[0].new_empty(x.shape[0], self.out_channels, x.shape[2], x.shape[3])
        for (_, s, e), y in zip(self._spans, ys):
            out.index_copy_(1, self._order[s:e], y)
        return out

    def extra_repr(self) -> str:
        counts: dict[Pair, int] = {}
        for d in self._pairs:
            counts[d] = counts.get(d, 0) + 1
        runs = ", ".join(f"{d}: {n}" for d, n in sorted(counts.items()))
        return (f"{self.in_channels}, {self.out_channels}, kernel_size=(3, 3), dilations={{{runs}}}, "
                f"bias={self.bias is not None}")


def _restore_dilations(module: InceptionConv2d, incompatible_keys) -> None:
    # load_state_dict copied the saved pairs into the buffer; rebuild the runs from them
    module.set_dilations(module.dilation_pairs.tolist())
