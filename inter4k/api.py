"""The functions behind the ``inter4k`` command line.

Each verb of the CLI (README.md#command-line) is one function here that takes plain Python arguments and returns
plain data; the CLI only parses, calls and renders. Bad input raises ValueError / TypeError /
FileNotFoundError (the CLI exits 2), other failures RuntimeError (exit 1).

Every long function takes ``on_progress``, a callable that gets :class:`inter4k.progress.Progress`
events (the one progress protocol; the older ``progress=`` / ``callback=`` forms still work).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import warnings
from typing import Any

from . import __version__

# module to import -> the name users know it by (the distribution that provides it)
PACKAGES: dict[str, str] = {
    "torch": "torch",
    "numpy": "numpy",
    "cv2": "opencv-python-headless",
    "av": "av",
    "skimage": "scikit-image",
    "lpips": "lpips",
    "typer": "typer",
    "rich": "rich",
}


def _version_of(module: str) -> str | None:
    """The module's version; None when it is not installed, "error: ..." when its import fails."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == module.split(".")[0]:
            return None
        return f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken install must not break doctor
        return f"error: {type(exc).__name__}: {exc}"
    version = getattr(mod, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version

            version = dist_version(PACKAGES.get(module, module))
        except Exception:  # noqa: BLE001
            version = "unknown"
    return str(version)


def _device_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "torch_cuda": None,
        "cuda_available": False,
        "device_count": 0,
        "device_name": None,
        "cpu_count": os.cpu_count(),
        "cpu_threads": None,
        "cpu_capability": None,
    }
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        info["error"] = f"torch unavailable: {type(exc).__name__}: {exc}"
        return info
    info["torch_cuda"] = torch.version.cuda
    info["cpu_threads"] = torch.get_num_threads()
    try:
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001
        pass
    try:
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            info["device_count"] = torch.cuda.device_count()
            info["device_name"] = torch.cuda.get_device_name(0)
    except Exception as exc:  # noqa: BLE001 - a broken driver is something to report
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def _adaunpool_info() -> dict[str, Any]:
    """``adaunpool.backend_info()`` (builds the kernels on the first call) plus which builds exist."""
    info: dict[str, Any] = {"backend": None, "error": None, "warnings": []}
    try:
        import adaunpool
        from adaunpool import _loader
    except Exception as exc:  # noqa: BLE001
        info["error"] = f"import adaunpool failed: {type(exc).__name__}: {exc}"
        return info
    info["version"] = getattr(adaunpool, "__version__", None)
    info["sources"] = str(_loader.CSRC)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info.update(adaunpool.backend_info())
        info["warnings"] = [str(w.message) for w in caught]
        used, threads = info.get("kernel_threads"), info.get("threads")
        if used is not None and threads and used < threads:
            info["warnings"].append(f"the compiled CPU kernels run on {used} of torch's {threads} threads: "
                                    "the library was built without OpenMP (-fopenmp)")
    except Exception as exc:  # noqa: BLE001 - report, never crash
        info["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    # Which libraries are on disk for the current sources (built now or by an earlier run).
    for kind, with_cuda, name in (("cpu", False, "adaunpool_cpu_ops"), ("cuda", True, "adaunpool_cuda_ops")):
        try:
            lib = _loader.build_dir(with_cuda) / f"{name}.so"
            info[f"{kind}_kernels_built"] = lib.exists()
            info[f"{kind}_library"] = str(lib)
        except Exception as exc:  # noqa: BLE001
            info[f"{kind}_kernels_built"] = False
            info[f"{kind}_library"] = f"error: {type(exc).__name__}: {exc}"
    info["build_root"] = os.environ.get("ADAUNPOOL_BUILD_DIR") or os.path.join("~", ".cache", "adaunpool")
    info["forced_backend"] = os.environ.get("ADAUNPOOL_BACKEND") or None
    return info


def doctor() -> dict[str, Any]:
    """Versions, the device, and which adaunpool kernels are built and used.

    Never raises: anything that cannot be imported or queried is reported in the result (a missing
    package as None, a failing one as ``"error: ..."``). Calling it builds the adaunpool kernels if
    they are not built yet (one time, a minute or so).
    """
    return {
        "inter4k": __version__,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": {module: _version_of(module) for module in PACKAGES},
        "device": _device_info(),
        "adaunpool": _adaunpool_info(),
    }


# --- dataset: verify / derive / splits / sample (inter4k.data.*; imported lazily so that
# `inter4k --help` and doctor do not pay for PyAV / OpenCV) ---

def verify(root=None, **kwargs):
    """Check every source clip: see :func:`inter4k.data.verify.verify` (returns a VerifyReport)."""
    from .data.verify import verify as _verify

    return _verify(root, **kwargs)


def derive(root=None, **kwargs):
    """Build the derived resolutions / frame rates tree: see :func:`inter4k.data.derive.derive`."""
    from .data.derive import derive as _derive

    return _derive(root, **kwargs)


def make_sample(root, **kwargs):
    """Write a small synthetic dataset in the Inter4K layout: see :func:`inter4k.data.sample.make_sample`."""
    from .data.sample import make_sample as _make_sample

    return _make_sample(root, **kwargs)


def load_split(name: str, root=None) -> list[int]:
    """Clip numbers of the train / val / test split: see :func:`inter4k.data.splits.load_split`."""
    from .data.splits import load_split as _load_split

    return _load_split(name, root)


def download(root=None, url=None, **kwargs):
    """Fetch Inter4K (resumable, verified) or unpack a zip on disk: see
    :func:`inter4k.data.download.download` (returns a DownloadResult)."""
    from .data.download import download as _download

    return _download(root, url, **kwargs)


# --- data loading: prepare (inter4k.data.prepare; imported lazily) ---

def prepare(root=None, out=None, data=None, **kwargs) -> dict:
    """Cut training patches out of Inter4K clips into .npy shards (:func:`inter4k.data.prepare.prepare`),
    or, with ``data`` (``photos``, ``synthetic[:DIR]``), render training samples into them once
    (:func:`inter4k.data.render.prepare_rendered`: ``samples``, ``realism``, ``workers``). Returns a summary."""
    if data is None:
        from .data.prepare import prepare as _prepare

        return _prepare(root, out, **kwargs)
    if root is not None:
        raise ValueError("--root names the Inter4K clips to cut and --data the data to render: give one of them")
    from .data.render import prepare_rendered

    return prepare_rendered(data, out, **kwargs)


# --- training: train-sr (inter4k.train.sr; imported lazily) ---

def train_sr(config=None, callback=None, on_progress=None, **kwargs):
    """Train a super-resolution model: see :func:`inter4k.train.sr.train_sr` (returns an SRTrainResult).

    ``config`` is an ``SRTrainConfig`` or a dict; keyword arguments (scale=, data=, model=, steps=,
    batch=, patch=, lr=, out=, resume=, ...) override it. ``on_progress``: stage "train-sr", unit
    "steps" (:func:`inter4k.progress.train_events`); ``callback(event, info)`` is the trainer's own form.
    """
    from .train.sr import train_sr as _train_sr

    return _train_sr(config, callback=_train_callback(callback, on_progress, "train-sr"), **kwargs)


def _train_callback(callback, on_progress, stage: str):
    """The trainers' ``callback(event, info)`` that feeds both ``callback`` and ``on_progress``."""
    if on_progress is None:
        return callback
    from .progress import train_events

    events = train_events(on_progress, stage)
    if callback is None:
        return events

    def both(event: str, info: dict) -> None:
        callback(event, info)
        events(event, info)
    return both


def _frames(progress, on_progress, stage: str):
    """``progress(done, total)`` for inference that also sends ``on_progress`` its events (unit "frames")."""
    if on_progress is None:
        return progress
    from .progress import Reporter, count_form

    return Reporter(on_progress, unit="frames", legacy=progress, form=count_form).stage(stage)


# --- inference: upscale (inter4k.infer.upscale; imported lazily) ---

def upscale(input, output=None, progress=None, on_progress=None, **kwargs):
    """Upscale an image or a video with an SR model (timestamps, audio and subtitles kept; tiled and
    out-of-memory safe): see :func:`inter4k.infer.upscale.upscale` (returns an UpscaleResult).
    ``on_progress``: stage "upscale", unit "frames"."""
    from .infer.upscale import upscale as _upscale

    return _upscale(input, output, progress=_frames(progress, on_progress, "upscale"), **kwargs)


# --- evaluation: evaluate (inter4k.evaluate; imported lazily) ---

def evaluate(task="sr", pred=None, ref=None, model=None, data=None, split="test", scale=None, crop_border=None,
             metrics=("psnr", "ssim", "lpips"), report=None, callback=None, on_progress=None, **kwargs):
    """PSNR / SSIM / LPIPS of predictions against references, or of an SR model and the baselines on a
    dataset, with optional report files: see :func:`inter4k.evaluate.run.evaluate` (returns an
    EvaluateResult; keyword arguments limit=, frames=, device=, tile=, ... pass through)."""
    from .evaluate import evaluate as _evaluate

    return _evaluate(task=task, pred=pred, ref=ref, model=model, data=data, split=split, scale=scale,
                     crop_border=crop_border, metrics=metrics, report=report, callback=callback,
                     on_progress=on_progress, **kwargs)


# --- inference: interpolate (inter4k.infer.interpolate; imported lazily) ---

def interpolate(input, output=None, progress=None, on_progress=None, **kwargs):
    """Raise a video's frame rate with a VFI model (``factor=2|4|8`` or ``fps=``; exact timestamps, scene
    cuts never morphed, audio and subtitles kept): see :func:`inter4k.infer.interpolate.interpolate`
    (returns an InterpolateResult). ``on_progress``: stage "interpolate", unit "frames" (output frames)."""
    from .infer.interpolate import interpolate as _interpolate

    return _interpolate(input, output, progress=_frames(progress, on_progress, "interpolate"), **kwargs)


# --- benchmarks: bench-pool (inter4k.benchpool; imported lazily) ---

def bench_pool(images=None, factors=(2, 4), report=None, callback=None, on_progress=None):
    """How much of an image survives pooling: pool (kernel = stride = factor), bring back to full size,
    PSNR / SSIM against the original, for adaPool + adaUnPool and the classic poolings; optionally
    writes report.json / .md / .png: see :func:`inter4k.benchpool.run.bench_pool` (returns a
    BenchPoolResult)."""
    from .benchpool import bench_pool as _bench_pool

    return _bench_pool(images=images, factors=factors, report=report, callback=callback, on_progress=on_progress)


# --- training: train-vsr (inter4k.train.vsr; imported lazily) ---

def train_vsr(config=None, callback=None, on_progress=None, **kwargs):
    """Train a video SR clip model (vsr-small): see :func:`inter4k.train.vsr.train_vsr` (returns a
    VSRTrainResult).

    ``config`` is a ``VSRTrainConfig`` or a dict; keyword arguments (scale=, data=, frames=, model=, steps=,
    batch=, patch=, lr=, out=, resume=, ...) override it. ``on_progress``: stage "train-vsr", unit "steps".
    """
    from .train.vsr import train_vsr as _train_vsr

    return _train_vsr(config, callback=_train_callback(callback, on_progress, "train-vsr"), **kwargs)


# --- training: train-vfi (inter4k.train.vfi; imported lazily) ---

def train_vfi(config=None, callback=None, on_progress=None, **kwargs):
    """Train a video frame interpolation model: see :func:`inter4k.train.vfi.train_vfi` (returns a
    VFITrainResult).

    ``config`` is a ``VFITrainConfig`` or a dict; keyword arguments (mode=, data=, model=, steps=,
    batch=, patch=, lr=, out=, resume=, ...) override it. ``on_progress``: stage "train-vfi", unit "steps".
    """
    from .train.vfi import train_vfi as _train_vfi

    return _train_vfi(config, callback=_train_callback(callback, on_progress, "train-vfi"), **kwargs)
