"""``inter4k prepare``: cut training patches out of the clips once, into ``.npy`` shards.

    inter4k prepare [--root DIR] [--out DIR] [--split train] [--task sr|vfi] [--scale 4] [--patch 192]
                    [--per-clip 32] [--shard-size N] [--frames 1] [--mode 30to60] [--seed 0]
                    [--clips 1,2,3] [--json]

Calls :func:`inter4k.api.prepare` (see :mod:`inter4k.data.prepare`); the progress bar goes to
stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from inter4k import api

from ._options import item_table, JsonOpt, print_json


def _parse_clips(value: Optional[str]) -> Optional[list[int]]:
    if value is None or not value.strip():
        return None
    try:
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"--clips takes clip numbers separated by commas, e.g. 1,2,3; got {value!r}") from None


def prepare(
    root: Annotated[Optional[Path], typer.Option(
        "--root", file_okay=False,
        help="Dataset root holding Inter4K/ (default: $INTER4K_ROOT or ~/datasets/inter4k).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", file_okay=False,
        help="Output folder (default: ROOT/prepared/<task>-<split>-p<patch>[-t<frames>|-<mode>]).")] = None,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "train",
    task: Annotated[str, typer.Option("--task", help="sr (super-resolution) or vfi (frame interpolation).")] = "sr",
    scale: Annotated[int, typer.Option("--scale", help="SR scale (2, 3, 4); the patch must be a multiple of it.")] = 4,
    patch: Annotated[int, typer.Option("--patch", min=1, help="Patch side in pixels (HR for SR).")] = 192,
    per_clip: Annotated[int, typer.Option("--per-clip", min=1, help="Patches cut from each clip.")] = 32,
    shard_size: Annotated[Optional[int], typer.Option(
        "--shard-size", min=1, help="Patches per shard (default: about 256 MiB per shard).")] = None,
    frames: Annotated[int, typer.Option("--frames", min=1, help="SR: consecutive frames per patch.")] = 1,
    mode: Annotated[str, typer.Option("--mode", help="VFI: 30to60, 15to60 or 8x.")] = "30to60",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the patch positions.")] = 0,
    clips: Annotated[Optional[str], typer.Option(
        "--clips", help="Clip numbers instead of the split's, e.g. 1,2,3.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Decode each clip once and cut random (seeded) patches into uint8 .npy shards plus index.json.

    Resumable: finished shards are skipped (the same command again writes nothing).

    A different configuration for an existing --out is an error.

    Load the result with inter4k.data.prepare.PreparedSR / PreparedVFI.
    """
    progress: Optional[Progress] = None
    bar = None

    def tick(done: int, total: int, note: str) -> None:
        nonlocal progress, bar
        if progress is None:
            progress = Progress(
                TextColumn("[bold]prepare"), BarColumn(), MofNCompleteColumn(), TextColumn("patches {task.fields[note]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
            )
            progress.start()
            bar = progress.add_task("prepare", total=total, note="")
        progress.update(bar, completed=done, total=total, note=escape(note))

    try:
        report = api.prepare(root=root, out=out, split=split, task=task, scale=scale, patch=patch,
                             per_clip=per_clip, shard_size=shard_size, frames=frames, mode=mode, seed=seed,
                             clips=_parse_clips(clips), progress=tick)
    finally:
        if progress is not None:
            progress.stop()
    if json_:
        print_json(report)
        return
    table = item_table("prepare")
    for key in ("out", "task", "split", "clips", "patches", "shape", "shards", "written", "skipped", "seconds"):
        table.add_row(key, escape(str(report[key])))
    if report["repaired"]:
        table.add_row("repaired", escape(", ".join(report["repaired"]) + " (cut short or missing: cut again)"))
    table.add_row("size", f"{report['bytes'] / 2 ** 20:.1f} MiB")
    Console().print(table)
