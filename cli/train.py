"""``inter4k train-sr``: train a super-resolution model (see :mod:`inter4k.train.sr`).

    inter4k train-sr --scale 4 [--data ROOT|PREPARED_DIR|images:DIR] [--model sr-small] [--upsampler U]
                     [--steps N] [--batch B] [--patch P] [--lr LR] [--workers W] [--val-every N]
                     [--ckpt-every N] [--out RUN_DIR] [--resume] [--seed S] [--device D] [--amp/--no-amp]

Multi-GPU (or multi-process CPU): ``torchrun --nproc_per_node K -m cli.main train-sr ...``; only rank
0 shows progress and writes files. Ctrl-C saves ``RUN_DIR/last.pt`` and exits 130; ``--resume``
continues from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from inter4k import api

from ._options import DeviceOpt, item_table, JsonOpt, print_json, QuietOpt


class ProgressCallback:
    """A rich progress bar for :func:`inter4k.train.sr.train_sr`'s ``callback(event, info)``:
    steps, loss, last validation PSNR, it/s and ETA (stderr)."""

    def __init__(self, console: Optional[Console] = None, show_bar: bool = True):
        self.console = console or Console(stderr=True, highlight=False)
        self.show_bar = show_bar
        self.progress: Optional[Progress] = None
        self.task = None
        self.val = "-"

    def __call__(self, event: str, info: dict) -> None:
        if event == "start":
            self.console.print(
                f"[bold]train-sr[/] {info['data_kind']} {escape(info['data'])}: {info['train_samples']} samples "
                f"({info['steps_per_epoch']} steps/epoch), {info['val_samples']} val, {info['params']:,} parameters, "
                f"{info['device']}{' bf16' if info['amp'] else ''} x{info['world_size']} -> {escape(info['out'])}"
                + (f" [yellow](resumed at step {info['step']})[/]" if info["resumed"] else ""))
            if self.show_bar:
                self.progress = Progress(
                    TextColumn("[bold]train-sr"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=self.console)
                self.progress.start()
                self.task = self.progress.add_task("train", total=info["end"], completed=info["step"],
                                                   loss="-", val=self.val, rate="")
        elif event == "step" and self.progress is not None:
            rate = f"{info['it_s']:.2f} it/s" if info.get("it_s") else ""
            self.progress.update(self.task, completed=info["step"], loss=f"{info['loss']:.4f}", rate=rate)
        elif event == "val":
            bic = info.get("bicubic")
            self.val = f"{info['psnr']:.2f} dB" + (f" (bicubic {bic:.2f})" if bic is not None else "")
            if self.progress is not None:
                self.progress.update(self.task, val=self.val)
            else:
                self.console.print(f"step {info['step']}: val PSNR-Y {self.val}")
        elif event == "end":
            self.stop()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def train_sr(
    scale: Annotated[int, typer.Option("--scale", min=2, max=4, help="SR factor: 2, 3 or 4.")] = 4,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Inter4K root, a folder made by `inter4k prepare`, or images:DIR "
                       "(default: $INTER4K_ROOT or ~/datasets/inter4k).")] = None,
    val_data: Annotated[Optional[str], typer.Option(
        "--val-data", help="Validation data (same kinds; default: the root's val split / the images).")] = None,
    model: Annotated[str, typer.Option("--model", help="Model name (see inter4k.models.list_models).")] = "sr-small",
    upsampler: Annotated[Optional[str], typer.Option(
        "--upsampler", help="Upsampler passed to the model factory (e.g. adaunpool, pixelshuffle).")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Optimiser steps in all.")] = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size per process.")] = 16,
    patch: Annotated[Optional[int], typer.Option(
        "--patch", min=1, help="HR patch side, a multiple of --scale (default 48 x scale; prepared: the stored size).")] = None,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, warm-up then cosine).")] = 2e-4,
    warmup: Annotated[Optional[int], typer.Option("--warmup", min=0, help="Warm-up steps (default min(1000, steps/20)).")] = None,
    grad_clip: Annotated[float, typer.Option("--grad-clip", min=0.0, help="Max gradient norm (0: no clipping).")] = 1.0,
    workers: Annotated[Optional[int], typer.Option("--workers", min=0, help="DataLoader workers (default min(4, cores)).")] = None,
    val_every: Annotated[int, typer.Option("--val-every", min=0, help="Validate every N steps and at the end (0: never).")] = 1000,
    val_patch: Annotated[Optional[int], typer.Option(
        "--val-patch", min=1, help="Centre crops for validation (default: full images; Inter4K 480).")] = None,
    ckpt_every: Annotated[int, typer.Option("--ckpt-every", min=0, help="Write last.pt every N steps (0: at the end).")] = 1000,
    out: Annotated[Optional[Path], typer.Option("--out", file_okay=False, help="Run folder (default runs/sr-x<scale>-<model>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the model init and the data order.")] = 0,
    stop_at: Annotated[Optional[int], typer.Option(
        "--stop-at", min=1, help="Stop (with a checkpoint) after this step; continue later with --resume.")] = None,
    device: DeviceOpt = None,
    amp: Annotated[Optional[bool], typer.Option(
        "--amp/--no-amp", help="bf16 autocast (CUDA only; default on for CUDA).")] = None,
    json_: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train an SR model on Inter4K (or prepared shards, or a folder of images).

    L1 loss, AdamW, warm-up + cosine schedule, gradient clipping; PSNR-Y validation (border = scale)
    against the bicubic baseline; RUN_DIR/last.pt and best.pt (atomic), RUN_DIR/metrics.jsonl.

    Ctrl-C saves last.pt and exits 130; --resume continues exactly where it stopped.

    Several processes: torchrun --nproc_per_node K -m cli.main train-sr ...
    """
    from inter4k.train.distributed import env_world

    is_main = env_world()[0] == 0
    err = Console(stderr=True, highlight=False)
    bar = ProgressCallback(err, show_bar=not (quiet or json_)) if is_main and not quiet else None
    config = dict(scale=scale, data=data, val_data=val_data, model=model, upsampler=upsampler, steps=steps,
                  batch=batch, patch=patch, lr=lr, warmup=warmup, grad_clip=grad_clip, workers=workers,
                  val_every=val_every, val_patch=val_patch, ckpt_every=ckpt_every,
                  out=None if out is None else str(out), resume=resume, seed=seed, stop_at=stop_at,
                  device=device, amp=amp)
    try:
        result = api.train_sr(config, callback=bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.stop()
        if is_main:
            where = Path(out) if out is not None else Path("runs") / f"sr-x{scale}-{model}"
            err.print(f"[yellow]interrupted: the last finished step is saved in {escape(str(where / 'last.pt'))}; "
                      f"continue with the same command and --resume[/]")
        raise typer.Exit(code=130) from None
    finally:
        if bar is not None:
            bar.stop()
    if not is_main:
        return
    report = result.to_dict()
    if json_:
        print_json(report)
        return
    table = item_table("train-sr")

    def db(v):
        return "-" if v is None else f"{v:.3f} dB"

    rows = [("out", report["out"]), ("steps", f"{report['step']} / {report['steps']}"
                                                + ("" if report["finished"] else " (stopped; --resume continues)")),
            ("loss (L1)", "-" if report["loss"] is None else f"{report['loss']:.5f}"),
            ("val PSNR-Y", db(report["val_psnr"])), ("best PSNR-Y", db(report["best_psnr"])),
            ("bicubic PSNR-Y", db(report["bicubic_psnr"])), ("last.pt", report["last"]),
            ("best.pt", report["best"] or "-"), ("device", f"{report['device']} x{report['world_size']}"
                                                 + (" bf16" if report["amp"] else "")),
            ("seconds", str(report["seconds"]))]
    for key, value in rows:
        table.add_row(key, escape(str(value)))
    Console().print(table)
