"""``inter4k prepare``: cut training patches out of the clips once, or render synthetic training
samples once, into ``.npy`` shards.

    inter4k prepare [--root DIR] [--out DIR] [--split train] [--task sr|vfi] [--scale 4] [--patch 192]
                    [--per-clip 32] [--shard-size N] [--frames 1] [--mode 30to60] [--seed 0]
                    [--clips 1,2,3] [--json]
    inter4k prepare --data photos|synthetic[:DIR] --out DIR --task vfi --samples N [--realism real]
                    [--mode 15to60] [--patch 128] [--seed 0] [--shard-size N] [--workers K] [--json]
    inter4k prepare --data photos --out DIR --task vsr --samples N [--frames 5] [--patch 192] [--scale 4]
                    [--realism scene|recorded] ...

Calls :func:`inter4k.api.prepare` (see :mod:`inter4k.data.prepare` and :mod:`inter4k.data.render`);
the progress bar goes to stderr, so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from inter4k import api

from ._options import item_table
from ._output import Output, command


def _parse_clips(value: Optional[str]) -> Optional[list[int]]:
    if value is None or not value.strip():
        return None
    try:
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"--clips takes clip numbers separated by commas, e.g. 1,2,3; got {value!r}") from None


@command
def prepare(
    root: Annotated[Optional[Path], typer.Option(
        "--root", file_okay=False,
        help="Dataset root holding Inter4K/ (default: $INTER4K_ROOT or ~/datasets/inter4k).")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", file_okay=False,
        help="Output folder (default: ROOT/prepared/<task>-<split>-p<patch>[-t<frames>|-<mode>]).")] = None,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "train",
    task: Annotated[str, typer.Option(
        "--task", help="sr (super-resolution) or vfi (frame interpolation); with --data vfi or vsr (video SR).")] = "sr",
    scale: Annotated[int, typer.Option("--scale", help="SR scale (2, 3, 4); the patch must be a multiple of it.")] = 4,
    patch: Annotated[int, typer.Option("--patch", min=1, help="Patch side in pixels (HR for SR).")] = 192,
    per_clip: Annotated[int, typer.Option("--per-clip", min=1, help="Patches cut from each clip.")] = 32,
    shard_size: Annotated[Optional[int], typer.Option(
        "--shard-size", min=1, help="Patches per shard (default: about 256 MiB per shard).")] = None,
    frames: Annotated[int, typer.Option(
        "--frames", min=1, help="SR: consecutive frames per patch; --data with --task vsr: the clip length (default 5).")] = 1,
    mode: Annotated[str, typer.Option("--mode", help="VFI: 30to60, 15to60 or 8x.")] = "30to60",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the patch positions.")] = 0,
    clips: Annotated[Optional[str], typer.Option(
        "--clips", help="Clip numbers instead of the split's, e.g. 1,2,3.")] = None,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Render training samples of this data instead of cutting clips: photos[:DIR] or "
                       "synthetic[:DIR] (VFI, with the true flows), photos[:DIR] (VSR clips); needs --out and "
                       "--samples.")] = None,
    samples: Annotated[Optional[int], typer.Option(
        "--samples", min=1, help="With --data: the number of samples to render.")] = None,
    realism: Annotated[Optional[str], typer.Option(
        "--realism", help="With --data: rigid or real for VFI (default: the data's own, real for photos); "
                        "scene (default) or recorded (noise and H.264 on every frame) for --task vsr.")] = None,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, help="With --data: rendering processes (default 1).")] = None,
    *,
    ui: Output,
) -> None:
    """Decode each clip once and cut random (seeded) patches into uint8 .npy shards plus index.json;
    with --data, render --samples synthetic clips (frames, true flows, timesteps) once instead.

    Resumable: finished shards are skipped (the same command again writes nothing).

    A different configuration for an existing --out is an error.

    Load the result with inter4k.data.prepare.PreparedSR / PreparedVFI, or train on it: train-sr / train-vfi --data OUT.
    """
    common = dict(out=out, task=task, patch=patch, shard_size=shard_size, mode=mode, seed=seed,
                  on_progress=ui.progress)
    if data is None:
        given = [name for name, value in (("--samples", samples), ("--realism", realism), ("--workers", workers))
                 if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} go with --data (rendered samples); cutting Inter4K clips takes "
                             f"--per-clip and --clips")
        report = api.prepare(root=root, split=split, scale=scale, per_clip=per_clip, frames=frames,
                             clips=_parse_clips(clips), **common)
    else:
        if clips is not None or split != "train":
            raise ValueError("--clips and --split cut Inter4K clips; --data renders training samples (give --samples)")
        if samples is None:
            raise ValueError("--data renders a fixed number of samples: give --samples N")
        clip = dict(frames=None if frames == 1 else frames, scale=scale) if task == "vsr" else {}  # 1: the default
        if task != "vsr" and frames != 1:
            raise ValueError("--frames with --data is the clip length of --task vsr")
        report = api.prepare(root=root, data=data, samples=samples, realism=realism, workers=workers or 1,
                             **clip, **common)
    ui.result(report, lambda: _render(report))


def _render(report: dict) -> None:
    table = item_table("prepare")
    keys = ("out", "task", "split", "clips", "patches", "data", "realism", "mode", "samples", "shape", "shards",
            "written", "skipped", "workers", "seconds", "samples_per_second")
    for key in keys:
        if key in report:
            table.add_row(key, escape(str(report[key])))
    if report["repaired"]:
        table.add_row("repaired", escape(", ".join(report["repaired"]) + " (cut short or missing: cut again)"))
    table.add_row("size", f"{report['bytes'] / 2 ** 20:.1f} MiB")
    Console().print(table)
