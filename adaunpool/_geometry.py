"""Argument checking and the canonical 5-D layout shared by every backend.

Every op works on x of shape (N, C, D, H, W): a 1-d input (N, C, L) is seen as (N, C, 1, 1, L) with
kernel (1, 1, k), a 2-d input as (N, C, 1, H, W). The kernels therefore have one code path for all
ranks, and this module is the single place where user arguments are checked and converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import torch

IntOrTuple = Union[int, Sequence[int]]

DSC_MODES = {"element": 0, "channel": 1}
UNPOOL_MODES = {"mean": 0, "sum": 1}
_LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _tuple(value: IntOrTuple, dims: int, name: str, op: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {dims} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * dims
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {dims} ints, got {value!r}") from None
    if len(out) != dims or not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {dims} ints, got {value!r}")
    return out


def _pad3(t: tuple[int, ...], fill: int) -> list[int]:
    return [fill] * (3 - len(t)) + list(t)


@dataclass(frozen=True)
class Windows:
    """Pooling windows of one call, already checked; all lists are 3 long (D, H, W)."""

    dims: int
    kernel: list[int]
    stride: list[int]
    in_size: list[int]    # the input's spatial size, padded to 3 dims
    out_size: list[int]   # the number of windows along each dim

    @property
    def K(self) -> int:  # noqa: N802 - the paper's name
        return self.kernel[0] * self.kernel[1] * self.kernel[2]

    def spatial_out(self) -> tuple[int, ...]:
        return tuple(self.out_size[3 - self.dims:])


def check_float(t: torch.Tensor, name: str, op: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(
            f"{op}: {name} must be a floating-point tensor (float16, bfloat16, float32 or float64), got {t.dtype}"
        )


def _kernel_stride(kernel_size: IntOrTuple, stride: IntOrTuple | None, dims: int, op: str):
    """Checked (kernel, stride) tuples; stride defaults to the kernel."""
    k = _tuple(kernel_size, dims, "kernel_size", op)
    s = k if stride is None else _tuple(stride, dims, "stride", op)
    if any(v < 1 for v in k):
        raise ValueError(f"{op}: kernel_size must be >= 1 in every dim, got {k}")
    if any(v < 1 for v in s):
        raise ValueError(f"{op}: stride must be >= 1 in every dim, got {s}")
    return k, s


def pool_windows(x: torch.Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None, dims: int, op: str) -> Windows:
    check_float(x, "x", op)
    if x.dim() != dims + 2:
        raise ValueError(f"{op}: x must be {dims + 2}-D {_LAYOUTS[dims]}, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")
    k, s = _kernel_stride(kernel_size, stride, dims, op)
    spatial = tuple(x.shape[2:])
    if any(kv > xv for kv, xv in zip(k, spatial)):
        raise ValueError(f"{op}: kernel_size {k} is larger than the input's spatial size {spatial}")
    out = tuple((xv - kv) // sv + 1 for xv, kv, sv in zip(spatial, k, s))
    return Windows(dims, _pad3(k, 1), _pad3(s, 1), _pad3(spatial, 1), _pad3(out, 1))


def unpool_windows(
    y: torch.Tensor,
    w: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    output_size: Sequence[int] | None,
    dims: int,
    op: str,
) -> Windows:
    check_float(y, "y", op)
    check_float(w, "w", op)
    if y.dim() != dims + 2:
        raise ValueError(f"{op}: y must be {dims + 2}-D {_LAYOUTS[dims]}, got a {y.dim()}-D tensor of shape {tuple(y.shape)}")
    k, s = _kernel_stride(kernel_size, stride, dims, op)
    K = 1
    for v in k:
        K *= v
    out = tuple(y.shape[2:])
    n, c = y.shape[:2]
    expected = (n, "C or 1") + out + (K,)
    if w.dim() != dims + 3 or w.shape[0] != n or w.shape[1] not in (c, 1) or tuple(w.shape[2:-1]) != out or w.shape[-1] != K:
        raise ValueError(
            f"{op}: w must have shape (N, C or 1, *y.shape[2:], K) = {expected} for kernel_size {k}, "
            f"got {tuple(w.shape)}"
        )
    natural = tuple((o - 1) * sv + kv for o, sv, kv in zip(out, s, k))
    if output_size is None:
        size = natural
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == dims + 2:
            size = size[2:]
        if len(size) != dims:
            raise ValueError(f"{op}: output_size must hold {dims} spatial sizes, got {tuple(output_size)}")
        got = tuple((xv - kv) // sv + 1 if xv >= kv else 0 for xv, kv, sv in zip(size, k, s))
        if got != out:
            raise ValueError(
                f"{op}: output_size {size} does not match y: pooling it with kernel_size {k} and stride {s} "
                f"gives {got} windows, y has {out}"
            )
    return Windows(dims, _pad3(k, 1), _pad3(s, 1), _pad3(size, 1), _pad3(out, 1))


def to5d(t: torch.Tensor, dims: int) -> torch.Tensor:
    """(N, C, *spatial[, K]) -> (N, C, D, H, W[, K]) as a view."""
    for _ in range(3 - dims):
        t = t.unsqueeze(2)
    return t


def from5d(t: torch.Tensor, dims: int) -> torch.Tensor:
    for _ in range(3 - dims):
        t = t.squeeze(2)
    return t


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the maths runs in: float64 for float64 storage, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_mode(value: str, modes: dict[str, int], name: str, op: str) -> int:
    if value not in modes:
        raise ValueError(f"{op}: {name} must be one of {sorted(modes)}, got {value!r}")
    return modes[value]


def broadcast_beta(beta, y_shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, dims: int, op: str) -> torch.Tensor:
    """beta as a (possibly expanded) 5-D view of y's shape, in the accumulation dtype.

    A float must lie in [0, 1]. A tensor broadcasts against y and is used as given (autograd flows
    back through the expand, so its gradient has the tensor's own shape).
    """
    if isinstance(beta, torch.Tensor):
        if not beta.is_floating_point():
            raise TypeError(f"{op}: beta must be a float or a floating-point tensor, got {beta.dtype}")
        if beta.device != device:
            raise ValueError(f"{op}: beta is on {beta.device} but x is on {device}")
        try:
            b = torch.broadcast_to(beta.to(dtype), y_shape)
        except RuntimeError:
            raise ValueError(
                f"{op}: beta of shape {tuple(beta.shape)} does not broadcast against the output shape {y_shape}"
            ) from None
    else:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)):
            raise TypeError(f"{op}: beta must be a float in [0, 1] or a tensor, got {type(beta).__name__}")
        if not 0.0 <= float(beta) <= 1.0:
            raise ValueError(f"{op}: beta must lie in [0, 1], got {beta}")
        b = torch.full((), float(beta), dtype=dtype, device=device).expand(y_shape)
    return to5d(b, dims)
