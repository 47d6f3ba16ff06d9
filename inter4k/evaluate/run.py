"""``inter4k evaluate``: PSNR / SSIM / LPIPS of predictions against references, or of an SR model and
the baselines on a dataset, with optional reports (see ``docs/EVALUATE.md``).

    from inter4k.evaluate import evaluate
    r = evaluate(task="sr", pred="out/", ref="gt/", scale=4)                  # pairs mode
    r = evaluate(task="sr", data="data/sample/inter4k", scale=4, frames=2)    # model mode: model + baselines
    r = evaluate(task="vfi", data="synthetic", vfi_mode="15to60", limit=4)   # VFI model + averaging, nearest
    r.primary.mean_over_frames["psnr_y"], r.to_dict()
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import torch
from torch import nn

from ..progress import Progress, ProgressFn, Reporter
from .crops import CropPicker
from .results import EvaluateResult
from .scoring import METRICS, Scorer, parse_metrics
from .tasks import TASKS, EvalRequest, get_task

__all__ = ["TASKS", "evaluate"]

Callback = Callable[[str, dict], None]
PathArg = Union[None, str, os.PathLike]


def _positive(label: str, v, allow_none: bool = True) -> Optional[int]:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{label} must be an int >= 1{' or None' if allow_none else ''}, got {v!r}")
    return v


def _check_args(task, pred, ref, model, data, scale, crop_border, vfi_mode=None, patch=None, quantize_lr=False
                ) -> tuple[str, Optional[int], int]:
    """(mode, scale, crop_border) from the arguments, checked (the rules of :func:`evaluate`; the
    task-specific ones are the plug-ins' attributes, :class:`~inter4k.evaluate.tasks.EvalTask`)."""
    plugin = get_task(task) if task in TASKS else None
    if plugin is None:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    pairs = pred is not None or ref is not None
    if pairs and (pred is None or ref is None):
        raise ValueError(f"give both pred and ref (got only {'pred' if ref is None else 'ref'})")
    if pairs and (model is not None or data is not None):
        raise ValueError("give either pred and ref (compare files) or model / data (run a model), not both")
    # the other plug-ins (each import pulls in its models) are imported only to word an error
    for name, value in {"vfi_mode": vfi_mode, "patch": patch, "quantize_lr": quantize_lr}.items():
        if value not in (None, False) and (pairs or name not in plugin.model_options):
            owner = next(p for p in map(get_task, TASKS) if name in p.model_options)
            raise ValueError(f"{owner.model_options[name]} is for --task {owner.name} without --pred / --ref "
                             f"(the model mode)")
    if plugin.no_scale and scale is not None:
        raise ValueError(f"--scale is for --task {', '.join(p.name for p in map(get_task, TASKS) if not p.no_scale)}; "
                         f"{plugin.no_scale}")
    scale = _positive("scale", scale)
    if crop_border is not None and (isinstance(crop_border, bool) or not isinstance(crop_border, int)
                                    or crop_border < 0):
        raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
    mode = "pairs" if pairs else "model"
    if mode == "model" and scale is None:
        scale = plugin.default_scale
    if crop_border is None:
        crop_border = plugin.default_crop_border(scale)
    return mode, scale, crop_border


def evaluate(task: str = "sr", pred: PathArg = None, ref: PathArg = None,
             model: Union[None, str, os.PathLike, nn.Module] = None, data: PathArg = None, split: str = "test",
             scale: Optional[int] = None, crop_border: Optional[int] = None,
             metrics: Union[str, Iterable[str]] = METRICS, report: PathArg = None,
             callback: Optional[Callback] = None, *, limit: Optional[int] = None, frames: Optional[int] = None,
             device: Union[None, str, torch.device] = None, tile: Union[str, int, None] = "auto",
             tile_overlap: Optional[int] = None, quantize_lr: bool = False, crop_size: int = 96,
             vfi_mode: Optional[str] = None, patch: Optional[int] = None,
             on_progress: Optional[ProgressFn] = None) -> EvaluateResult:
    """Evaluate and return an :class:`~inter4k.evaluate.results.EvaluateResult`.

    **Pairs mode** (``pred`` and ``ref``): each is an image, a folder of images, a video, or a folder of
    clips (videos / image subfolders) paired by name; frames are paired in order; ``limit`` keeps the
    first clips, ``frames`` the first frames of each clip. **Model mode** (``task="sr"`` without
    pred/ref): ``model`` (default: the bundled weights for ``scale``) and the baselines bicubic,
    bilinear and nearest on ``data`` (an Inter4K root, default ``$INTER4K_ROOT``, or ``images:DIR``),
    split ``split``, the first ``limit`` clips (images), ``frames`` frames per clip, LR made by MATLAB
    bicubic downscaling of the HR frame (rounded to 8 bits with ``quantize_lr``). **VFI model mode**
    (``task="vfi"`` without pred/ref): ``model`` (default: the bundled ``vfi-small.pt``, else the
    baselines only, with a warning) and the baselines vfi-average, vfi-nearest and vfi-ffmpeg on the held-out samples
    of ``vfi_mode`` ("30to60", default, "15to60", "8x") from ``data`` (an Inter4K root, split ``split``,
    ``frames`` samples per clip, whole frames or ``patch`` centre crops; or ``synthetic[:DIR]``, the
    fixed samples of :class:`~inter4k.data.motion.SyntheticMotionVFI` on the test photographs, ``patch``
    pixels, the first ``limit``); every target frame is one evaluated frame, with its t (see
    :mod:`.vfi_data`). **Video SR** (``task="vsr"``): a clip model (default ``vsr-small``) against the
    per-frame SR baseline and bicubic on clips of ``frames`` frames from ``data`` (``photos[:DIR]`` or an
    Inter4K root), with each frame's ``flicker_y`` and ``warp_y`` (:mod:`inter4k.metrics.temporal`;
    pairs mode adds them too; see :mod:`.vsr_model`). ``tile_overlap`` defaults to 32 (SR) or 64 (VFI).

    ``crop_border`` defaults to ``scale`` for SR (docs/EVALUATE.md#border-crop; pairs mode then needs ``scale`` or
    ``crop_border``) and 0 for VFI. ``metrics`` is a subset of ("psnr", "ssim", "lpips"); LPIPS that
    cannot run (no backbone weights) is reported as None with the reason and a warning, the rest as
    usual. ``report`` (a folder) gets report.json, report.csv, report.md and report.html, each written
    atomically. ``on_progress`` gets :class:`~inter4k.progress.Progress` events (stage "evaluate", unit
    "frames"): "start" (info: mode, methods, clips, total frames or None), one update per scored frame
    (note "clip <name>"), "end" (info: seconds). ``callback(event, info)`` is their older form: "start",
    "frame" (done, total, clip) and "end".

    Bad arguments raise ValueError / FileNotFoundError naming the problem (a frame count mismatch names
    both counts; a size mismatch the frame and both sizes).
    """
    t0 = time.perf_counter()
    mode, scale, crop_border = _check_args(task, pred, ref, model, data, scale, crop_border, vfi_mode, patch,
                                           quantize_lr)
    metric_names = parse_metrics(metrics)
    limit, frames = _positive("limit", limit), _positive("frames", frames)
    _positive("crop_size", crop_size, allow_none=False)
    from ..infer.upscale import resolve_device

    dev = resolve_device(device)
    config = {
        "task": task, "mode": mode, "pred": None if pred is None else str(pred),
        "ref": None if ref is None else str(ref), "model": None, "data": None, "split": None,
        "scale": scale, "crop_border": crop_border, "metrics": list(metric_names), "limit": limit,
        "frames": frames, "device": str(dev), "lpips_net": "alex",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    req = EvalRequest(task=task, mode=mode, pred=pred, ref=ref, model=model, data=None if data is None else str(data),
                      split=split, scale=scale, limit=limit, frames=frames, device=dev, tile=tile,
                      tile_overlap=tile_overlap, quantize_lr=quantize_lr, vfi_mode=vfi_mode,
                      patch=_positive("patch", patch))
    plugin = get_task("pairs" if mode == "pairs" else task)(req)
    config.update(plugin.open())
    scorer = Scorer(metric_names, crop_border, dev, grid_period=plugin.grid_period)
    picker = CropPicker(crop_size, plugin.align, crop_border)
    progress = Reporter(on_progress, unit="frames", legacy=callback, form=_event_form)
    # no start message: a run that fails on its first frame prints only its error line
    progress.emit(Progress("evaluate", 0, plugin.total, "frames", kind="start", info={
        "mode": mode, "methods": [n for n, _ in plugin.methods], "clips": plugin.clips, "total": plugin.total,
        "lpips_available": scorer.lpips_available, "lpips_reason": scorer.lpips_reason}))
    methods = plugin.run(scorer, picker,
                         lambda done, total, clip: progress("evaluate", done, total, f"clip {clip}", clip=clip))
    warnings = list(plugin.warnings)
    if scorer.lpips_available is False:
        warnings.insert(0, f"{scorer.lpips_reason} (LPIPS is reported as null; the other metrics are not affected)")
    keys = [*scorer.keys, *plugin.extra_keys]
    result = EvaluateResult(task=task, mode=mode, config=config, keys=keys, methods=methods,
                            lpips_available=scorer.lpips_available, lpips_reason=scorer.lpips_reason,
                            warnings=warnings, crops=picker.crops)
    result.seconds = time.perf_counter() - t0
    if report is not None:
        from .report import write_reports

        write_reports(result, Path(report))
    progress.emit(Progress("evaluate", len(result.primary.frames), plugin.total, "frames", kind="end",
                           info={"seconds": result.seconds}))
    return result


def _event_form(callback: Callback, event: Progress) -> None:
    """The older ``callback(event, info)`` form: "start" / "frame" (done, total, clip) / "end"."""
    if event.kind == "update":
        callback("frame", {"done": event.done, "total": event.total, "clip": event.info["clip"]})
    else:
        callback(event.kind, dict(event.info))
