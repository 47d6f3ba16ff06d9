"""The self-contained HTML page of ``inter4k evaluate --report DIR`` (``report.html``).

Everything is inside the one file: the CSS inline, the plots (matplotlib, Agg backend) and the crops
as ``data:image/png;base64`` URIs; it loads nothing else, so it can be mailed or archived alone.

Sections: the configuration and warnings; the tables (mean over frames, mean over clips, for frame
interpolation the mean per target time t, per clip);
a per-frame line plot of PSNR-Y (of the first metric computed when PSNR was not) with the clip
boundaries marked; its distribution per method (a box plot, with a histogram for a single method);
for video SR also the temporal values (error flicker, warping error) per frame;
and the crops chosen by :mod:`.crops`, side by side, with the reason each was chosen.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Optional

import numpy as np

from ..metrics.temporal import TEMPORAL_KEYS
from .results import EvaluateResult
from .tables import LABELS, clip_rows, has_t, metric_header, per_t_rows, summary_rows

__all__ = ["report_html", "png_data_uri", "plot_key"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
.warn{color:#8a6d00;background:#fff8db;padding:.3em .6em;border-left:4px solid #e0b000}
.crops{display:flex;flex-wrap:wrap;gap:.6em}figure{margin:0}figcaption{text-align:center;font-size:.9em}
.crops img{width:224px;height:auto;image-rendering:pixelated;border:1px solid #999}
.plot{max-width:100%}code{background:#f3f3f3;padding:0 .2em}
"""


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _image_png(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))  # RGB -> OpenCV's BGR
    if not ok:
        raise RuntimeError("OpenCV could not encode a crop as PNG")
    return buf.tobytes()


def plot_key(result: EvaluateResult) -> Optional[str]:
    """The metric the plots show: PSNR-Y when computed, else the first key with values."""
    for k in ["psnr_y", *result.keys]:
        if k in result.keys and any(f.values.get(k) is not None for m in result.methods for f in m.frames):
            return k
    return None


def _figure(figsize: tuple[float, float], ncols: int = 1):
    """A matplotlib Figure on the Agg canvas, without pyplot (no global state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _per_frame_plot(result: EvaluateResult, key: str) -> tuple[str, bytes]:
    """The line plot of ``key`` per frame, all methods, clips one after the other (title, PNG)."""
    label = LABELS[key]
    fig, (ax,) = _figure((10, 3.6))
    n_inf = 0
    for m in result.methods:
        ys = np.array([np.nan if f.values.get(key) is None else f.values[key] for f in m.frames], dtype=float)
        n_inf += int(np.isinf(ys).sum())
        ys[~np.isfinite(ys)] = np.nan
        ax.plot(np.arange(len(ys)), ys, marker="." if len(ys) <= 200 else None, linewidth=1, label=m.name)
    start = 0
    for c in result.primary.clips[:-1]:
        start += c.frames
        ax.axvline(start - 0.5, color="#999", linewidth=0.6, linestyle=":")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("frame (all clips in order; dotted lines separate clips)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if len(result.methods) > 1:
        ax.legend(fontsize=8)
    title = f"{label} per frame"
    if n_inf:
        title += f" ({n_inf} infinite values, identical frames, not drawn)"
    ax.set_title(title)
    return title, _figure_png(fig)


def _plots(result: EvaluateResult, key: str) -> list[tuple[str, bytes]]:
    label = LABELS[key]
    out = [_per_frame_plot(result, key)]
    # distribution
    data = []
    for m in result.methods:
        v = np.array([f.values[key] for f in m.frames if f.values.get(key) is not None], dtype=float)
        data.append(v[np.isfinite(v)])
    if any(len(d) for d in data):
        single = len(result.methods) == 1
        fig, axes = _figure((10 if single else 8, 3.6), 2 if single else 1)
        ax = axes[0]
        ax.boxplot([d if len(d) else [np.nan] for d in data])
        ax.set_xticks(range(1, len(data) + 1), [m.name for m in result.methods], rotation=20 if len(data) > 4 else 0)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        if single:
            axes[1].hist(data[0], bins=min(30, max(5, len(data[0]) // 3)), color="#4477aa")
            axes[1].set_xlabel(label)
            axes[1].set_ylabel("frames")
        title = f"distribution of {label} over frames"
        fig.suptitle(title)
        out.append((title, _figure_png(fig)))
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def report_html(result: EvaluateResult) -> str:
    """The page as a string (see the module docstring)."""
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>inter4k evaluate: {e(result.task)}</title><style>{_CSS}</style></head><body>",
             f"<h1>inter4k evaluate: {e(result.task)} ({e(result.mode)} mode)</h1>"]
    cfg_rows = [[k, "" if v is None else str(v)] for k, v in result.config.items() if k != "clips"]
    cfg_rows.append(["time", f"{result.seconds:.1f} s"])
    parts.append(_table(["setting", "value"], cfg_rows))
    for w in result.warnings:
        parts.append(f"<p class='warn'>warning: {e(w)}</p>")
    header = ["method", "frames", "clips", *metric_header(result)]
    parts.append("<h2>Mean over all frames</h2>" + _table(header, summary_rows(result, "frames")))
    parts.append("<h2>Mean over clips</h2>" + _table(header, summary_rows(result, "clips")))
    if has_t(result):
        parts.append("<h2>Mean per target time t</h2>" + _table(["method", "t", "frames", *metric_header(result)],
                                                                  per_t_rows(result)))
    parts.append("<h2>Per clip</h2>" + _table(["method", "clip", "frames", *metric_header(result)],
                                              clip_rows(result)))
    key = plot_key(result)
    parts.append("<h2>Plots</h2>")
    if key is None:
        parts.append("<p>No values to plot.</p>")
    else:
        # video SR: the temporal values per frame too (undefined at each clip's first frame: a gap)
        temporal = [_per_frame_plot(result, k) for k in TEMPORAL_KEYS if k in result.keys]
        for title, png in _plots(result, key) + temporal:
            parts.append(f"<figure><img class='plot' alt='{e(title)}' src='{png_data_uri(png)}'>"
                         f"<figcaption>{e(title)}</figcaption></figure>")
    parts.append("<h2>Crops</h2>")
    if not result.crops:
        parts.append("<p>No crops.</p>")
    for c in result.crops:
        y, x, h, w = c.box
        at = "" if c.t is None else f" (t = {e(c.t)})"
        parts.append(f"<h3>{e(c.title)}</h3><p>{e(c.why)}: clip <code>{e(c.clip)}</code>, frame {c.frame}{at}, "
                     f"{w}x{h} pixels at x={x}, y={y} of the reference frame (shown enlarged, pixels kept "
                     f"sharp).</p><div class='crops'>")
        for label, img in c.images.items():
            parts.append(f"<figure><img alt='{e(label)}' src='{png_data_uri(_image_png(img))}'>"
                         f"<figcaption>{e(label)}</figcaption></figure>")
        parts.append("</div>")
    parts.append("<p>Per-frame values: <code>report.csv</code> and <code>report.json</code> beside this file.</p>")
    parts.append("</body></html>\n")
    return "".join(parts)
