"""The results of ``inter4k evaluate``: per frame, per clip and overall, for one or several methods.

Values are Python floats keyed by the metric names of :mod:`inter4k.metrics` (``psnr_y``, ``ssim_y``,
``psnr_rgb``, ``lpips``); ``lpips`` is None when LPIPS was asked for but is unavailable. PSNR of
identical images is ``inf``, and so is every mean that includes one.

In JSON (:func:`json_safe`) the non-finite floats become the strings ``"inf"``, ``"-inf"`` and
``"nan"``, so the files are strict JSON that any parser reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from ..metrics.temporal import TEMPORAL_KEYS

__all__ = ["METRIC_KEYS", "FrameRecord", "ClipSummary", "MethodResult", "Crop", "EvaluateResult", "mean_values",
           "json_safe"]

#: Every per-image value in report order, with the metric option that produces it ("grid": SR model
#: mode's grid_y, always computed there, see :class:`~inter4k.evaluate.scoring.Scorer`).
METRIC_KEYS: dict[str, str] = {"psnr_y": "psnr", "ssim_y": "ssim", "grid_y": "grid", "psnr_rgb": "psnr",
                               "lpips": "lpips"}
# video SR adds the temporal values of each frame after the first of its clip: TEMPORAL_KEYS (flicker_y, warp_y)


@dataclass
class FrameRecord:
    """One compared frame: its clip, index in the clip, name (an image file name or ``#<index>``); for
    frame interpolation also its time ``t`` between the two input frames, whose clip indices are
    ``inputs``."""

    clip: str
    index: int
    name: str
    values: dict[str, Optional[float]]
    t: Optional[float] = None
    inputs: Optional[tuple[int, int]] = None

    def to_dict(self) -> dict:
        extra = {} if self.t is None else {"t": self.t, "inputs": None if self.inputs is None else list(self.inputs)}
        return {"clip": self.clip, "frame": self.index, "name": self.name, **extra, **self.values}


def mean_values(rows: Iterable[dict[str, Optional[float]]], keys: Iterable[str]) -> dict[str, Optional[float]]:
    """The mean of each key over ``rows`` (None where any row has None, or where there are no rows).
    A temporal key (:data:`~inter4k.metrics.temporal.TEMPORAL_KEYS`) is None at each clip's first frame,
    where it is undefined, not missing: its mean is over the rows that have it.

    Examples:
        >>> mean_values([{"a": 1.0, "b": None}, {"a": 3.0, "b": None}], ["a", "b"])
        {'a': 2.0, 'b': None}
        >>> mean_values([{"a": float("inf")}, {"a": 3.0}], ["a"])
        {'a': inf}
        >>> mean_values([{"flicker_y": None}, {"flicker_y": 2.0}, {"flicker_y": 4.0}], ["flicker_y"])
        {'flicker_y': 3.0}
    """
    rows = list(rows)
    out: dict[str, Optional[float]] = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if k in TEMPORAL_KEYS:
            vals = [v for v in vals if v is not None]
        out[k] = None if not vals or any(v is None for v in vals) else math.fsum(vals) / len(vals)
    return out


@dataclass
class ClipSummary:
    """A clip's frames count and its per-metric means (over its frames)."""

    name: str
    frames: int
    means: dict[str, Optional[float]]
    pred: Optional[str] = None   # where its frames came from (a path), or the method's name
    ref: Optional[str] = None

    def to_dict(self) -> dict:
        return {"name": self.name, "pred": self.pred, "ref": self.ref, "frames": self.frames, **self.means}


@dataclass
class MethodResult:
    """All values of one method (the model, a baseline, or the given predictions)."""

    name: str
    keys: list[str]
    frames: list[FrameRecord] = field(default_factory=list)
    clips: list[ClipSummary] = field(default_factory=list)

    @property
    def mean_over_frames(self) -> dict[str, Optional[float]]:
        return mean_values((f.values for f in self.frames), self.keys)

    @property
    def mean_over_clips(self) -> dict[str, Optional[float]]:
        return mean_values((c.means for c in self.clips), self.keys)

    @property
    def per_t(self) -> list[dict]:
        """Frame interpolation: ``[{"t", "frames", <metric means>}]`` over the frames of each target
        time, in ascending t (empty when no frame has a t)."""
        groups: dict[float, list[dict]] = {}
        for f in self.frames:
            if f.t is not None:
                groups.setdefault(f.t, []).append(f.values)
        return [{"t": t, "frames": len(rows), **mean_values(rows, self.keys)} for t, rows in sorted(groups.items())]

    def close_clip(self, name: str, pred: Optional[str] = None, ref: Optional[str] = None) -> ClipSummary:
        """Summarise the frames recorded for clip ``name`` (call once, after its last frame)."""
        rows = []
        for f in reversed(self.frames):  # a clip's frames are the last ones recorded
            if f.clip != name:
                break
            rows.append(f.values)
        rows.reverse()
        summary = ClipSummary(name, len(rows), mean_values(rows, self.keys), pred, ref)
        self.clips.append(summary)
        return summary

    def to_dict(self) -> dict:
        per_t = self.per_t
        return {
            "name": self.name,
            "frames": len(self.frames),
            "clips": len(self.clips),
            "mean_over_frames": self.mean_over_frames,
            "mean_over_clips": self.mean_over_clips,
            **({"per_t": per_t} if per_t else {}),
            "per_clip": [c.to_dict() for c in self.clips],
            "per_frame": [f.to_dict() for f in self.frames],
        }


@dataclass
class Crop:
    """A region shown side by side in the HTML report: ``images`` maps a label (e.g. "LR (nearest)",
    "bicubic", the model, "ground truth") to an (h, w, 3) uint8 array, all of one size."""

    title: str
    why: str
    clip: str
    frame: int
    box: tuple[int, int, int, int]   # (y, x, height, width) in the reference frame
    images: dict[str, Any]
    t: Optional[str] = None          # frame interpolation: the target's time, e.g. "1/2"

    def to_dict(self) -> dict:
        return {"title": self.title, "why": self.why, "clip": self.clip, "frame": self.frame,
                **({} if self.t is None else {"t": self.t}), "box": list(self.box), "panels": list(self.images)}


@dataclass
class EvaluateResult:
    """What :func:`inter4k.evaluate.evaluate` returns (``to_dict()`` is report.json's content).

    ``mode`` is "pairs" (given predictions against references) or "model" (a model and the baselines
    on a dataset); ``methods`` the rows of the table, the primary one (the predictions, or the model)
    first; ``keys`` the per-image values reported; ``lpips_reason`` why LPIPS is None when it is.
    """

    task: str
    mode: str
    config: dict
    keys: list[str]
    methods: list[MethodResult]
    lpips_available: Optional[bool] = None   # None: LPIPS not asked for
    lpips_reason: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    crops: list[Crop] = field(default_factory=list)
    seconds: float = 0.0
    report_files: dict[str, Path] = field(default_factory=dict)

    @property
    def primary(self) -> MethodResult:
        return self.methods[0]

    def method(self, name: str) -> MethodResult:
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(f"no method {name!r}; have {', '.join(m.name for m in self.methods)}")

    def to_dict(self) -> dict:
        return {
            "format": "inter4k-evaluate/1",
            "task": self.task,
            "mode": self.mode,
            "config": self.config,
            "metrics": list(self.keys),
            "lpips_status": None if self.lpips_available is None else
            {"available": self.lpips_available, "reason": self.lpips_reason},
            "primary": self.primary.name,
            "methods": {m.name: m.to_dict() for m in self.methods},
            "crops": [c.to_dict() for c in self.crops],
            "warnings": list(self.warnings),
            "seconds": self.seconds,
            "report_files": {k: str(v) for k, v in self.report_files.items()},
        }


def json_safe(value: Any) -> Any:
    """``value`` with inf / -inf / nan floats as strings and paths as str (strict JSON).

    Examples:
        >>> json_safe({"a": [float("inf"), 1.5, None]})
        {'a': ['inf', 1.5, None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
