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
from pathlib import Path

from .. import atomic
from .html import report_html
from .results import EvaluateResult, json_safe
from .tables import LABELS, clip_rows, format_value, has_t, metric_header, per_t_rows, summary_rows

__all__ = ["REPORT_FILES", "LABELS", "report_json", "report_csv", "report_markdown", "write_reports", "format_value",
           "has_t", "per_t_rows", "summary_rows"]

REPORT_FILES = ("report.json", "report.csv", "report.md", "report.html")


def report_json(result: EvaluateResult) -> str:
    return json.dumps(json_safe(result.to_dict()), indent=2, allow_nan=False) + "\n"


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


def report_markdown(result: EvaluateResult) -> str:
    cfg = result.config
    lines = [f"# inter4k evaluate: {result.task} ({result.mode} mode)", ""]
    lines += [f"- **{k}**: `{v}`" for k, v in cfg.items() if v is not None and k != "clips"]
    lines += [f"- **warning**: {w}" for w in result.warnings]
    header = ["method", "frames", "clips", *metric_header(result)]
    lines += ["", "## Mean over all frames", "", *_md_table(header, summary_rows(result, "frames"))]
    lines += ["", "## Mean over clips", "", *_md_table(header, summary_rows(result, "clips"))]
    if has_t(result):
        lines += ["", "## Mean per target time t", "",
                  *_md_table(["method", "t", "frames", *metric_header(result)], per_t_rows(result))]
    lines += ["", "## Per clip", ""]
    lines += _md_table(["method", "clip", "frames", *metric_header(result)], clip_rows(result))
    lines += ["", "Per-frame values: report.csv (one row per frame and method) and report.json.", ""]
    return "\n".join(lines)


def write_reports(result: EvaluateResult, folder: Path) -> dict[str, Path]:
    """Write the four report files into ``folder`` (created if needed); returns {name: path} and
    records it in ``result.report_files`` (so report.json lists them too)."""
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
