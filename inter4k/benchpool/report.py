"""The retention benchmark's report: ``report.json``, ``report.md`` and ``report.png``.

Every file is written under a temporary name beside it (:func:`inter4k.atomic.writing`) and renamed
when complete, so a crash leaves either the old file or the new one, never half of one. The figure
uses matplotlib's Agg canvas directly (no pyplot, so no global backend switch and no display).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import atomic
from .methods import BASELINE, BETA_GRID

FILES = {"json": "report.json", "markdown": "report.md", "figure": "report.png"}
TILES_PER_ROW = 9


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def mean_rows(result, kind: bool = True) -> list[list[str]]:
    """Rows of the mean table as strings: method (with its pool and restore columns when ``kind``), then
    PSNR / SSIM / Δ per factor. Shared by the markdown and the CLI's rich table."""
    by_key = {(s["factor"], s["method"]): s for s in result.summary()}
    rows = []
    for m in result.methods:
        row = [m["label"]] + ([m["pool"], m["restore"]] if kind else [])
        for f in result.factors:
            s = by_key[(f, m["key"])]
            row += [_fmt(s["psnr"], ".2f"), _fmt(s["ssim"], ".4f"), _fmt(s["psnr_vs_baseline"], "+.2f")]
        rows.append(row)
    return rows


def mean_header(result, kind: bool = True) -> list[str]:
    """Column names of the mean table (Δ: PSNR minus avg + nearest's)."""
    head = ["method"] + (["pool", "restore"] if kind else [])
    for f in result.factors:
        head += [f"x{f} PSNR", f"x{f} SSIM", f"x{f} Δ"]
    return head


def per_image_rows(result, factor: int, metric: str = "psnr") -> list[list[str]]:
    """One row per method: its label, then ``metric`` per image at ``factor``, then the mean."""
    spec = ".2f" if metric == "psnr" else ".4f"
    rows = []
    for m in result.methods:
        vals = result.values(factor, m["key"], metric)
        rows.append([m["label"]] + [_fmt(v, spec) for v in vals] + [_fmt(result.mean(factor, m["key"], metric), spec)])
    return rows


def _md_table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    align = [":--"] * left + ["--:"] * (len(head) - left)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def best_beta_line(result) -> str:
    grid = ", ".join(f"{b:g}" for b in BETA_GRID)
    parts = [f"x{f}: β={b['beta']:g} ({b['psnr']:.2f} dB)" for f in result.factors for b in [result.best_beta(f)]]
    return f"best adaPool β of the grid {{{grid}}} by mean PSNR (picked on these same images): " + ", ".join(parts)


def markdown(result) -> str:
    """The report as markdown: settings, the mean table, per-image PSNR and SSIM tables."""
    names = [i["name"] for i in result.images]
    sizes = ", ".join(f"{i['name']} {i['size'][0]}x{i['size'][1]}" for i in result.images)
    out = [
        "# Information retention: pool by k (kernel = stride = k), back to full size, compare",
        "",
        f"- images ({len(result.images)}): {result.source} -- {sizes}",
        f"- factors: {', '.join(f'x{f}' for f in result.factors)}; float32 RGB in [0, 1] on the CPU, "
        f"adaunpool backend `{result.backend}`, torch {result.torch}, {result.threads} threads, "
        f"{result.seconds:.1f} s",
        "- PSNR: RGB, data range 1 (`inter4k.metrics.psnr`, y_channel=False); SSIM: "
        + ("mean of the R, G, B SSIMs (`inter4k.metrics.ssim`, y_channel=False)" if result.ssim_available
           else "not available in this install"),
        f"- Δ: mean PSNR minus that of `{BASELINE}` (average pooling + nearest upsampling)",
        f"- {best_beta_line(result)}",
        "",
        "## Mean over the images",
        "",
        _md_table(mean_header(result), mean_rows(result), left=3),
    ]
    for metric, title, present in (("psnr", "PSNR (dB)", True), ("ssim", "SSIM", result.ssim_available)):
        if not present:
            continue
        for f in result.factors:
            out += ["", f"## {title} per image, x{f}", "",
                    _md_table(["method"] + names + ["mean"], per_image_rows(result, f, metric))]
    out += [
        "",
        "## Rules",
        "",
        "- adaPool family (β 0.25 / 0.5 / 0.75, eM = β 0, eDSCW = β 1, dsc \"channel\"): adaUnPool "
        "(mode \"mean\") with the pooling's own weights.",
        "- every other pooling: nearest upsampling; avg also bilinear (align_corners=False); max also "
        "`F.max_unpool2d` (max back at its place, 0 elsewhere).",
        "- stochastic pooling: the test-time form sum p_i x_i, p_i = x_i / sum x. LP: the power average "
        "(mean x^p)^(1/p). Mixed: 0.5 avg + 0.5 max (add), or [avg, max] then a fixed 1x1 averaging conv "
        "(concat; the same numbers). Median of an even window: the mean of the two middle values. "
        "SoftPool: the authors' PyTorch formula avg_pool(x e^x) / avg_pool(e^x).",
        "",
    ]
    return "\n".join(out)


def _tile_title(label: str, psnr) -> str:
    """Two lines of the method ("pool" / "+ restore") and its PSNR, to fit a narrow tile."""
    pool, _, restore = label.partition(" + ")
    return "\n".join([pool, f"+ {restore}" if restore else ""] + ([f"{psnr:.2f} dB"] if psnr is not None else []))


def _figure(result, path: Path) -> None:
    """Mean PSNR per method and factor (horizontal bars), and a centre crop of the first image per method."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    methods, factors = result.methods, result.factors
    tile_rows = -(-(1 + len(methods)) // TILES_PER_ROW) * len(factors)
    bars_h, tile_h = 0.32 * len(methods) * max(1, len(factors)) ** 0.5 + 1.7, 2.3
    height = bars_h + tile_h * tile_rows
    fig = Figure(figsize=(16, height), dpi=100)
    FigureCanvasAgg(fig)
    split = 1 - bars_h / height  # the figure fraction where the bars end and the tiles begin
    ax = fig.add_gridspec(1, 1, left=0.24, right=0.97, top=1 - 0.5 / height, bottom=split + 1.0 / height)
    ax = fig.add_subplot(ax[0, 0])
    height_each = 0.8 / len(factors)
    ys = np.arange(len(methods))
    for j, f in enumerate(factors):
        means = [result.mean(f, m["key"]) or 0.0 for m in methods]
        bars = ax.barh(ys + (j - (len(factors) - 1) / 2) * height_each, means, height_each, label=f"x{f}")
        ax.bar_label(bars, fmt="%.2f", fontsize=6.5, padding=2)
    ax.set_yticks(ys)
    ax.set_yticklabels([m["label"] for m in methods], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean PSNR, RGB (dB)")
    ax.set_title(f"pool (kernel = stride = k), back to full size: mean over {len(result.images)} images",
                 fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    tiles = fig.add_gridspec(tile_rows, TILES_PER_ROW, left=0.01, right=0.99, top=split - 0.1 / height,
                             bottom=0.1 / height, hspace=0.75, wspace=0.08)
    image = result.crops.get("image")
    per_factor = tile_rows // len(factors)
    for j, f in enumerate(factors):
        entries = [(f"{image}\n(original, x{f} row)", result.crops.get("original"), None)]
        entries += [(m["label"], result.crops.get(f, {}).get(m["key"]), m["key"]) for m in methods]
        for t, (label, tile, key) in enumerate(entries):
            cell = fig.add_subplot(tiles[j * per_factor + t // TILES_PER_ROW, t % TILES_PER_ROW])
            cell.set_axis_off()
            if tile is None:
                continue
            cell.imshow(tile, interpolation="nearest")
            if key is None:
                cell.set_title(label, fontsize=7)
                continue
            score = next((r["psnr"] for r in result.rows
                          if r["image"] == image and r["factor"] == f and r["method"] == key), None)
            cell.set_title(f"x{f} " + _tile_title(label, score), fontsize=7)
    fig.savefig(path, format="png")


def write_report(result, folder) -> dict[str, Path]:
    """Write report.json, report.md and report.png into ``folder`` (created); returns kind -> path.

    Also sets ``result.files`` (before the JSON is written, so the JSON lists its siblings).
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--report must be a folder, got the file {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / name for kind, name in FILES.items()}
    result.files = {kind: str(p) for kind, p in paths.items()}
    with atomic.writing(paths["figure"]) as tmp:
        _figure(result, tmp)
    atomic.write_bytes(paths["markdown"], markdown(result))
    atomic.write_bytes(paths["json"], json.dumps(result.to_dict(), indent=2) + "\n")
    return paths
