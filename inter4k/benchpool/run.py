"""The information-retention benchmark: pool, bring back to full size, compare with the original.

For every image, every factor k and every method of :data:`~inter4k.benchpool.methods.METHODS`:
pool with kernel = stride = k, restore to full size by the method's rule, and score the
reconstruction against the original with RGB PSNR (:func:`inter4k.metrics.psnr`, ``y_channel=False``)
and RGB SSIM (:func:`inter4k.metrics.ssim.ssim`, ``y_channel=False``: the mean of the R, G, B SSIMs),
``crop_border=0``. Images are float32 RGB in [0, 1] on the CPU; each is cropped at the bottom / right
to a multiple of the least common multiple of the factors, so every factor sees the same pixels and
whole windows only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..metrics import psnr
from ..progress import ProgressFn, Reporter, item_form
from .images import load_images
from .methods import BASELINE, METHODS

DEFAULT_FACTORS = (2, 4)
CROP = 96  # side of the centre crop that the report's figure shows, in full-size pixels
SSIM_MIN_SIDE = 11  # SSIM's Gaussian window

Callback = Callable[[int, int, str], None]


def check_factors(factors) -> tuple[int, ...]:
    """The factors as a sorted tuple of distinct ints >= 2 (one int is accepted too)."""
    if isinstance(factors, (int, np.integer)) and not isinstance(factors, bool):
        factors = (int(factors),)
    try:
        values = list(factors)
    except TypeError:
        raise TypeError(f"factors must be an int or a sequence of ints, got {factors!r}") from None
    if not values:
        raise ValueError("factors is empty; give at least one pooling factor (e.g. 2 or 4)")
    for f in values:
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 2:
            raise ValueError(f"every pooling factor must be an integer >= 2, got {f!r}")
    return tuple(sorted({int(f) for f in values}))


@dataclass
class BenchPoolResult:
    """What :func:`bench_pool` measured.

    Attributes:
        source: where the images came from.
        images: ``{"name", "size": [w, h]}`` per image (the size after the crop).
        factors: the pooling factors.
        methods: ``Method.describe()`` of every method, in table order.
        rows: one ``{"image", "factor", "method", "psnr", "ssim", "seconds"}`` per measurement (method
            = its key; ssim None when the image is under 11 px, too small for SSIM's window).
        backend: ``adaunpool.backend_info()["backend"]``; ``torch``: its version; ``threads``: CPU threads.
        seconds: the wall time of the whole run.
        files: report file kind -> path, when a report was written.
        crops: factor -> method key -> (crop, crop, 3) uint8, plus ``"original"``: the figure's tiles.
    """

    source: str
    images: list[dict]
    factors: list[int]
    methods: list[dict]
    rows: list[dict]
    backend: str
    torch: str
    threads: int
    seconds: float
    files: dict[str, str] = field(default_factory=dict)
    crops: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def ssim_available(self) -> bool:
        """Whether any measurement has an SSIM (images under 11 px have none)."""
        return any(r["ssim"] is not None for r in self.rows)

    def values(self, factor: int, method: str, metric: str = "psnr") -> list[float]:
        """``metric`` of ``method`` at ``factor``, one value per image (None where not measured)."""
        return [r[metric] for r in self.rows if r["factor"] == factor and r["method"] == method]

    def mean(self, factor: int, method: str, metric: str = "psnr") -> Optional[float]:
        """The mean of :meth:`values` over the images; None when any image lacks the metric."""
        vals = self.values(factor, method, metric)
        if not vals or any(v is None for v in vals):
            return None
        return float(np.mean(vals))

    def best_beta(self, factor: int) -> dict:
        """The adaPool beta of the grid with the highest mean PSNR at ``factor`` (picked on these images)."""
        ada = [m for m in self.methods if m["beta"] is not None]
        best = max(ada, key=lambda m: self.mean(factor, m["key"]))
        return {"beta": best["beta"], "method": best["key"], "psnr": self.mean(factor, best["key"])}

    def summary(self) -> list[dict]:
        """Per factor and method: mean PSNR / SSIM and the PSNR difference to avg + nearest."""
        out = []
        for f in self.factors:
            base = self.mean(f, BASELINE) if any(m["key"] == BASELINE for m in self.methods) else None
            for m in self.methods:
                mean_psnr = self.mean(f, m["key"])
                out.append({"factor": f, "method": m["key"], "label": m["label"], "psnr": mean_psnr,
                            "ssim": self.mean(f, m["key"], "ssim"),
                            "psnr_vs_baseline": None if base is None or mean_psnr is None else mean_psnr - base})
        return out

    def to_dict(self) -> dict:
        """Everything but the figure's crops, as plain JSON-able data."""
        return {
            "source": self.source,
            "images": self.images,
            "factors": self.factors,
            "metrics": {"psnr": "inter4k.metrics.psnr, RGB (y_channel=False), crop_border=0, data range 1",
                        "ssim": ("inter4k.metrics.ssim.ssim, RGB (y_channel=False): mean of the R, G, B SSIMs, "
                                 "crop_border=0" if self.ssim_available else None)},
            "baseline": BASELINE,
            "methods": self.methods,
            "mean": self.summary(),
            "best_beta": {str(f): self.best_beta(f) for f in self.factors},
            "rows": self.rows,
            "backend": self.backend,
            "device": "cpu",
            "dtype": "float32",
            "torch": self.torch,
            "threads": self.threads,
            "seconds": self.seconds,
            "files": self.files,
        }


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255.0).contiguous()


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return t[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


def _centre_box(h: int, w: int, multiple: int) -> tuple[slice, slice]:
    side = max(multiple, min(CROP, h, w) // multiple * multiple)
    top = (h - side) // 2 // multiple * multiple
    left = (w - side) // 2 // multiple * multiple
    return slice(top, top + side), slice(left, left + side)


def bench_pool(images=None, factors: Sequence[int] = DEFAULT_FACTORS, report=None,
               callback: Optional[Callback] = None, on_progress: Optional[ProgressFn] = None) -> BenchPoolResult:
    """Run the retention benchmark (see the module docstring) and optionally write a report.

    Args:
        images: a folder of PNG / JPEG images; None: scikit-image's photographs
            (:data:`~inter4k.benchpool.images.DEFAULT_IMAGES`).
        factors: pooling factors (kernel = stride), default (2, 4).
        report: a folder to write ``report.json``, ``report.md`` and ``report.png`` to (atomically).
        on_progress: gets a :class:`~inter4k.progress.Progress` (stage "bench-pool", unit "measurements",
            the label "<image> x<factor> <method>" as its note) after every measurement (images x
            factors x methods); ``callback(done, total, label)`` is its older form.

    Returns:
        a :class:`BenchPoolResult`.
    """
    import adaunpool as au

    factors = check_factors(factors)
    loaded, source = load_images(images)
    multiple = math.lcm(*factors)
    from ..metrics import ssim

    total = len(loaded) * len(factors) * len(METHODS)
    t_start = time.perf_counter()
    rows: list[dict] = []
    infos: list[dict] = []
    crops: dict[Any, Any] = {}
    done = 0
    report_progress = Reporter(on_progress, unit="measurements", legacy=callback,
                               form=item_form("label")).stage("bench-pool")
    with torch.no_grad():
        backend = au.backend_info()["backend"]
        for index, (name, rgb) in enumerate(loaded):
            h, w = rgb.shape[0] // multiple * multiple, rgb.shape[1] // multiple * multiple
            if h == 0 or w == 0:
                raise ValueError(f"image {name} ({rgb.shape[1]}x{rgb.shape[0]}) is smaller than the pooling "
                                 f"window {multiple}x{multiple}")
            infos.append({"name": name, "size": [w, h]})
            x = _to_tensor(rgb[:h, :w])
            box = _centre_box(h, w, multiple)
            if index == 0:
                crops["image"] = name
                crops["original"] = rgb[box]
            for f in factors:
                for method in METHODS:
                    t0 = time.perf_counter()
                    u = method.reconstruct(x, f)
                    seconds = time.perf_counter() - t0
                    p = float(psnr(u, x, y_channel=False)[0])
                    s = None
                    if min(h, w) >= SSIM_MIN_SIDE:
                        s = float(ssim(u, x, crop_border=0, y_channel=False)[0])
                    rows.append({"image": name, "factor": f, "method": method.key, "psnr": p, "ssim": s,
                                 "seconds": seconds})
                    if index == 0:
                        crops.setdefault(f, {})[method.key] = _to_uint8(u[..., box[0], box[1]])
                    done += 1
                    label = f"{name} x{f} {method.label}"
                    report_progress(done, total, label, label=label)
    result = BenchPoolResult(
        source=source, images=infos, factors=list(factors), methods=[m.describe() for m in METHODS], rows=rows,
        backend=backend, torch=torch.__version__, threads=torch.get_num_threads(),
        seconds=time.perf_counter() - t_start, crops=crops)
    if report is not None:
        from .report import write_report

        write_report(result, report)  # fills result.files
    return result
