"""nn.Module wrappers of the functional ops, with a learnable beta kept in [0, 1].

Every module is a thin shell around one function of :mod:`adaunpool.functional`, which carries the
maths and the full docstring. The 1-d, 2-d and 3-d variants share one base class per op and differ
only in the number of spatial dims and the function they call.

The learnable ``beta`` of :class:`AdaPool2d` (and 1d/3d) is ``sigmoid(beta_logit)``: the optimizer
moves an unconstrained ``beta_logit``, so beta can never leave [0, 1] (the original release clamped
it with a call that did nothing). Its shape is one scalar, one value per channel, or one value per
output location.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from . import _geometry as g
from . import functional as F

IntOrTuple = Union[int, Sequence[int]]
BetaSpec = Union[str, Sequence[int]]

__all__ = [
    "AdaPool1d", "AdaPool2d", "AdaPool3d",
    "LazyAdaPool1d", "LazyAdaPool2d", "LazyAdaPool3d",
    "EDSCWPool1d", "EDSCWPool2d", "EDSCWPool3d",
    "EMPool1d", "EMPool2d", "EMPool3d",
    "AdaUnPool1d", "AdaUnPool2d", "AdaUnPool3d",
]

# Text pieces that the per-dimension docstrings are filled with.
_D = {
    1: dict(layout="(N, C, L)", out="(N, C, L_out)", sizes="L", ex_in="(2, 3, 8)", ex_out="[2, 3, 4]",
            ex_loc="(4,)", ex_chan="(1, 3, 1)", ex_w="[2, 3, 4, 2]", fn="adapool1d", ufn="adaunpool1d"),
    2: dict(layout="(N, C, H, W)", out="(N, C, H_out, W_out)", sizes="H, W", ex_in="(2, 3, 8, 8)",
            ex_out="[2, 3, 4, 4]", ex_loc="(4, 4)", ex_chan="(1, 3, 1, 1)", ex_w="[2, 3, 4, 4, 4]",
            fn="adapool2d", ufn="adaunpool2d"),
    3: dict(layout="(N, C, D, H, W)", out="(N, C, D_out, H_out, W_out)", sizes="D, H, W",
            ex_in="(2, 3, 4, 8, 8)", ex_out="[2, 3, 2, 4, 4]", ex_loc="(2, 4, 4)", ex_chan="(1, 3, 1, 1, 1)",
            ex_w="[2, 3, 2, 4, 4, 8]", fn="adapool3d", ufn="adaunpool3d"),
}

_SHAPE = """
    Shape:
        - Input: {layout}.
        - Output: {out}, each output size ``(size - kernel_size) // stride + 1``."""


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _check_geometry(kernel_size: IntOrTuple, stride: Optional[IntOrTuple], dims: int, op: str):
    """Check kernel_size and stride once, at construction; returns them as tuples."""
    k = g._tuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None else g._tuple(stride, dims, "stride", op)
    if any(v < 1 for v in k):
        raise ValueError(f"{op}: kernel_size must be >= 1 in every dim, got {k}")
    if any(v < 1 for v in s):
        raise ValueError(f"{op}: stride must be >= 1 in every dim, got {s}")
    return k, s


def _fmt(t: tuple[int, ...]):
    return t[0] if len(set(t)) == 1 else t


class _PoolNd(nn.Module):
    """kernel_size / stride handling shared by every pooling module."""

    _dims: int

    def __init__(self, kernel_size: IntOrTuple, stride: Optional[IntOrTuple] = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = _check_geometry(kernel_size, stride, self._dims, type(self).__name__)

    def extra_repr(self) -> str:
        return f"kernel_size={_fmt(self.kernel_size)}, stride={_fmt(self.stride)}"


# ---------------------------------------------------------------------------------------- adaPool

class _AdaPoolNd(_PoolNd):
    _fn = None  # the functional op, set by each subclass (a staticmethod)

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: Optional[IntOrTuple] = None,
        beta: BetaSpec = "scalar",
        channels: Optional[int] = None,
        dsc: str = "channel",
        beta_init: float = 0.5,
        return_weights: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride)
        name = type(self).__name__
        g.check_mode(dsc, g.DSC_MODES, "dsc", name)
        if isinstance(beta_init, bool) or not isinstance(beta_init, (int, float)) or not 0.0 < beta_init < 1.0:
            raise ValueError(
                f"{name}: beta_init must be a float strictly inside (0, 1) (beta = sigmoid(beta_logit)), "
                f"got {beta_init!r}"
            )
        if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
            raise ValueError(f"{name}: channels must be a positive int or None, got {channels!r}")
        if isinstance(beta, str):
            if beta == "scalar":
                shape: tuple[int, ...] = ()
            elif beta == "channel":
                if channels is None:
                    raise ValueError(f"{name}: beta='channel' needs channels=C (the number of input channels)")
                shape = (1, channels) + (1,) * self._dims
            else:
                raise ValueError(
                    f"{name}: beta must be 'scalar', 'channel' or a tuple of {self._dims} ints (the output "
                    f"spatial size, for one beta per output location), got {beta!r}"
                )
            self.beta_mode: BetaSpec = beta
        else:
            try:
                loc = tuple(beta)
            except TypeError:
                loc = None
            if (loc is None or len(loc) != self._dims
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in loc)):
                raise ValueError(
                    f"{name}: beta must be 'scalar', 'channel' or a tuple of {self._dims} positive ints (the "
                    f"output spatial size, for one beta per output location), got {beta!r}"
                )
            shape = (1, 1) + loc
            self.beta_mode = loc
        self.channels = channels
        self.dsc = dsc
        self.beta_init = float(beta_init)
        self.return_weights = bool(return_weights)
        self.beta_logit = nn.Parameter(torch.empty(shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.beta_logit.fill_(_logit(self.beta_init))

    @property
    def beta(self) -> torch.Tensor:
        """The fusion weight in [0, 1]: ``sigmoid(beta_logit)``, shaped to broadcast against the output."""
        return torch.sigmoid(self.beta_logit)

    def _check_input(self, x: torch.Tensor) -> None:
        name = type(self).__name__
        if self.channels is not None and isinstance(x, torch.Tensor) and x.dim() >= 2 and x.shape[1] != self.channels:
            hint = ""
            if self.beta_mode == "channel":
                hint = (" (its per-channel beta has that many entries; a pooling module reused at several "
                        "widths needs beta='scalar' or one module per use)")
            raise ValueError(f"{name}: expected an input with {self.channels} channels{hint}, "
                             f"got shape {tuple(x.shape)}")
        if isinstance(self.beta_mode, tuple):
            out = g.pool_windows(x, self.kernel_size, self.stride, self._dims, name).spatial_out()
            if out != self.beta_mode:
                raise ValueError(
                    f"{name}: beta holds one value per output location for an output of spatial size "
                    f"{self.beta_mode}, but this input of shape {tuple(x.shape)} pools to {out}"
                )

    def forward(self, x: torch.Tensor):
        self._check_input(x)
        return type(self)._fn(x, self.kernel_size, self.stride, beta=self.beta, dsc=self.dsc,
                              return_weights=self.return_weights)

    def extra_repr(self) -> str:
        beta = self.beta_mode if isinstance(self.beta_mode, tuple) else repr(self.beta_mode)
        s = f"{super().extra_repr()}, beta={beta}"
        if self.channels is not None:
            s += f", channels={self.channels}"
        s += f", dsc={self.dsc!r}, beta_init={self.beta_init}"
        if self.return_weights:
            s += ", return_weights=True"
        return s


_ADAPOOL_DOC = """adaPool over {dims}-d windows with a learnable beta. See :func:`adaunpool.{fn}`.

    Holds ``beta_logit``, a parameter of the shape that ``beta`` selects; the fusion weight is
    ``beta = sigmoid(beta_logit)``, so it stays in [0, 1] whatever the optimizer does. It starts at
    ``beta_init``.

    Args:
        kernel_size: the window size, an int or a tuple of {dims} ints.
        stride: the step between windows; defaults to ``kernel_size``.
        beta: ``"scalar"`` (one beta), ``"channel"`` (one per channel, needs ``channels``), or a tuple
            of {dims} ints, the output's spatial size, for one beta per output location (the input
            must then always pool to that size).
        channels: the number of input channels; required for ``beta="channel"``, checked against the
            input whenever given.
        dsc: ``"channel"`` or ``"element"``, see :func:`adaunpool.{fn}`.
        beta_init: the initial beta, strictly inside (0, 1).
        return_weights: also return the window weights W (N, C, *out, K), e.g. for
            :class:`AdaUnPool{dims}d`.
""" + _SHAPE + """

    Example:
        >>> import torch, adaunpool as au
        >>> x = torch.randn{ex_in}
        >>> pool = au.AdaPool{dims}d(2, beta="channel", channels=3)
        >>> pool(x).shape, tuple(pool.beta.shape)
        (torch.Size({ex_out}), {ex_chan})
        >>> pool = au.AdaPool{dims}d(2, beta={ex_loc}, return_weights=True)
        >>> y, w = pool(x)
        >>> w.shape
        torch.Size({ex_w})
    """


class AdaPool1d(_AdaPoolNd):
    __doc__ = _ADAPOOL_DOC.format(dims=1, **_D[1])
    _dims = 1
    _fn = staticmethod(F.adapool1d)


class AdaPool2d(_AdaPoolNd):
    __doc__ = _ADAPOOL_DOC.format(dims=2, **_D[2])
    _dims = 2
    _fn = staticmethod(F.adapool2d)


class AdaPool3d(_AdaPoolNd):
    __doc__ = _ADAPOOL_DOC.format(dims=3, **_D[3])
    _dims = 3
    _fn = staticmethod(F.adapool3d)


# ------------------------------------------------------------------ adaPool with lazy channel count

class _LazyAdaPoolMixin(LazyModuleMixin):
    """beta="channel" with the channel count taken from the first input (torch's lazy-module protocol)."""

    cls_to_become = None

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: Optional[IntOrTuple] = None,
        dsc: str = "channel",
        beta_init: float = 0.5,
        return_weights: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(kernel_size, stride, beta="channel", channels=1, dsc=dsc, beta_init=beta_init,
                         return_weights=return_weights)
        self.channels = None
        self.beta_logit = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params():
            super().reset_parameters()

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            name = type(self).__name__
            g.check_float(x, "x", name)
            if x.dim() != self._dims + 2:
                raise ValueError(f"{name}: x must be {self._dims + 2}-D {g._LAYOUTS[self._dims]}, "
                                 f"got shape {tuple(x.shape)}")
            with torch.no_grad():
                self.beta_logit.materialize((1, x.shape[1]) + (1,) * self._dims)
                self.reset_parameters()
        self.channels = int(self.beta_logit.shape[1])  # also right after a load_state_dict


_LAZY_DOC = """:class:`AdaPool{dims}d` with ``beta="channel"`` whose channel count is read from the first input.

    Until its first forward (or a ``load_state_dict``), ``beta_logit`` is an
    :class:`~torch.nn.parameter.UninitializedParameter`; the first forward materialises it with
    shape ``(1, C{ones})`` filled with ``logit(beta_init)`` and the module becomes an
    :class:`AdaPool{dims}d`. As with every lazy module, run one forward before building the
    optimizer. Used by :func:`adaunpool.replace_pooling` for ``beta="channel"``.
""" + _SHAPE + """

    Example:
        >>> import torch, adaunpool as au
        >>> pool = au.LazyAdaPool{dims}d(2)
        >>> pool(torch.randn{ex_in}).shape, type(pool).__name__, tuple(pool.beta.shape)
        (torch.Size({ex_out}), 'AdaPool{dims}d', {ex_chan})
    """


class LazyAdaPool1d(_LazyAdaPoolMixin, AdaPool1d):
    __doc__ = _LAZY_DOC.format(dims=1, ones=", 1", **_D[1])
    cls_to_become = AdaPool1d


class LazyAdaPool2d(_LazyAdaPoolMixin, AdaPool2d):
    __doc__ = _LAZY_DOC.format(dims=2, ones=", 1, 1", **_D[2])
    cls_to_become = AdaPool2d


class LazyAdaPool3d(_LazyAdaPoolMixin, AdaPool3d):
    __doc__ = _LAZY_DOC.format(dims=3, ones=", 1, 1, 1", **_D[3])
    cls_to_become = AdaPool3d


# ------------------------------------------------------------------------------- eDSCW and eM

class _EDSCWPoolNd(_PoolNd):
    _fn = None

    def __init__(self, kernel_size: IntOrTuple, stride: Optional[IntOrTuple] = None, dsc: str = "channel") -> None:
        super().__init__(kernel_size, stride)
        g.check_mode(dsc, g.DSC_MODES, "dsc", type(self).__name__)
        self.dsc = dsc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return type(self)._fn(x, self.kernel_size, self.stride, dsc=self.dsc)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dsc={self.dsc!r}"


class _EMPoolNd(_PoolNd):
    _fn = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return type(self)._fn(x, self.kernel_size, self.stride)


_EDSCW_DOC = """eDSCW pooling over {dims}-d windows (adaPool with beta = 1). See :func:`adaunpool.{fn}`.

    Holds no parameters: ``kernel_size``, ``stride`` (defaults to ``kernel_size``) and ``dsc``
    (``"channel"`` or ``"element"``).
""" + _SHAPE + """

    Example:
        >>> import torch, adaunpool as au
        >>> au.EDSCWPool{dims}d(2)(torch.randn{ex_in}).shape
        torch.Size({ex_out})
    """

_EM_DOC = """eM (SoftPool) pooling over {dims}-d windows (adaPool with beta = 0). See :func:`adaunpool.{fn}`.

    Holds no parameters: ``kernel_size`` and ``stride`` (defaults to ``kernel_size``).
""" + _SHAPE + """

    Example:
        >>> import torch, adaunpool as au
        >>> au.EMPool{dims}d(2)(torch.randn{ex_in}).shape
        torch.Size({ex_out})
    """


class EDSCWPool1d(_EDSCWPoolNd):
    __doc__ = _EDSCW_DOC.format(dims=1, **_D[1])
    _dims = 1
    _fn = staticmethod(F.edscwpool1d)


class EDSCWPool2d(_EDSCWPoolNd):
    __doc__ = _EDSCW_DOC.format(dims=2, **_D[2])
    _dims = 2
    _fn = staticmethod(F.edscwpool2d)


class EDSCWPool3d(_EDSCWPoolNd):
    __doc__ = _EDSCW_DOC.format(dims=3, **_D[3])
    _dims = 3
    _fn = staticmethod(F.edscwpool3d)


class EMPool1d(_EMPoolNd):
    __doc__ = _EM_DOC.format(dims=1, **_D[1])
    _dims = 1
    _fn = staticmethod(F.empool1d)


class EMPool2d(_EMPoolNd):
    __doc__ = _EM_DOC.format(dims=2, **_D[2])
    _dims = 2
    _fn = staticmethod(F.empool2d)


class EMPool3d(_EMPoolNd):
    __doc__ = _EM_DOC.format(dims=3, **_D[3])
    _dims = 3
    _fn = staticmethod(F.empool3d)


# ------------------------------------------------------------------------------------- adaUnPool

class _AdaUnPoolNd(_PoolNd):
    _fn = None

    def __init__(self, kernel_size: IntOrTuple, stride: Optional[IntOrTuple] = None, mode: str = "mean") -> None:
        super().__init__(kernel_size, stride)
        g.check_mode(mode, g.UNPOOL_MODES, "mode", type(self).__name__)
        self.mode = mode

    def forward(self, y: torch.Tensor, w: torch.Tensor, output_size: Optional[Sequence[int]] = None) -> torch.Tensor:
        return type(self)._fn(y, w, self.kernel_size, self.stride, mode=self.mode, output_size=output_size)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"


_UNPOOL_DOC = """adaUnPool over {dims}-d windows: spreads pooled values back with window weights. See :func:`adaunpool.{ufn}`.

    Holds no parameters: ``kernel_size``, ``stride`` (defaults to ``kernel_size``) and ``mode``
    (``"mean"`` or ``"sum"``). ``forward(y, w, output_size=None)`` takes the pooled values y, the
    weights w (N, C or 1, *y.shape[2:], K) of an adaPool with the same windows, and optionally the
    spatial size of the result.

    Shape:
        - y: {out}; w: (N, C or 1, *y.shape[2:], K), K = prod(kernel_size).
        - Output: {layout}, by default ``(out - 1) * stride + kernel_size`` along each dim.

    Example:
        >>> import torch, adaunpool as au
        >>> x = torch.randn{ex_in}
        >>> y, w = au.AdaPool{dims}d(2, return_weights=True)(x)
        >>> au.AdaUnPool{dims}d(2)(y, w).shape == x.shape
        True
    """


class AdaUnPool1d(_AdaUnPoolNd):
    __doc__ = _UNPOOL_DOC.format(dims=1, **_D[1])
    _dims = 1
    _fn = staticmethod(F.adaunpool1d)


class AdaUnPool2d(_AdaUnPoolNd):
    __doc__ = _UNPOOL_DOC.format(dims=2, **_D[2])
    _dims = 2
    _fn = staticmethod(F.adaunpool2d)


class AdaUnPool3d(_AdaUnPoolNd):
    __doc__ = _UNPOOL_DOC.format(dims=3, **_D[3])
    _dims = 3
    _fn = staticmethod(F.adaunpool3d)
