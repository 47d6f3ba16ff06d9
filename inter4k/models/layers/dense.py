"""Dense weighted normalised shortcuts (DSNet): a residual stage whose identity shortcuts see every earlier output.

In a stage of blocks F_1..F_L with input x_0, block l computes

    x_l = F_l(x_{l-1}) + sum_{i<l} w_{l,i} * N(x_i)                     (DS)

with N a normalisation and w_{l,i} learned per-channel weights, in place of ResNet's x_{l-1} + F_l(x_{l-1}).
DS2 also puts a weighted normalised shortcut around the block's second 3x3 conv:
F_l(x) = conv2(h) + v_l * N(h), h = ReLU(conv1(x)).

N has no block index, so a :class:`DSStage` normalises each x_i once and every later block reuses it.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_ints
from .residual import ResBlock

__all__ = ["NORMS", "ChannelNorm", "make_norm", "DenseShortcut", "DSBlock", "DSStage", "ResidualBranch",
           "to_ds_stage"]

#: The normalisations N of the shortcuts (none has a learned affine: the shortcut weights scale them).
NORMS = ("layer", "group", "batch", "none")


class ChannelNorm(nn.Module):
    """Normalise each pixel's C-vector to zero mean and unit variance (LayerNorm over channels, no affine).

    Statistics of one sample and one position only, so the result is the same in training and
    inference, for any batch, and for a tile of an image as for the whole image (NAFNet's and
    Restormer's choice for image restoration).
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).square().mean(1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


def make_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation N of a dense shortcut, without affine: one of :data:`NORMS`.

    ``"layer"`` (default): :class:`ChannelNorm`, per pixel over channels. ``"group"``:
    ``GroupNorm(min(8, C), C)``-style per-sample statistics over the whole image (the output at a
    pixel then depends on the whole image, so tiled inference differs from whole-image inference).
    ``"batch"``: ``BatchNorm2d`` as DSNet has it (batch statistics in training, running ones in eval).
    ``"none"``: the identity (weighted shortcuts without normalisation).
    """
    if kind == "layer":
        return ChannelNorm()
    if kind == "group":
        groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
        return nn.GroupNorm(groups, channels, affine=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; known: {', '.join(NORMS)}")


def _check_int(v, lo: int, name: str, who: str) -> int:
    check_ints(who, (name, v, lo))
    return v


class DenseShortcut(nn.Module):
    """The weighted, normalised sum ``sum_i weight[i] * N_i(features[i])`` of a stage's earlier outputs.

    Args:
        channels: C of every feature.
        num_inputs: how many features ``forward`` takes (block l of a stage takes l: x_0..x_{l-1}).
        norm: the normalisation N, one of :data:`NORMS` (each input has its own module; only
            ``"batch"`` has state).

    Attributes:
        weight: (num_inputs, channels), the per-channel weights; it starts at 1 for the last (most
            recent) input and 0 for the others, so a DS stage starts as a residual stage whose
            shortcut is normalised.

    Shape:
        ``forward(features)``: a list of ``num_inputs`` tensors (N, C, H, W) -> (N, C, H, W).

    Example:
        >>> ds = DenseShortcut(8, 3)
        >>> ds([torch.randn(2, 8, 5, 5) for _ in range(3)]).shape
        torch.Size([2, 8, 5, 5])
    """

    def __init__(self, channels: int, num_inputs: int, *, norm: str = "layer") -> None:
        super().__init__()
        self.channels = _check_int(channels, 1, "channels", "DenseShortcut")
        self.num_inputs = _check_int(num_inputs, 1, "num_inputs", "DenseShortcut")
        check_choice("DenseShortcut", "norm", norm, NORMS)
        self.norm = norm
        self.norms = nn.ModuleList(make_norm(norm, channels) for _ in range(num_inputs))
        weight = torch.zeros(num_inputs, channels)
        weight[-1] = 1.0
        self.weight = nn.Parameter(weight)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        if not isinstance(features, (list, tuple)) or len(features) != self.num_inputs:
            n = len(features) if isinstance(features, (list, tuple)) else type(features).__name__
            raise ValueError(f"DenseShortcut: expected a list of {self.num_inputs} features, got {n}")
        out = None
        for i, (x, norm) in enumerate(zip(features, self.norms)):
            if x.dim() != 4 or x.shape[1] != self.channels:
                raise ValueError(f"DenseShortcut: feature {i} must be (N, {self.channels}, H, W), got {tuple(x.shape)}")
            term = norm(x) * self.weight[i].view(1, -1, 1, 1)
            out = term if out is None else out + term
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, num_inputs={self.num_inputs}, norm={self.norm!r}"


class ResidualBranch(nn.Module):
    """F(x) of a residual block ``block(x) = x + F(x)``, computed as ``block(x) - x`` (the block's weights, shared)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) - x


class DSBlock(nn.Module):
    """One block of a DS stage: ``x_l = branch(x_{l-1}) + shortcut([N(x_0), ..., N(x_{l-1})])``.

    Args:
        channels: C.
        index: l >= 1, the block's place in its stage (its shortcut takes l features).
        kind: ``"ds"`` or ``"ds2"``.
        branch: the residual branch F (C -> C); default conv3x3 - ReLU - conv3x3 (attributes
            ``conv1``, ``act``, ``conv2``). ``"ds2"`` needs the default (it adds a shortcut inside it).
        norm: N of the inner DS2 shortcut, one of :data:`NORMS` (the stage normalises the x_i).
        res_scale: the branch's output is multiplied by it (as ``ResBlock``'s).

    ``forward(x, normed)`` takes x_{l-1} and the normalised features N(x_0)..N(x_{l-1}); the block's
    ``shortcut`` is a ``DenseShortcut(norm="none")`` because the stage has already normalised them.
    """

    def __init__(self, channels: int, index: int, kind: str = "ds", branch: Optional[nn.Module] = None, *,
                 norm: str = "layer", res_scale: float = 1.0) -> None:
        super().__init__()
        if kind not in ("ds", "ds2"):
            raise ValueError(f"DSBlock: kind must be 'ds' or 'ds2', got {kind!r}")
        self.kind = kind
        self.res_scale = float(res_scale)
        if branch is None:
            self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
            self.act = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        elif kind == "ds2":
            raise ValueError("DSBlock: kind='ds2' adds a shortcut inside the default conv-ReLU-conv branch, "
                             "so it cannot take a branch of its own")
        else:
            self.branch = branch
        if kind == "ds2":
            # v * N(h) around conv2; v starts at 0, so a DS2 block starts as a DS block
            self.inner = DenseShortcut(channels, 1, norm=norm)
            nn.init.zeros_(self.inner.weight)
        self.shortcut = DenseShortcut(channels, _check_int(index, 1, "index", "DSBlock"), norm="none")

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "branch"):
            r = self.branch(x)
        else:
            h = self.act(self.conv1(x))
            r = self.conv2(h)
            if self.kind == "ds2":
                r = r + self.inner([h])
        return r * self.res_scale if self.res_scale != 1.0 else r

    def forward(self, x: torch.Tensor, normed: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.residual(x) + self.shortcut(list(normed))


class DSStage(nn.Module):
    """A stage of :class:`DSBlock` s: (N, C, H, W) -> x_L (the input itself when there are no blocks).

    Args:
        blocks: DSBlocks, block l (from 1) with ``index=l``.
        channels: C.
        norm: N, one of :data:`NORMS`; one module per feature x_0..x_{L-1}, applied once.
    """

    def __init__(self, blocks: Iterable[DSBlock], channels: int, *, norm: str = "layer") -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        for l, b in enumerate(self.blocks, 1):
            if not isinstance(b, DSBlock) or b.shortcut.num_inputs != l:
                raise ValueError(f"DSStage: block {l} must be a DSBlock with index={l}, got {b!r}"[:300])
        check_choice("DSStage", "norm", norm, NORMS)
        self.channels, self.norm = _check_int(channels, 1, "channels", "DSStage"), norm
        self.norms = nn.ModuleList(make_norm(norm, channels) for _ in self.blocks)

    @classmethod
    def build(cls, channels: int, blocks: int, kind: str = "ds", *, norm: str = "layer",
              res_scale: float = 1.0) -> "DSStage":
        """A stage of ``blocks`` default DSBlocks (conv3x3 - ReLU - conv3x3 branches)."""
        _check_int(blocks, 0, "blocks", "DSStage")
        return cls([DSBlock(channels, l, kind, norm=norm, res_scale=res_scale) for l in range(1, blocks + 1)],
                   channels, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"DSStage: expected (N, {self.channels}, H, W), got {tuple(x.shape)}")
        normed = []
        for block, norm in zip(self.blocks, self.norms):
            normed.append(norm(x))
            x = block(x, normed)
        return x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, norm={self.norm!r}"


def to_ds_stage(blocks: Iterable[nn.Module], channels: int, *, norm: str = "layer") -> DSStage:
    """Turn a residual stage (blocks computing ``x + F(x)``, C -> C) into a DS stage sharing their weights.

    A block with the layout of :class:`~inter4k.models.layers.ResBlock` (``conv1``, ``act``,
    ``conv2``, ``res_scale``) gives its convs to a default-branch DSBlock; any other block becomes a
    :class:`ResidualBranch` (F(x) = block(x) - x). Only the shortcuts are new (and start as the
    normalised identity, see :class:`DenseShortcut`).
    """
    ds_blocks = []
    for l, block in enumerate(blocks, 1):
        if isinstance(block, ResBlock):
            b = DSBlock(channels, l, "ds", norm=norm, res_scale=block.res_scale)
            b.conv1, b.act, b.conv2 = block.conv1, block.act, block.conv2
        else:
            b = DSBlock(channels, l, "ds", ResidualBranch(block), norm=norm)
        ds_blocks.append(b)
    return DSStage(ds_blocks, channels, norm=norm)
