"""The pool-then-restore methods that the retention benchmark compares.

A method pools an image with kernel = stride = ``factor`` and brings the result back to full size.
The rule for bringing it back:

* **adaPool family** (adaPool at beta 0.25 / 0.5 / 0.75, eM = beta 0, eDSCW = beta 1; dsc "channel"):
  :func:`adaunpool.adaunpool2d` (``mode="mean"``) with the pooling's own weights
  (``return_weights=True``), docs/OPS.md#adaunpool. eM and eDSCW are adaPool at beta 0 and 1
  (docs/OPS.md#adapool), so their matching unpool is adaUnPool with their own weights; their pooled
  values alone, restored with nearest, are the "SoftPool + nearest" row (eM's weighting) and not
  repeated.
* **every other pooling**: nearest-neighbour upsampling (each pooled value fills its window);
  average pooling also with bilinear (``align_corners=False``, the half-pixel grid that a k x k
  average sits on), and max pooling also with ``F.max_unpool2d`` (the max back at its position, 0
  elsewhere -- the unpooling of SegNet-like decoders, shown for what it keeps, not to win).

The reconstruction runs on float images in [0, 1] and is not quantised to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .windows import lp_pool2d, median_pool2d, mixed_pool2d, softpool2d, stochastic_pool2d

__all__ = ["Method", "METHODS", "BETA_GRID", "BASELINE", "LP_POWERS", "get_method"]

# The betas of the adaPool rows; the best of them (by mean PSNR) is reported per factor.
BETA_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
BASELINE = "avg-nearest"  # the "vs" column of the tables
LP_POWERS = (2, 3)


@dataclass(frozen=True)
class Method:
    """One pool-then-restore pipeline.

    Attributes:
        key: a short id (``"ada-0.5"``, ``"avg-nearest"``...), used in JSON and the report.
        label: the row's name in tables and figures.
        pool: the pooling's name; ``restore``: how it comes back to full size.
        pool_fn: ``fn(x, factor) -> y``, the pooled tensor (N, C, H // factor, W // factor).
        reconstruct: ``fn(x, factor) -> u`` with x (N, C, H, W), H and W multiples of ``factor``, and u
            of x's shape.
        beta: adaPool's beta for the adaPool family, else None.
    """

    key: str
    label: str
    pool: str
    restore: str
    pool_fn: Callable[[torch.Tensor, int], torch.Tensor]
    reconstruct: Callable[[torch.Tensor, int], torch.Tensor]
    beta: Optional[float] = None

    def describe(self) -> dict:
        """The method as plain data (no functions), for JSON."""
        return {"key": self.key, "label": self.label, "pool": self.pool, "restore": self.restore, "beta": self.beta}


def _nearest(y: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(y, size=size, mode="nearest")


def _bilinear(y: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def _adapool(beta: float):
    def pool(x: torch.Tensor, k: int) -> torch.Tensor:
        import adaunpool as au

        return au.adapool2d(x, k, beta=beta, dsc="channel")
    return pool


def _ada_roundtrip(beta: float):
    def reconstruct(x: torch.Tensor, k: int) -> torch.Tensor:
        import adaunpool as au

        y, w = au.adapool2d(x, k, beta=beta, dsc="channel", return_weights=True)
        return au.adaunpool2d(y, w, k, mode="mean", output_size=x.shape[2:])
    return reconstruct


def _then(pool: Callable, restore: Callable):
    def reconstruct(x: torch.Tensor, k: int) -> torch.Tensor:
        return restore(pool(x, k), x.shape[2:])
    return reconstruct


def _max_unpool(x: torch.Tensor, k: int) -> torch.Tensor:
    y, idx = F.max_pool2d(x, k, return_indices=True)
    return F.max_unpool2d(y, idx, k, output_size=x.shape[2:])


def _ada_method(beta: float) -> Method:
    if beta == 0.0:
        key, label, pool = "em", "eM (adaPool β=0) + adaUnPool", "eM"
    elif beta == 1.0:
        key, label, pool = "edscw", "eDSCW (adaPool β=1) + adaUnPool", "eDSCW"
    else:
        key, label, pool = f"ada-{beta:g}", f"adaPool β={beta:g} + adaUnPool", f"adaPool β={beta:g}"
    return Method(key, label, pool, "adaUnPool", _adapool(beta), _ada_roundtrip(beta), beta=beta)


def _nearest_method(key: str, label: str, pool: str, pool_fn: Callable) -> Method:
    return Method(key, f"{label} + nearest", pool, "nearest", pool_fn, _then(pool_fn, _nearest))


def _build() -> tuple[Method, ...]:
    ada_order = [0.5] + [b for b in BETA_GRID if b not in (0.5, 0.0, 1.0)] + [0.0, 1.0]
    methods = [_ada_method(b) for b in ada_order]
    methods += [
        _nearest_method("avg-nearest", "avg", "avg", F.avg_pool2d),
        Method("avg-bilinear", "avg + bilinear", "avg", "bilinear", F.avg_pool2d, _then(F.avg_pool2d, _bilinear)),
        Method("max-unpool", "max + max_unpool", "max", "max_unpool", F.max_pool2d, _max_unpool),
        _nearest_method("max-nearest", "max", "max", F.max_pool2d),
        _nearest_method("stochastic-nearest", "stochastic (test-time)", "stochastic", stochastic_pool2d),
        _nearest_method("median-nearest", "median", "median", median_pool2d),
        _nearest_method("mixed-add-nearest", "mixed avg/max (add)", "mixed add",
                        lambda x, k: mixed_pool2d(x, k, "add")),
        _nearest_method("mixed-concat-nearest", "mixed avg/max (concat)", "mixed concat",
                        lambda x, k: mixed_pool2d(x, k, "concat")),
    ]
    methods += [_nearest_method(f"lp{p}-nearest", f"LP p={p}", f"LP p={p}", lambda x, k, p=p: lp_pool2d(x, k, p))
                for p in LP_POWERS]
    methods.append(_nearest_method("softpool-nearest", "SoftPool", "SoftPool", softpool2d))
    return tuple(methods)


METHODS: tuple[Method, ...] = _build()


def get_method(key: str) -> Method:
    """The method with this key; a ValueError lists the known keys."""
    for m in METHODS:
        if m.key == key:
            return m
    raise ValueError(f"unknown pooling method {key!r}; known: {', '.join(m.key for m in METHODS)}")
