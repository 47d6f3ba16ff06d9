"""``inter4k doctor``: versions, the device, and which adaunpool kernels are built and used."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from inter4k import api

from ._options import item_table, JsonOpt


def _fmt(value: Any) -> str:
    if value is None:
        return "[dim]-[/]"
    if value is True:
        return "[green]yes[/]"
    if value is False:
        return "[yellow]no[/]"
    text = str(value)
    if len(text) > 600:  # a compiler log: its end says what failed (--json has it all)
        text = "error: ..." + text[-500:] if text.startswith("error") else text[:500] + "..."
    return f"[red]{escape(text)}[/]" if text.startswith("error") else escape(text)


def _table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = item_table(title)
    for key, value in rows:
        table.add_row(key, _fmt(value))
    return table


def doctor(json_: JsonOpt = False) -> None:
    """Show versions, the device, and which adaunpool kernels are built and used.

    The first run builds the adaunpool kernels (one time). Exits 1 when adaunpool cannot run at all.
    """
    report = api.doctor()
    ada = report["adaunpool"]
    if json_:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        dev = report["device"]
        packages = report["packages"]
        console = Console()
        console.print(_table("versions", [
            ("inter4k", report["inter4k"]),
            ("python", f"{report['python']} ({report['python_executable']})"),
            ("platform", report["platform"]),
            *((name, packages[name] if packages[name] is not None else "missing") for name in packages),
        ]))
        console.print(_table("device", [
            ("torch CUDA", dev.get("torch_cuda")),
            ("CUDA available", dev.get("cuda_available")),
            ("GPU", dev.get("device_name") if dev.get("cuda_available") else None),
            ("GPU count", dev.get("device_count")),
            ("CPU threads (torch)", dev.get("cpu_threads")),
            ("CPU count", dev.get("cpu_count")),
            ("CPU capability", dev.get("cpu_capability")),
            *((("error", "error: " + dev["error"]),) if dev.get("error") else ()),
        ]))
        console.print(_table("adaunpool", [
            ("backend", ada.get("backend")),
            ("reason", ada.get("reason")),
            ("library in use", ada.get("library")),
            ("CPU kernels built", ada.get("cpu_kernels_built")),
            ("CUDA kernels built", ada.get("cuda_kernels_built")),
            ("CPU threads (kernels)", ada.get("kernel_threads")),
            ("sources", ada.get("sources")),
            ("build cache", ada.get("build_root")),
            ("ADAUNPOOL_BACKEND", ada.get("forced_backend")),
            *(("warning", w) for w in ada.get("warnings") or ()),
            *((("error", "error: " + ada["error"]),) if ada.get("error") else ()),
        ]))
    if ada.get("error"):
        raise typer.Exit(code=1)
