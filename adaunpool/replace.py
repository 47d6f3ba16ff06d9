"""replace_pooling: swap a model's max / average pooling layers for AdaPool."""

from __future__ import annotations

import copy
import warnings
from typing import Sequence, Union

import torch
import torch.nn.functional as TF
from torch import nn

from . import _geometry as g
from .modules import AdaPool1d, AdaPool2d, AdaPool3d, LazyAdaPool1d, LazyAdaPool2d, LazyAdaPool3d

__all__ = ["replace_pooling", "PoolPadding"]

_SUPPORTED = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPOOL = {1: AdaPool1d, 2: AdaPool2d, 3: AdaPool3d}
_LAZY = {1: LazyAdaPool1d, 2: LazyAdaPool2d, 3: LazyAdaPool3d}


def _dims_of(layer: nn.Module) -> int:
    if isinstance(layer, (nn.MaxPool1d, nn.AvgPool1d)):
        return 1
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        return 2
    return 3


class PoolPadding(nn.Module):
    """The padding (and ``ceil_mode`` overhang) of a replaced pooling layer, applied before its AdaPool.

    ``padding`` cells are added on both sides of every spatial dim, filled with zeros
    (``pad_mode="constant"``) or copies of the border (``pad_mode="replicate"``). With ``ceil_mode``,
    the extra cells that PyTorch's last, partial window reaches past the (padded) input are added on
    the far side as copies of the border, so that AdaPool yields exactly PyTorch's output size:
    ``ceil((size + 2 * padding - kernel) / stride) + 1``, less one when that last window would start
    in the right padding.

    Shape:
        - Input: (N, C, *spatial), 1 to 3 spatial dims.
        - Output: (N, C, *padded), ``padded = size + 2 * padding`` (plus the ceil_mode overhang).

    Example:
        >>> import torch
        >>> from adaunpool.replace import PoolPadding
        >>> PoolPadding(2, kernel_size=3, stride=2, padding=1)(torch.randn(1, 1, 8, 8)).shape
        torch.Size([1, 1, 10, 10])
        >>> PoolPadding(2, kernel_size=2, stride=2, ceil_mode=True)(torch.randn(1, 1, 7, 7)).shape
        torch.Size([1, 1, 8, 8])
    """

    def __init__(self, dims: int, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 pad_mode: str = "replicate") -> None:
        super().__init__()
        if pad_mode not in ("constant", "replicate"):
            raise ValueError(f"PoolPadding: pad_mode must be 'constant' or 'replicate', got {pad_mode!r}")
        self.dims = dims
        self.kernel_size = g._tuple(kernel_size, dims, "kernel_size", "PoolPadding")
        self.stride = self.kernel_size if stride is None else g._tuple(stride, dims, "stride", "PoolPadding")
        self.padding = g._tuple(padding, dims, "padding", "PoolPadding")
        self.ceil_mode = bool(ceil_mode)
        self.pad_mode = pad_mode

    def _overhang(self, size: int, k: int, s: int, p: int) -> int:
        span = size + 2 * p
        if not self.ceil_mode or span < k:
            return 0
        out = -(-(span - k) // s) + 1           # ceil division
        if (out - 1) * s >= size + p:            # PyTorch: the last window must start inside input/left pad
            out -= 1
        return max(0, (out - 1) * s + k - span)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dims + 2:
            raise ValueError(f"PoolPadding: expected a {self.dims + 2}-D input, got shape {tuple(x.shape)}")
        if any(self.padding):
            pads = [v for p in reversed(self.padding) for v in (p, p)]
            x = TF.pad(x, pads, mode=self.pad_mode)
        if self.ceil_mode:
            # x already holds the padding; the rule is written for the unpadded size
            extra = [self._overhang(n - 2 * p, k, s, p) for n, k, s, p in
                     zip(x.shape[2:], self.kernel_size, self.stride, self.padding)]
            if any(extra):
                x = TF.pad(x, [v for e in reversed(extra) for v in (0, e)], mode="replicate")
        return x

    def extra_repr(self) -> str:
        return (f"padding={self.padding}, ceil_mode={self.ceil_mode}, pad_mode={self.pad_mode!r}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}")


def _convert(layer: nn.Module, name: str, beta: str, dsc: str, beta_init: float, device, dtype) -> nn.Module:
    dims = _dims_of(layer)
    is_max = isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d))
    where = f"replace_pooling: {name or 'the model'} ({layer!r})"
    if is_max:
        if layer.return_indices:
            raise ValueError(f"{where} has return_indices=True; AdaPool returns no indices (use "
                             "adaunpool.adapool{1,2,3}d(..., return_weights=True) and adaunpool.adaunpool "
                             "instead of max-unpooling), so it cannot be replaced")
        if any(d != 1 for d in g._tuple(layer.dilation, dims, "dilation", "replace_pooling")):
            raise ValueError(f"{where} has dilation={layer.dilation}; AdaPool windows are contiguous, so it "
                             "cannot be matched (leave it out with types=...)")
    elif getattr(layer, "divisor_override", None) is not None:
        raise ValueError(f"{where} has divisor_override={layer.divisor_override}; AdaPool's weights sum to 1, so "
                         "it cannot be matched (leave it out with types=...)")
    kernel = g._tuple(layer.kernel_size, dims, "kernel_size", "replace_pooling")
    no_stride = layer.stride is None or (isinstance(layer.stride, (tuple, list)) and len(layer.stride) == 0)
    stride = kernel if no_stride else g._tuple(layer.stride, dims, "stride", "replace_pooling")
    padding = g._tuple(layer.padding, dims, "padding", "replace_pooling")
    if beta == "channel":
        pool = _LAZY[dims](kernel, stride, dsc=dsc, beta_init=beta_init, device=device, dtype=dtype)
    else:
        pool = _ADAPOOL[dims](kernel, stride, beta="scalar", dsc=dsc, beta_init=beta_init).to(device=device, dtype=dtype)
    if not any(padding) and not layer.ceil_mode:
        return pool
    zero = not is_max and getattr(layer, "count_include_pad", True)
    pad = PoolPadding(dims, kernel, stride, padding, layer.ceil_mode, "constant" if zero else "replicate")
    return nn.Sequential(pad, pool)


def replace_pooling(
    model: nn.Module,
    beta: str = "scalar",
    dsc: str = "channel",
    types: Sequence[type] = _SUPPORTED,
    inplace: bool = True,
    *,
    beta_init: float = 0.5,
    example_input: Union[torch.Tensor, tuple, None] = None,
    return_names: bool = False,
):
    """Swap a model's max / average pooling layers for :class:`~adaunpool.AdaPool2d` (1d / 3d alike).

    Every submodule that is an instance of one of ``types`` (searched recursively) is replaced by an
    AdaPool of the same number of dims, kernel_size and stride, with a learnable beta (starting at
    ``beta_init``); output shapes are unchanged. A pooling module registered under several names is
    replaced by one AdaPool, so the sharing is kept.

    The other pooling arguments:

    * ``padding``: the AdaPool is preceded by a :class:`PoolPadding` in an ``nn.Sequential``. Max
      pooling and ``AvgPool(count_include_pad=False)`` are padded with copies of the border
      (a copy never changes a maximum, and keeps an average of real values); ``AvgPool`` with
      ``count_include_pad=True`` (PyTorch's default) is padded with zeros, as it averages them in.
    * ``ceil_mode=True``: the same ``PoolPadding`` adds the cells that the last, partial window
      reaches past the input, as copies of the border, so the output size matches PyTorch's.
    * ``dilation != 1``, ``return_indices=True``, ``divisor_override``: these cannot be matched; a
      ``ValueError`` names the layer (leave such layers out with ``types``).

    ``beta="channel"`` needs each layer's channel count, which a pooling layer does not know: the
    layers become :class:`~adaunpool.LazyAdaPool2d` (1d / 3d), which read it from their first
    input, the standard lazy-module protocol. Run one forward before building the optimizer, or pass
    ``example_input`` to have one run here (in eval mode, without gradients, so batch-norm
    statistics are untouched). A pooling module that the model's forward reuses at several widths
    then fails with a message saying so; use ``beta="scalar"`` for such models.

    New parameters take the device and floating dtype of the model's first parameter (or buffer).

    Args:
        model: the model; a pooling layer itself is replaced too (use the return value).
        beta: ``"scalar"`` (one beta per layer) or ``"channel"`` (one per channel, inferred lazily).
        dsc: ``"channel"`` or ``"element"``, the eDSCW mode of every AdaPool.
        types: the pooling classes to replace, a subset of max / avg pooling 1d / 2d / 3d.
        inplace: modify ``model`` itself; with False a deep copy is modified and returned.
        beta_init: the initial beta of every AdaPool, strictly inside (0, 1).
        example_input: a tensor (or tuple of forward arguments) to materialise lazy betas at once.
        return_names: also return the list of the replaced layers' names.

    Returns:
        the model with AdaPool layers, and with ``return_names=True`` also the names (as in
        ``named_modules()``) of the replaced layers, in the order they were found.

    Example:
        >>> import torch, torch.nn as nn, adaunpool as au
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3),
        ...                     nn.AvgPool2d(3, stride=2, padding=1))
        >>> net, names = au.replace_pooling(net, return_names=True)
        >>> names
        ['2', '4']
        >>> net(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 8, 7, 7])
    """
    if beta not in ("scalar", "channel"):
        raise ValueError(f"replace_pooling: beta must be 'scalar' or 'channel', got {beta!r}")
    g.check_mode(dsc, g.DSC_MODES, "dsc", "replace_pooling")
    if isinstance(beta_init, bool) or not isinstance(beta_init, (int, float)) or not 0.0 < beta_init < 1.0:
        raise ValueError(f"replace_pooling: beta_init must be a float strictly inside (0, 1), got {beta_init!r}")
    if isinstance(types, type):
        types = (types,)
    types = tuple(types)
    bad = [t for t in types if not (isinstance(t, type) and issubclass(t, _SUPPORTED))]
    if bad:
        raise ValueError(f"replace_pooling: types may only hold max / avg pooling classes "
                         f"({', '.join('nn.' + t.__name__ for t in _SUPPORTED)}), got {bad}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"replace_pooling: model must be an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)

    ref = next(iter(model.parameters()), None)
    if ref is None:
        ref = next(iter(model.buffers()), None)
    device = ref.device if ref is not None else None
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else None

    names: list[str] = []
    memo: dict[int, nn.Module] = {}

    def new_for(layer: nn.Module, name: str) -> nn.Module:
        if id(layer) not in memo:
            memo[id(layer)] = _convert(layer, name, beta, dsc, beta_init, device, dtype)
        names.append(name)
        return memo[id(layer)]

    def visit(module: nn.Module, prefix: str) -> None:
        for child_name, child in list(module.named_children()):
            full = f"{prefix}.{child_name}" if prefix else child_name
            if isinstance(child, types):
                setattr(module, child_name, new_for(child, full))
            else:
                visit(child, full)

    if isinstance(model, types):
        model = new_for(model, "")
    else:
        visit(model, "")
    if not names:
        warnings.warn(f"replace_pooling: the model has no layer of types {[t.__name__ for t in types]}; "
                      "nothing was replaced", stacklevel=2)

    if example_input is not None:
        args = example_input if isinstance(example_input, tuple) else (example_input,)
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            with torch.no_grad():
                model(*args)
        finally:
            for m, training in modes.items():
                m.training = training

    return (model, names) if return_names else model
