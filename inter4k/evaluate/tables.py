"""The rows of the evaluation tables, shared by report.md, report.html and the CLI's tables.

A module of its own so that :mod:`.report` and :mod:`.html` both import it and neither imports the
other (no import circle).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Optional

from .results import EvaluateResult

__all__ = ["LABELS", "format_value", "t_label", "has_t", "summary_rows", "per_t_rows", "clip_rows", "metric_header"]

#: Column titles of the per-frame values.
LABELS = {"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "grid_y": "grid-Y (levels)", "psnr_rgb": "PSNR-RGB (dB)",
          "lpips": "LPIPS", "flicker_y": "flicker-Y (levels)", "warp_y": "warp-Y (levels)"}

# values shown with 2 decimals (dB, 8-bit levels); the others (SSIM, LPIPS) with 4
_TWO_DECIMALS = ("psnr_y", "psnr_rgb", "grid_y", "flicker_y", "warp_y")


def format_value(key: str, value: Optional[float]) -> str:
    """A value for tables: "-" for None, "inf" for infinite PSNR, 2 decimals (dB, levels) or 4.

    Examples:
        >>> format_value("psnr_y", 31.234), format_value("ssim_y", 0.91234), format_value("grid_y", None)
        ('31.23', '0.9123', '-')
    """
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    return f"{value:.2f}" if key in _TWO_DECIMALS else f"{value:.4f}"


def t_label(t: float) -> str:
    """A target time as the fraction it is (t = k / span).

    Examples:
        >>> t_label(0.5), t_label(0.375), t_label(1 / 3)
        ('1/2', '3/8', '1/3')
    """
    f = Fraction(float(t)).limit_denominator(64)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def metric_header(result: EvaluateResult) -> list[str]:
    """The column titles of the result's values, in report order."""
    return [LABELS[k] for k in result.keys]


def has_t(result: EvaluateResult) -> bool:
    """Whether the frames have target times (frame interpolation's model mode)."""
    return any(f.t is not None for m in result.methods for f in m.frames)


def summary_rows(result: EvaluateResult, over: str = "frames") -> list[list[str]]:
    """One row per method: name, frames, clips, the means over frames (or over clips)."""
    rows = []
    for m in result.methods:
        means = m.mean_over_frames if over == "frames" else m.mean_over_clips
        rows.append([m.name, str(len(m.frames)), str(len(m.clips)), *(format_value(k, means[k]) for k in result.keys)])
    return rows


def per_t_rows(result: EvaluateResult) -> list[list[str]]:
    """One row per method and target time: name, t (as a fraction), frames, the metric means."""
    return [[m.name, t_label(g["t"]), str(g["frames"]), *(format_value(k, g[k]) for k in result.keys)]
            for m in result.methods for g in m.per_t]


def clip_rows(result: EvaluateResult, methods=None) -> list[list[str]]:
    """One row per method (default: all) and clip: method, clip, frames, the clip's means."""
    return [[m.name, c.name, str(c.frames), *(format_value(k, c.means[k]) for k in result.keys)]
            for m in (result.methods if methods is None else methods) for c in m.clips]
