"""One frame pair -> its metric values, with LPIPS built once (or its absence explained once)."""

from __future__ import annotations

from typing import Iterable, Optional, Union

import torch

from .results import METRIC_KEYS

__all__ = ["METRICS", "parse_metrics", "Scorer"]

#: The metric options (``--metrics``); "psnr" gives psnr_y and psnr_rgb, "ssim" ssim_y, "lpips" lpips.
METRICS = ("psnr", "ssim", "lpips")
#: The side of grid_y's tiles: the worst tile of this size is the value.
GRID_TILE = 64


def parse_metrics(metrics: Union[str, Iterable[str]]) -> tuple[str, ...]:
    """``"psnr,ssim"`` or ``["psnr", "ssim"]`` -> ``("psnr", "ssim")`` (checked, duplicates dropped).

    Examples:
        >>> parse_metrics("SSIM, psnr,psnr")
        ('ssim', 'psnr')
    """
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    out: list[str] = []
    for item in items:
        m = str(item).strip().lower()
        if not m:
            continue
        if m not in METRICS:
            raise ValueError(f"unknown metric {item!r}; choose from {', '.join(METRICS)}")
        if m not in out:
            out.append(m)
    if not out:
        raise ValueError(f"no metrics given; choose from {', '.join(METRICS)}")
    return tuple(out)


class Scorer:
    """Computes the chosen metrics of a (pred, ref) frame pair (conventions: docs/EVALUATE.md#metrics).

    Args:
        metrics: a subset of :data:`METRICS`.
        crop_border: pixels removed from each side before PSNR / SSIM (and as
            :func:`inter4k.metrics.compute_metrics` does for LPIPS).
        device: where the metrics run: LPIPS (default: CUDA when available), and PSNR / SSIM when it is
            not the CPU (the frames are moved there).
        lpips_net: the LPIPS backbone ("alex", docs/EVALUATE.md#lpips).
        grid_period: SR's scale: adds ``grid_y``, the worst 64x64 tile's s-periodic Y error
            (:func:`inter4k.metrics.grid.grid_error`, period ``grid_period``) of the border-cropped frame;
            None for frames smaller than one tile. None: no ``grid_y``.

    When LPIPS is asked for but cannot be built (:class:`inter4k.metrics.LPIPSUnavailable`, e.g. no
    backbone weights offline), ``lpips_available`` is False, ``lpips_reason`` says why and every
    frame's ``lpips`` is None; the other metrics are computed as usual.
    """

    def __init__(self, metrics: Iterable[str] = METRICS, crop_border: int = 0,
                 device: Union[None, str, torch.device] = None, lpips_net: str = "alex",
                 grid_period: Optional[int] = None):
        self.metrics = parse_metrics(metrics)
        if grid_period is not None and (isinstance(grid_period, bool) or not isinstance(grid_period, int)
                                        or grid_period < 2):
            raise ValueError(f"grid_period must be an int >= 2 or None, got {grid_period!r}")
        self.grid_period = grid_period
        if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
            raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
        self.crop_border = crop_border
        # PSNR / SSIM run where the frames are sent: on a GPU when one is used (UHD SSIM in float64 is slow
        # on a CPU); None keeps them where they are.
        self.device = None if device is None else torch.device(device)
        self.keys = [k for k, m in METRIC_KEYS.items() if m in self.metrics or (m == "grid" and grid_period)]
        self.lpips = None
        self.lpips_available: Optional[bool] = None
        self.lpips_reason: Optional[str] = None
        if "lpips" in self.metrics:
            from ..metrics import LPIPS, LPIPSUnavailable

            try:
                self.lpips = LPIPS(net=lpips_net, device=device)
                self.lpips_available = True
            except LPIPSUnavailable as exc:
                self.lpips_available, self.lpips_reason = False, " ".join(str(exc).split())
        # what compute_metrics is asked for: LPIPS only when it can run
        self._run = tuple(m for m in self.metrics if m != "lpips" or self.lpips is not None)

    def __call__(self, pred: torch.Tensor, ref: torch.Tensor) -> dict[str, Optional[float]]:
        """The values of one pair of (3, H, W) (or (1, 3, H, W)) frames in [0, 1], keyed as :attr:`keys`."""
        from ..metrics import compute_metrics

        if pred.dim() == 3:
            pred, ref = pred.unsqueeze(0), ref.unsqueeze(0)
        if self.device is not None and self.device.type != "cpu":
            pred, ref = pred.to(self.device), ref.to(self.device)
        out = compute_metrics(pred, ref, metrics=self._run, crop_border=self.crop_border, lpips=self.lpips)
        values = {k: (float(out[k].reshape(-1)[0]) if k in out else None) for k in self.keys}
        if self.grid_period is not None:
            values["grid_y"] = self._grid(pred, ref)
        return values

    def _grid(self, pred: torch.Tensor, ref: torch.Tensor) -> Optional[float]:
        """``grid_y`` of a (1, 3, H, W) pair: the border cropped as for PSNR, None below one tile."""
        from ..metrics.grid import grid_error

        c = self.crop_border
        if c:
            pred, ref = pred[..., c:-c, c:-c], ref[..., c:-c, c:-c]
        if min(pred.shape[-2:]) < GRID_TILE:
            return None
        return float(grid_error(pred, ref, self.grid_period, GRID_TILE)["max"][0])


def psnr_gain(values: dict, base: dict) -> float:
    """One method's PSNR-Y minus a baseline's on the same frame (NaN when PSNR was not computed)."""
    a, b = values.get("psnr_y"), base.get("psnr_y")
    if a is None or b is None:
        return float("nan")
    return a - b


def oom_warnings(runners: dict) -> list[str]:
    """One line per out-of-memory retry of each method's TileRunner (``{name: runner}``)."""
    lines = []
    for name, runner in runners.items():
        for e in runner.events:
            lines.append(f"{name}: out of memory with "
                         f"{'the whole frame' if e.failed_tile is None else f'{e.failed_tile}px tiles'}; "
                         f"retried with {f'{e.new_tile}px tiles' if e.new_tile else 'whole frames'}")
    return lines
