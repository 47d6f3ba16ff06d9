"""``inter4k train-sr`` / ``train-vsr`` / ``train-vfi``: train a super-resolution, video SR or frame
interpolation model (see :mod:`inter4k.train.sr`, :mod:`inter4k.train.vsr`, :mod:`inter4k.train.vfi`).

    inter4k train-sr --scale 4 [--data ROOT|PREPARED_DIR|images:DIR|photos] [--model sr-lr-small] [--upsampler U] [--body B]
                     [--steps N] [--batch B] [--patch P] [--lr LR] [--workers W] [--val-every N]
                     [--ckpt-every N] [--out RUN_DIR] [--resume] [--seed S] [--device D] [--amp/--no-amp]
    inter4k train-vfi --mode 30to60|15to60|8x [--data ROOT|PREPARED_DIR|synthetic|synthetic:DIR|photos]
                     [--realism rigid|real] [--val-data videos] [--model vfi-small] [--upsampler U] [--refine-channels C] [--init W]
                     [--body B] [... the same training options]

Multi-GPU (or multi-process CPU): ``torchrun --nproc_per_node K -m cli.main train-sr ...`` (or
train-vfi); only rank 0 shows progress and writes files. Ctrl-C saves ``RUN_DIR/last.pt`` and exits
130; ``--resume`` continues from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from inter4k import api

from ._options import DeviceOpt, item_table
from ._output import Output, command

# The training options both commands take, spelt once (the task-specific ones stay in each command).
StepsOpt = Annotated[int, typer.Option("--steps", min=1, help="Optimiser steps in all.")]
LrOpt = Annotated[float, typer.Option("--lr", min=0.0, help="Peak learning rate (AdamW, warm-up then cosine).")]
WarmupOpt = Annotated[Optional[int], typer.Option(
    "--warmup", min=0, help="Warm-up steps (default min(1000, steps/20)).")]
GradClipOpt = Annotated[float, typer.Option("--grad-clip", min=0.0, help="Max gradient norm (0: no clipping).")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=0, help="DataLoader workers (default min(4, cores)).")]
ValEveryOpt = Annotated[int, typer.Option(
    "--val-every", min=0, help="Validate every N steps and at the end (0: never).")]
CkptEveryOpt = Annotated[int, typer.Option("--ckpt-every", min=0, help="Write last.pt every N steps (0: at the end).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the model init and the data order.")]
StopAtOpt = Annotated[Optional[int], typer.Option(
    "--stop-at", min=1, help="Stop (with a checkpoint) after this step; continue later with --resume.")]
AmpOpt = Annotated[Optional[bool], typer.Option(
    "--amp/--no-amp", help="bf16 autocast (CUDA only; default on for CUDA).")]
InitOpt = Annotated[Optional[str], typer.Option(
    "--init", help="Start from these weights (a model name with bundled weights, or a checkpoint file) "
                   "instead of a random initialisation: fine-tuning.")]

# The options that go to the trainer's config as they are (``out`` goes as a string; the task adds its own).
_SHARED_CONFIG = ("data", "val_data", "model", "steps", "batch", "patch", "lr", "warmup", "grad_clip", "workers",
                  "val_every", "val_patch", "ckpt_every", "resume", "seed", "stop_at", "device", "amp", "init")


@command
def train_sr(
    scale: Annotated[int, typer.Option("--scale", min=2, max=4, help="SR factor: 2, 3 or 4.")] = 4,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Inter4K root, a folder made by `inter4k prepare`, images:DIR, or photos (the "
                       "real-photograph corpus, built on first use; photos:DIR for another folder) "
                       "(default: $INTER4K_ROOT or ~/datasets/inter4k).")] = None,
    val_data: Annotated[Optional[str], typer.Option(
        "--val-data", help="Validation data (same kinds; default: the root's val split / the images).")] = None,
    model: Annotated[str, typer.Option("--model", help="Model name (see inter4k.models.list_models).")] = "sr-lr-small",
    upsampler: Annotated[Optional[str], typer.Option(
        "--upsampler", help="Upsampler passed to the model factory (e.g. adaunpool, pixelshuffle).")] = None,
    body: Annotated[Optional[str], typer.Option(
        "--body", help="The model's body, passed to its factory (sr-lr-*: plain residual blocks, ds, ds2, ic, "
                       "supernet, or chain; docs/MODELS.md).")] = None,
    steps: StepsOpt = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Batch size per process.")] = 16,
    patch: Annotated[Optional[int], typer.Option(
        "--patch", min=1, help="HR patch side, a multiple of --scale (default 48 x scale; prepared: the stored size).")] = None,
    lr: LrOpt = 2e-4,
    warmup: WarmupOpt = None,
    grad_clip: GradClipOpt = 1.0,
    blur_prob: Annotated[float, typer.Option(
        "--blur-prob", min=0.0, max=1.0, help="Share of training samples motion-blurred before the LR is made "
                                              "(images and photos data).")] = 0.0,
    smooth_prob: Annotated[float, typer.Option(
        "--smooth-prob", min=0.0, max=1.0, help="Share of training samples that are synthetic smooth images "
                                                "(flat, gradients, low sinusoids), so the model learns to leave "
                                                "them alone (images and photos data).")] = 0.0,
    quantize_lr: Annotated[bool, typer.Option(
        "--quantize-lr/--float-lr", help="Round the training LR to 8 bits, as every LR image or video frame is "
                                         "(a model trained on float LR reacts to the 8-bit steps of smooth "
                                         "gradients). Default: on (--float-lr keeps the LR in float).")] = True,
    init: InitOpt = None,
    workers: WorkersOpt = None,
    val_every: ValEveryOpt = 1000,
    val_patch: Annotated[Optional[int], typer.Option(
        "--val-patch", min=1, help="Centre crops for validation (default: full images; Inter4K 480).")] = None,
    ckpt_every: CkptEveryOpt = 1000,
    out: Annotated[Optional[Path], typer.Option("--out", file_okay=False, help="Run folder (default runs/sr-x<scale>-<model>).")] = None,
    resume: ResumeOpt = False,
    seed: SeedOpt = 0,
    stop_at: StopAtOpt = None,
    device: DeviceOpt = None,
    amp: AmpOpt = None,
    *,
    ui: Output,
) -> None:
    """Train an SR model on Inter4K (or prepared shards, or a folder of images).

    L1 loss, AdamW, warm-up + cosine schedule, gradient clipping; PSNR-Y and SSIM-Y validation (border =
    scale) against the bicubic baseline; RUN_DIR/last.pt (and best.pt, best PSNR-Y; atomic),
    RUN_DIR/metrics.jsonl.

    Ctrl-C saves last.pt and exits 130; --resume continues exactly where it stopped.

    Several processes: torchrun --nproc_per_node K -m cli.main train-sr ...
    """
    config = _config(locals(), scale=scale, upsampler=upsampler, blur_prob=blur_prob, smooth_prob=smooth_prob,
                     quantize_lr=quantize_lr, model_kwargs={} if body is None else {"body": body})
    from inter4k.train.config import SRTrainConfig

    where = SRTrainConfig(**config).run_folder()

    def rows(report: dict) -> list[tuple[str, str]]:
        ssim = "-" if report["val_ssim"] is None else f"{report['val_ssim']:.4f}"
        return [("loss (L1)", _loss(report["loss"])), ("val PSNR-Y", _db(report["val_psnr"])), ("val SSIM-Y", ssim),
                ("best PSNR-Y", _db(report["best_psnr"])), ("bicubic PSNR-Y", _db(report["bicubic_psnr"]))]

    _train("train-sr", api.train_sr, config, where, rows, ui)


@command
def train_vsr(
    scale: Annotated[int, typer.Option("--scale", min=2, max=4, help="SR factor: 2, 3 or 4.")] = 4,
    data: Annotated[Optional[str], typer.Option(
        "--data", help="photos (clips rendered with realistic motion over the real-photograph corpus, built on "
                       "first use; photos:DIR for another corpus), an Inter4K root or a folder of clips made by "
                       "`inter4k prepare`.")] = "photos",
    val_data: Annotated[Optional[str], typer.Option(
        "--val-data", help="Validation data (same kinds; default: the corpus's val photos / the root's val split).")] = None,
    model: Annotated[str, typer.Option("--model", help="Clip model name (vsr-small).")] = "vsr-small",
    frames: Annotated[int, typer.Option("--frames", help="Frames per training clip: 3, 5 or 9.")] = 5,
    init: InitOpt = None,
    frame_init: Annotated[str, typer.Option(
        "--frame-init", help="The per-frame network's starting weights: a single-frame SR model with bundled "
                             "weights or a checkpoint; auto: the bundled default SR model for the scale when "
                             "its architecture fits; none: random. Ignored with --init.")] = "auto",
    steps: StepsOpt = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Clips per batch and process.")] = 16,
    patch: Annotated[Optional[int], typer.Option(
        "--patch", min=1, help="HR frame side, a multiple of --scale (default 48 x scale).")] = None,
    lr: LrOpt = 2e-4,
    warmup: WarmupOpt = None,
    grad_clip: GradClipOpt = 1.0,
    quantize_lr: Annotated[bool, typer.Option(
        "--quantize-lr/--float-lr", help="Round the LR to 8 bits, as every LR video frame is.")] = True,
    workers: WorkersOpt = None,
    val_every: ValEveryOpt = 1000,
    val_patch: Annotated[Optional[int], typer.Option(
        "--val-patch", min=1, help="Validation frame side (default: photos --patch; Inter4K 480 crops).")] = None,
    val_clips: Annotated[int, typer.Option("--val-clips", min=1, help="Held-out clips per validation (photos).")] = 8,
    ckpt_every: CkptEveryOpt = 1000,
    out: Annotated[Optional[Path], typer.Option("--out", file_okay=False, help="Run folder (default runs/vsr-x<scale>-<model>).")] = None,
    resume: ResumeOpt = False,
    seed: SeedOpt = 0,
    stop_at: StopAtOpt = None,
    device: DeviceOpt = None,
    amp: AmpOpt = None,
    *,
    ui: Output,
) -> None:
    """Train a video SR model (vsr-small) on clips of consecutive frames.

    L1 loss over every frame, AdamW, warm-up + cosine schedule, gradient clipping; validation on held-out
    clips: PSNR-Y (border = scale) and the error flicker, against the per-frame SR baseline (the bundled
    default model for the scale) and bicubic; RUN_DIR/last.pt and best.pt (atomic), RUN_DIR/metrics.jsonl.

    Ctrl-C saves last.pt and exits 130; --resume continues exactly where it stopped.
    """
    config = _config(locals(), scale=scale, frames=frames, quantize_lr=quantize_lr, val_clips=val_clips,
                     frame_init=None if frame_init.lower() == "none" else frame_init)
    from inter4k.train.config import VSRTrainConfig

    where = VSRTrainConfig(**config).run_folder()

    def rows(report: dict) -> list[tuple[str, str]]:
        flicker = "-" if report["val_flicker"] is None else f"{report['val_flicker']:.3f} levels"
        base = f"{report['baseline'] or 'per-frame SR'} PSNR-Y"
        return [("loss (L1)", _loss(report["loss"])), ("val PSNR-Y", _db(report["val_psnr"])),
                ("val flicker-Y", flicker), ("best PSNR-Y", _db(report["best_psnr"])),
                (base, _db(report["baseline_psnr"])), ("bicubic PSNR-Y", _db(report["bicubic_psnr"]))]

    _train("train-vsr", api.train_vsr, config, where, rows, ui)


@command
def train_vfi(
    mode: Annotated[str, typer.Option(
        "--mode", help="30to60 (1 frame between the inputs), 15to60 (3) or 8x (7); "
                       "docs/DATA.md#vfi-modes.")] = "30to60",
    data: Annotated[Optional[str], typer.Option(
        "--data", help="Inter4K root, a folder made by `inter4k prepare --task vfi`, synthetic (motion over "
                       "scikit-image's photos), synthetic:DIR, or photos (motion over the real-photograph corpus, "
                       "built on first use: train split for training, val for validation; photos:DIR for another "
                       "folder) (default: $INTER4K_ROOT or ~/datasets/inter4k).")] = None,
    val_data: Annotated[Optional[str], typer.Option(
        "--val-data", help="Validation data (same kinds, or videos[:DIR]: real footage, the opencv-doc videos with "
                           "every other frame dropped; default: the root's val split / the val photos).")] = None,
    model: Annotated[str, typer.Option("--model", help="VFI model name (see inter4k.models.list_models('vfi')).")] = "vfi-small",
    upsampler: Annotated[Optional[str], typer.Option(
        "--upsampler", help="The model's flow upsampler, passed to its factory (vfi-small: adaunpool or bilinear).")] = None,
    body: Annotated[Optional[str], typer.Option(
        "--body", help="The blocks of the model's refinement pass, passed to its factory (vfi-small: plain, the "
                       "bundled architecture, or ds, ds2, ic, ...; docs/MODELS.md).")] = None,
    refine_channels: Annotated[Optional[int], typer.Option(
        "--refine-channels", min=0, help="Hidden channels of the model's full-resolution residual, passed to its "
                                         "factory (vfi-small: default 0, the bundled architecture: none, the frame is the "
                                         "warped inputs' blend).")] = None,
    flow_loss: Annotated[float, typer.Option(
        "--flow-loss", min=0.0, help="Weight of the flow supervision: L1 + F * mean|flow error| / patch (synthetic "
                                     "data only, which knows the true motion; 0: off).")] = 0.0,
    realism: Annotated[Optional[str], typer.Option(
        "--realism", help="Synthetic clips: rigid (pans, zooms, rotations, moving objects) or real (also large "
                          "displacements, occlusions, non-rigid motion, motion blur, lighting changes, sensor "
                          "noise, H.264); default real for photos, rigid for synthetic.")] = None,
    init: InitOpt = None,
    steps: StepsOpt = 100_000,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Samples per batch and process (each has 1, 3 or 7 targets).")] = 16,
    patch: Annotated[Optional[int], typer.Option(
        "--patch", min=1, help="Frame crop side (default 256; prepared: the stored size).")] = None,
    lr: LrOpt = 2e-4,
    warmup: WarmupOpt = None,
    grad_clip: GradClipOpt = 1.0,
    workers: WorkersOpt = None,
    val_every: ValEveryOpt = 1000,
    val_patch: Annotated[Optional[int], typer.Option(
        "--val-patch", min=1, help="Validation crops (default: Inter4K 480 centre crops; synthetic: --patch).")] = None,
    ckpt_every: CkptEveryOpt = 1000,
    out: Annotated[Optional[Path], typer.Option("--out", file_okay=False, help="Run folder (default runs/vfi-<mode>-<model>).")] = None,
    resume: ResumeOpt = False,
    seed: SeedOpt = 0,
    stop_at: StopAtOpt = None,
    device: DeviceOpt = None,
    amp: AmpOpt = None,
    *,
    ui: Output,
) -> None:
    """Train a frame interpolation model on Inter4K (or prepared shards, or synthetic motion over photos).

    L1 loss on every target frame (with --flow-loss F on synthetic data, plus F times the mean L1 error of
    the flows against the true motion, divided by the patch side), AdamW, warm-up + cosine schedule,
    gradient clipping; validation
    PSNR-Y and RGB of every target frame against frame averaging ((1 - t) I0 + t I1); RUN_DIR/last.pt
    and best.pt (atomic), RUN_DIR/metrics.jsonl.

    Ctrl-C saves last.pt and exits 130; --resume continues exactly where it stopped.

    Several processes: torchrun --nproc_per_node K -m cli.main train-vfi ...
    """
    model_kwargs = {name: value for name, value in (("upsampler", upsampler), ("body", body),
                                                    ("refine_channels", refine_channels)) if value is not None}
    config = _config(locals(), mode=mode, model_kwargs=model_kwargs, flow_loss=flow_loss, realism=realism)
    from inter4k.train.config import VFITrainConfig

    where = VFITrainConfig(**config).run_folder()

    def rows(report: dict) -> list[tuple[str, str]]:
        return [("mode", report["mode"]), ("loss (L1)", _loss(report["loss"])),
                ("val PSNR-Y / RGB", f"{_db(report['val_psnr_y'])} / {_db(report['val_psnr_rgb'])}"),
                ("best PSNR-Y", _db(report["best_psnr_y"])),
                ("average PSNR-Y / RGB", f"{_db(report['average_psnr_y'])} / {_db(report['average_psnr_rgb'])}")]

    _train("train-vfi", api.train_vfi, config, where, rows, ui)


def _config(options: dict, **task) -> dict:
    """The trainer's config from a command's options (its ``locals()``): the shared settings, ``out`` as a
    string, and the task's own (``task``)."""
    config = {name: options[name] for name in _SHARED_CONFIG}
    config["out"] = None if options["out"] is None else str(options["out"])
    config.update(task)
    return config


def _db(v) -> str:
    return "-" if v is None else f"{v:.3f} dB"


def _loss(v) -> str:
    return "-" if v is None else f"{v:.5f}"


def _train(name: str, run, config: dict, where: Path, rows, ui: Output) -> None:
    """Run ``run(config, on_progress=...)`` with the progress shown on rank 0; Ctrl-C exits 130 after
    saying where last.pt is; then print the result (``rows(report)`` are the task's own lines) or its JSON."""
    from inter4k.train.distributed import env_world

    is_main = env_world()[0] == 0
    try:
        result = run(config, on_progress=ui.progress if is_main else None)
    except KeyboardInterrupt:
        ui.progress.close()
        if is_main:
            ui.err.print(f"[yellow]interrupted: the last finished step is saved in {escape(str(where / 'last.pt'))}; "
                          f"continue with the same command and --resume[/]")
        raise typer.Exit(code=130) from None
    if is_main:
        report = result.to_dict()
        ui.result(report, lambda: _render(name, report, rows))


def _render(name: str, report: dict, rows) -> None:
    table = item_table(name)
    steps = f"{report['step']} / {report['steps']}" + ("" if report["finished"] else " (stopped; --resume continues)")
    lines = [("out", report["out"]), ("steps", steps), *rows(report), ("last.pt", report["last"]),
             ("best.pt", report["best"] or "-"),
             ("device", f"{report['device']} x{report['world_size']}" + (" bf16" if report["amp"] else "")),
             ("seconds", str(report["seconds"]))]
    for key, value in lines:
        table.add_row(key, escape(str(value)))
    Console().print(table)
