"""The report files of ``inter4k evaluate --report DIR`` (format: ``docs/EVALUATE.md``).

- ``report.json``: :meth:`EvaluateResult.to_dict` as strict JSON (inf / nan as strings);
- ``report.csv``: one row per frame and method: method, clip, frame, name, (for VFI: t,) then the
  metric values (empty where a value is None);
- ``report.md``: the configuration, the overall table (one row per method), for VFI the means per t,
  and the per-clip table;
- ``report.html``: a self-contained page (:mod:`.html`).

The four are written as one set (:func:`inter4k.atomic.write_files`): the free space for all of them
is checked first, each is written under a temporary name in DIR, and the renames start only when all
four are complete. A full disk or Ctrl-C therefore leaves the previous report (or none), never a new
report.csv beside an old report.md, nor half of a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Optional

from .. import atomic
from .results import EvaluateResult, json_safe

__all__ = ["REPORT_FILES", "LABELS", "report_json", "report_csv", "report_markdown",
           "write_reports", "format_value", "has_t", "per_t_rows"]

REPORT_FILES = ("report.json", "report.csv", "report.md", "report.html")
#: Column titles of the metric keys.
LABELS = {"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "psnr_rgb": "PSNR-RGB (dB)", "lpips": "LPIPS"}


def format_value(key: str, value: Optional[float]) -> str:
    """A metric value for tables: "-" for None, "inf" for infinite PSNR, 2 / 4 decimals."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    return f"{value:.2f}" if key.startswith("psnr") else f"{value:.4f}"


def report_json(result: EvaluateResult) -> str:
    return json.dumps(json_safe(result.to_dict()), indent=2, allow_nan=False) + "\n"


def has_t(result: EvaluateResult) -> bool:
    """Whether the frames have target times (frame interpolation's model mode)."""
    return any(f.t is not None for m in result.methods for f in m.frames)


def per_t_rows(result: EvaluateResult) -> list[list[str]]:
    """One row per method and target time: name, t (as a fraction), frames, the metric means."""
    from .vfi_model import t_label

    return [[m.name, t_label(g["t"]), str(g["frames"]), *(format_value(k, g[k]) for k in result.keys)]
            for m in result.methods for g in m.per_t]


def report_csv(result: EvaluateResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    with_t = has_t(result)
    w.writerow(["method", "clip", "frame", "name", *(["t"] if with_t else []), *result.keys])
    for m in result.methods:
        for f in m.frames:
            w.writerow([m.name, f.clip, f.index, f.name, *([repr(f.t)] if with_t else []),
                        *("" if f.values.get(k) is None else repr(float(f.values[k])) for k in result.keys)])
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return lines


def summary_rows(result: EvaluateResult, over: str = "frames") -> list[list[str]]:
    """One row per method: name, frames, clips, the means over frames (or over clips)."""
    rows = []
    for m in result.methods:
        means = m.mean_over_frames if over == "frames" else m.mean_over_clips
        rows.append([m.name, str(len(m.frames)), str(len(m.clips)), *(format_value(k, means[k]) for k in result.keys)])
    return rows


def report_markdown(result: EvaluateResult) -> str:
    keys = result.keys
    cfg = result.config
    lines = [f"# inter4k evaluate: {result.task} ({result.mode} mode)", ""]
    lines += [f"- **{k}**: `{v}`" for k, v in cfg.items() if v is not None and k != "clips"]
    lines += [f"- **warning**: {w}" for w in result.warnings]
    header = ["method", "frames", "clips", *(LABELS[k] for k in keys)]
    lines += ["", "## Mean over all frames", "", *_md_table(header, summary_rows(result, "frames"))]
    lines += ["", "## Mean over clips", "", *_md_table(header, summary_rows(result, "clips"))]
    if has_t(result):
        lines += ["", "## Mean per target time t", "",
                  *_md_table(["method", "t", "frames", *(LABELS[k] for k in keys)], per_t_rows(result))]
    lines += ["", "## Per clip", ""]
    clip_rows = []
    for m in result.methods:
        for c in m.clips:
            clip_rows.append([m.name, c.name, str(c.frames), *(format_value(k, c.means[k]) for k in keys)])
    lines += _md_table(["method", "clip", "frames", *(LABELS[k] for k in keys)], clip_rows)
    lines += ["", "Per-frame values: report.csv (one row per frame and method) and report.json.", ""]
    return "\n".join(lines)


def write_reports(result: EvaluateResult, folder: Path) -> dict[str, Path]:
    """Write the four report files into ``folder`` (created if needed); returns {name: path} and
    records it in ``result.report_files`` (so report.json lists them too)."""
    from .html import report_html

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"the report folder {folder} is a file")
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / name for name in REPORT_FILES}
    result.report_files = dict(files)
    atomic.write_files({files["report.csv"]: report_csv(result), files["report.md"]: report_markdown(result),
                        files["report.html"]: report_html(result), files["report.json"]: report_json(result)},
                       what="the report")
    return files
