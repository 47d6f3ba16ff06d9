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

from .compare import compare_clips
from .crops import CropPicker
from .results import EvaluateResult
from .scoring import METRICS, Scorer, parse_metrics
from .sources import pair_clips

__all__ = ["TASKS", "evaluate"]

TASKS = ("sr", "vfi")

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
    """(mode, scale, crop_border) from the arguments, checked (the rules of :func:`evaluate`)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    pairs = pred is not None or ref is not None
    if pairs and (pred is None or ref is None):
        raise ValueError(f"give both pred and ref (got only {'pred' if ref is None else 'ref'})")
    if pairs and (model is not None or data is not None):
        raise ValueError("give either pred and ref (compare files) or model / data (run a model), not both")
    if vfi_mode is not None and (task != "vfi" or pairs):
        raise ValueError("--mode (30to60, 15to60, 8x) is for --task vfi without --pred / --ref (the model mode)")
    if patch is not None and (task != "vfi" or pairs):
        raise ValueError("--patch (centre crops) is for --task vfi without --pred / --ref (the model mode)")
    if quantize_lr and task != "sr":
        raise ValueError("--quantize-lr is for --task sr (frame interpolation has no LR frames)")
    if task == "vfi" and scale is not None:
        raise ValueError("--scale is for --task sr; frame interpolation keeps the size")
    scale = _positive("scale", scale)
    if crop_border is not None and (isinstance(crop_border, bool) or not isinstance(crop_border, int)
                                    or crop_border < 0):
        raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
    mode = "pairs" if pairs else "model"
    if task == "sr" and mode == "model" and scale is None:
        scale = 4  # as upscale and train-sr
    if crop_border is None:
        if task == "vfi":
            crop_border = 0
        elif scale is None:
            raise ValueError("--task sr crops `scale` pixels from each border (docs/EVALUATE.md#border-crop): "
                             "give --scale (or --crop-border)")
        else:
            crop_border = scale
    return mode, scale, crop_border


def evaluate(task: str = "sr", pred: PathArg = None, ref: PathArg = None,
             model: Union[None, str, os.PathLike, nn.Module] = None, data: PathArg = None, split: str = "test",
             scale: Optional[int] = None, crop_border: Optional[int] = None,
             metrics: Union[str, Iterable[str]] = METRICS, report: PathArg = None,
             callback: Optional[Callback] = None, *, limit: Optional[int] = None, frames: Optional[int] = None,
             device: Union[None, str, torch.device] = None, tile: Union[str, int, None] = "auto",
             tile_overlap: Optional[int] = None, quantize_lr: bool = False, crop_size: int = 96,
             vfi_mode: Optional[str] = None, patch: Optional[int] = None) -> EvaluateResult:
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
    :mod:`.vfi_data`). ``tile_overlap`` defaults to 32 (SR) or 64 (VFI).

    ``crop_border`` defaults to ``scale`` for SR (docs/EVALUATE.md#border-crop; pairs mode then needs ``scale`` or
    ``crop_border``) and 0 for VFI. ``metrics`` is a subset of ("psnr", "ssim", "lpips"); LPIPS that
    cannot run (no backbone weights) is reported as None with the reason and a warning, the rest as
    usual. ``report`` (a folder) gets report.json, report.csv, report.md and report.html, each written
    atomically. ``callback(event, info)`` gets "start" (mode, methods, total frames or None, clips),
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
    warnings: list[str] = []
    if mode == "pairs":
        clips = pair_clips(pred, ref)
        if limit is not None:
            clips = clips[:limit]
        scorer = Scorer(metric_names, crop_border, dev)
        picker = CropPicker(crop_size, 1, crop_border)
        if callback is not None:
            callback("start", {"mode": mode, "methods": ["pred"], "clips": len(clips), "total": None,
                               "lpips_available": scorer.lpips_available, "lpips_reason": scorer.lpips_reason})
        methods = [compare_clips(clips, scorer, frames, picker, callback)]
    elif task == "vfi":
        from .vfi_data import open_vfi_data
        from .vfi_model import build_vfi_methods, run_vfi_methods

        vfi_mode = "30to60" if vfi_mode is None else vfi_mode
        vfi_data = open_vfi_data(None if data is None else str(data), split, vfi_mode, limit, frames,
                                 _positive("patch", patch))
        if vfi_data.kind == "synthetic" and frames is not None:
            warnings.append("--frames applies to video clips; every synthetic sample is evaluated (--limit keeps "
                            "the first N)")
        nets, more = build_vfi_methods(model)
        warnings += more
        overlap = 64 if tile_overlap is None else tile_overlap
        config.update(model=nets[0][0], data=vfi_data.source, data_kind=vfi_data.kind, split=split,
                      vfi_mode=vfi_mode, span=vfi_data.span,
                      timesteps=[k / vfi_data.span for k in range(1, vfi_data.span)], **vfi_data.info,
                      tile=tile if isinstance(tile, (str, type(None))) else int(tile), tile_overlap=overlap,
                      clips=[name for name, _ in vfi_data.clips])
        scorer = Scorer(metric_names, crop_border, dev)
        picker = CropPicker(crop_size, 1, crop_border)
        if callback is not None:
            callback("start", {"mode": mode, "methods": [n for n, _ in nets], "clips": len(vfi_data.clips),
                               "total": vfi_data.total, "lpips_available": scorer.lpips_available,
                               "lpips_reason": scorer.lpips_reason})
        methods, more = run_vfi_methods(vfi_data, nets, scorer, dev, tile, overlap, picker, callback)
        warnings += more
    else:
        from .sr_data import open_sr_data
        from .sr_model import build_methods, run_sr_methods

        sr_data = open_sr_data(None if data is None else str(data), split, scale, limit, frames, quantize_lr)
        if sr_data.kind == "images" and frames is not None:
            warnings.append("--frames applies to video clips; every image is evaluated (--limit keeps the first N)")
        nets, more = build_methods(model, scale)
        warnings += more
        tile_label = tile if isinstance(tile, (str, type(None))) else int(tile)
        config.update(model=nets[0][0], data=sr_data.source, data_kind=sr_data.kind, split=split,
                      tile=tile_label, tile_overlap=32 if tile_overlap is None else tile_overlap,
                      quantize_lr=bool(quantize_lr),
                      clips=[name for name, _ in sr_data.clips])
        scorer = Scorer(metric_names, crop_border, dev)
        picker = CropPicker(crop_size, scale, crop_border)
        if callback is not None:
            callback("start", {"mode": mode, "methods": [n for n, _ in nets], "clips": len(sr_data.clips),
                               "total": sr_data.total, "lpips_available": scorer.lpips_available,
                               "lpips_reason": scorer.lpips_reason})
        methods, more = run_sr_methods(sr_data, nets, scorer, scale, dev, tile,
                                       32 if tile_overlap is None else tile_overlap, picker, callback)
        warnings += more
    if scorer.lpips_available is False:
        warnings.insert(0, f"{scorer.lpips_reason} (LPIPS is reported as null; the other metrics are not affected)")
    result = EvaluateResult(task=task, mode=mode, config=config, keys=list(scorer.keys), methods=methods,
                            lpips_available=scorer.lpips_available, lpips_reason=scorer.lpips_reason,
                            warnings=warnings, crops=picker.crops)
    result.seconds = time.perf_counter() - t0
    if report is not None:
        from .report import write_reports

        write_reports(result, Path(report))
    if callback is not None:
        callback("end", {"seconds": result.seconds})
    return result
