"""Saving and loading models (SR and VFI): the checkpoint format, bundled weights, the default SR model per scale.

Bundled weights live in ``data/weights/`` of the repository (or in the folder named by ``$INTER4K_WEIGHTS``):
``<name>_x<scale>.pt`` for a model made for one scale (SR, e.g. ``sr-base_x4.pt``), ``<name>.pt`` for one
without a scale (VFI, e.g. ``vfi-small.pt``). :func:`inter4k.models.resolve` is the one way the commands
turn a name, a bundled-weights name, a checkpoint path or a module into a model.

Accepted checkpoint layouts (:func:`load_model`), read with ``torch.load(weights_only=True)`` (so only
tensors and plain Python values: dict, list, tuple, str, int, float, bool, None):

1. **model file** (written by :func:`save_model`)::

       {"format": "inter4k-model/1", "name": "sr-small", "config": model.config,
        "state_dict": {...}, "meta": {...}}

   rebuilt as ``create_model(name, **config)``.
2. **training checkpoint** of :mod:`inter4k.train` (``last.pt`` / ``best.pt``)::

       {"model": state_dict, "model_name": "sr-small", "model_config": model.config,
        "config": {training config}, "step": ..., "optimizer": ..., ...}

   rebuilt as ``create_model(model_name, **model_config)``; or, without ``model_name`` /
   ``model_config``::

       {"model": state_dict, "config": {"model": "sr-small", "model_kwargs": {...}, "scale": 4, ...}, ...}

   rebuilt as ``create_model(config["model"], scale=config["scale"], **config["model_kwargs"])`` (a
   ``config["upsampler"]`` that is not None is passed as well). The checkpoint's other plain top-level
   values (step, metrics, ...) and the training config (``meta["train_config"]``) become ``model.meta``.

In both, state-dict keys prefixed by ``module.`` (DataParallel / DDP) or ``_orig_mod.`` (torch.compile)
are accepted; the state dict must otherwise match the model exactly (``strict=True``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from ..atomic import save_torch
from .baselines import is_baseline
from .registry import create_model, list_models, model_task

__all__ = [
    "FORMAT", "DEFAULT_SR_MODELS", "weights_dir", "weights_path", "save_model", "load_model",
    "load_checkpoint", "read_torch_file", "require_keys", "check_finite", "bundled_weights", "default_sr_model",
    "default_video_sr_model", "DEFAULT_VIDEO_SR_MODELS",
]

FORMAT = "inter4k-model/1"

#: The names tried, in order, by :func:`default_sr_model` (the first with bundled weights wins).
DEFAULT_SR_MODELS: tuple[str, ...] = ("sr-lr-small", "sr-base", "sr-small")
#: The clip models tried first for a video at each scale by :func:`default_video_sr_model`. A model
#: joins a scale once its bundled weights there beat the per-frame default on both held-out sets of
#: clips, the real footage included (docs/BENCHMARKS.md#video-sr): vsr-small does at x4; at x2 it
#: loses on the opencv-doc footage, so x2 videos stay frame by frame.
DEFAULT_VIDEO_SR_MODELS: dict[int, tuple[str, ...]] = {4: ("vsr-small",)}


def weights_dir() -> Path:
    """``$INTER4K_WEIGHTS`` if set, else ``<repo>/data/weights``."""
    env = os.environ.get("INTER4K_WEIGHTS", "").strip()
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data" / "weights"


def weights_path(name: str, scale: Optional[int] = None) -> Path:
    """Where the bundled weights of ``name`` are (whether or not they exist): ``<name>_x<scale>.pt``, or
    ``<name>.pt`` for a model without a scale (``scale`` None: VFI)."""
    return weights_dir() / (f"{name}.pt" if scale is None else f"{name}_x{int(scale)}.pt")


def _plain(v: Any) -> Any:
    """Make ``meta`` loadable with ``weights_only=True``: paths to str, NumPy scalars/arrays to Python."""
    if isinstance(v, dict):
        return {str(k) if isinstance(k, os.PathLike) else k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if type(v).__module__ == "numpy":
        return v.tolist() if hasattr(v, "tolist") else v.item()
    return v


def save_model(model: nn.Module, path: Union[str, os.PathLike], meta: Optional[dict] = None,
               name: Optional[str] = None) -> Path:
    """Write ``model`` as an ``inter4k-model/1`` file at ``path``, atomically (temp file + os.replace).

    ``name`` defaults to ``model.model_name`` (set by the registered factories); ``model.config`` must be
    the keyword arguments that rebuild it: ``create_model(name, **config)``. Tensors are saved on the CPU.
    """
    name = name or getattr(model, "model_name", None)
    config = getattr(model, "config", None)
    if not name:
        raise ValueError("save_model: the model has no model_name; pass name= (a registered model name)")
    if name not in list_models():
        raise ValueError(f"save_model: {name!r} is not a registered model; known: {', '.join(list_models())}")
    if not isinstance(config, dict):
        raise ValueError("save_model: the model has no .config dict to rebuild it from")
    payload = {
        "format": FORMAT,
        "name": name,
        "config": _plain(dict(config)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": _plain(dict(meta or {})),
    }
    return save_torch(payload, path, what="the model file")


def _strip_prefixes(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in ("module.", "_orig_mod."):
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


_TRAIN_SKIP = ("model", "model_name", "model_config", "config", "optimizer", "scheduler", "scaler", "ema", "rng",
               "data")


def _describe(ckpt: Any) -> str:
    if isinstance(ckpt, dict):
        return f"a dict with keys {sorted(map(str, ckpt))[:12]}"
    return f"a {type(ckpt).__name__}"


def read_torch_file(path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a ValueError naming the file and saying why it cannot be
    read (empty, cut short, holding code or other objects than tensors and plain values)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: an empty file (0 bytes), not a checkpoint (a save that never finished?)")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling problem
        why = " ".join(str(e).split()) or "no details"
        if len(why) > 300:  # weights_only's refusal explains itself at length
            why = why[:300] + " ..."
        raise ValueError(f"{path}: not a loadable checkpoint (read with torch.load(weights_only=True), so it may hold "
                         f"only tensors and plain Python values): {type(e).__name__}: {why}") from None


def require_keys(path: Union[str, os.PathLike], ckpt: dict, layout: str, types: dict) -> None:
    """ValueError naming the file when a key of ``layout`` is missing or of the wrong type."""
    for key, kind in types.items():
        if not isinstance(ckpt.get(key), kind):
            got = "missing" if key not in ckpt else f"a {type(ckpt[key]).__name__}"
            raise ValueError(f"{path}: a {layout} whose {key!r} is {got}, not a {kind.__name__}; the file is "
                             "damaged or was not written by inter4k")


def load_checkpoint(path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu"
                    ) -> tuple[str, dict, dict, dict]:
    """Read a checkpoint of either layout; returns ``(name, kwargs, state_dict, meta)``. Every error is
    a ValueError (FileNotFoundError for a missing file) that names the file."""
    path = Path(path)
    ckpt = read_torch_file(path, device)
    if isinstance(ckpt, dict) and ckpt.get("format") == FORMAT:
        require_keys(path, ckpt, f"{FORMAT} file", {"name": str, "config": dict, "state_dict": dict})
        name, kwargs, sd, meta = ckpt["name"], dict(ckpt["config"]), ckpt["state_dict"], ckpt.get("meta") or {}
    elif isinstance(ckpt, dict) and isinstance(ckpt.get("format"), str) and ckpt["format"].startswith("inter4k-model/"):
        raise ValueError(f"{path}: format {ckpt['format']!r} is newer than this version reads ({FORMAT!r})")
    elif (isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) and isinstance(ckpt.get("model_name"), str)
          and isinstance(ckpt.get("model_config"), dict)):
        # the SR trainer's checkpoint (inter4k.train): model_name + model_config (= model.config)
        name, kwargs, sd = ckpt["model_name"], dict(ckpt["model_config"]), ckpt["model"]
        meta = {k: v for k, v in ckpt.items() if k not in _TRAIN_SKIP and not isinstance(v, torch.Tensor)
                and (not isinstance(v, dict) or k in ("metrics",))}
        if isinstance(ckpt.get("config"), dict):
            meta["train_config"] = ckpt["config"]
    elif (isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) and isinstance(ckpt.get("config"), dict)
          and "model" in ckpt["config"]):
        cfg = ckpt["config"]
        name = cfg["model"]
        kwargs = cfg.get("model_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise ValueError(f"{path}: config model_kwargs is a {type(kwargs).__name__}, not a dict")
        kwargs = dict(kwargs)
        if cfg.get("upsampler") is not None:
            kwargs.setdefault("upsampler", cfg["upsampler"])
        if cfg.get("scale") is not None:
            if "scale" in kwargs and int(kwargs["scale"]) != int(cfg["scale"]):
                raise ValueError(f"{path}: config scale {cfg['scale']} and model_kwargs scale {kwargs['scale']} differ")
            kwargs["scale"] = int(cfg["scale"])
        sd = ckpt["model"]
        meta = {k: v for k, v in ckpt.items() if k not in _TRAIN_SKIP and not isinstance(v, (dict, torch.Tensor))}
        meta["train_config"] = cfg
    else:
        raise ValueError(
            f"{path}: not an inter4k model checkpoint ({_describe(ckpt)}); expected "
            f"{{'format': {FORMAT!r}, 'name', 'config', 'state_dict', 'meta'}} (save_model) or a training "
            "checkpoint {'model': state_dict, 'config': {'model': name, 'model_kwargs': {...}, 'scale': s}}")
    if not isinstance(name, str) or not isinstance(sd, dict):
        raise ValueError(f"{path}: malformed checkpoint (name {name!r}, state_dict {type(sd).__name__})")
    return name, kwargs, _strip_prefixes(sd), meta


def check_finite(state_dict: dict, source: Union[str, os.PathLike]) -> None:
    """ValueError naming ``source`` and the first tensor that holds NaN or infinity: such weights turn
    every output into NaN, which becomes a black image."""
    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise ValueError(f"{source}: tensor {key!r} holds {bad} non-finite value(s) (NaN or inf) of "
                                 f"{value.numel()}; the weights are unusable (a training run that diverged?)")


def _from_file(path: Path, scale: Optional[int], device) -> nn.Module:
    name, kwargs, sd, meta = load_checkpoint(path, device)
    if name not in list_models():
        raise ValueError(f"{path}: model {name!r} is not registered; known: {', '.join(list_models())}")
    file_scale = kwargs.get("scale")
    if scale is not None and file_scale is not None and int(scale) != int(file_scale):
        raise ValueError(f"{path}: the checkpoint is x{file_scale}, but scale={scale} was asked for")
    check_finite(sd, path)
    try:
        model = create_model(name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: its config {kwargs} does not build {name}: {exc}") from None
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise ValueError(f"{path}: the weights do not fit {name} {kwargs}: {' '.join(str(exc).split())[:400]}") from None
    if missing or unexpected:
        raise ValueError(f"{path}: the weights do not fit {name} {kwargs}: missing {list(missing)[:8]}, "
                         f"unexpected {list(unexpected)[:8]}")
    model.model_name = name
    model.meta = meta
    model.source = str(path)
    return model.to(device).eval()


def looks_like_path(s: str) -> bool:
    """A model argument that is meant as a file: it has a folder, a checkpoint suffix, or exists."""
    return os.sep in s or "/" in s or s.endswith((".pt", ".pth", ".ckpt")) or Path(s).is_file()


def load_model(name_or_path: Union[str, os.PathLike], scale: Optional[int] = None,
               device: Union[str, torch.device] = "cpu") -> nn.Module:
    """An SR model in eval mode on ``device``, from a checkpoint file or a registered name.

    * a path (either checkpoint layout, see the module docstring): ``scale``, if given, must match;
    * a baseline name (:func:`~inter4k.models.baselines.is_baseline`): built directly (``scale`` required
      for SR);
    * a learned name: its bundled weights (:func:`weights_path`: ``<name>_x<scale>.pt`` for an SR model,
      ``<name>.pt`` for a VFI one); a FileNotFoundError naming that file when it is missing.
    """
    known = list_models()
    if isinstance(name_or_path, os.PathLike) or (name_or_path not in known and looks_like_path(str(name_or_path))):
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint file {path}")
        return _from_file(path, scale, device)
    name = str(name_or_path)
    if name not in known:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(known)} (or pass a checkpoint path)")
    if model_task(name) == "vfi":
        scale = None  # one model for every frame rate: <name>.pt
    elif scale is None:
        raise ValueError(f"load_model({name!r}): give scale= (2, 3 or 4)")
    if is_baseline(name):  # nothing learned: built, at the scale for SR
        model = create_model(name, **({} if scale is None else {"scale": int(scale)}))
        model.model_name = name
        return model.to(device).eval()
    path = weights_path(name, scale)
    if not path.is_file():
        raise FileNotFoundError(
            f"no bundled weights for {name}{'' if scale is None else f' x{scale}'}: {path} does not exist. Train "
            f"them with `inter4k {'train-vfi' if scale is None else 'train-sr'} --model {name}"
            f"{'' if scale is None else f' --scale {scale}'}` (and save to that file, or point "
            f"$INTER4K_WEIGHTS at a folder holding {path.name}), or pass a checkpoint path instead of a name")
    return _from_file(path, scale, device)


def bundled_weights() -> list[dict]:
    """The bundled weight files: ``[{"name", "scale", "path"}]`` sorted by name and scale (``scale`` None
    for a ``<name>.pt`` of a model without one, as VFI's)."""
    d = weights_dir()
    out = []
    if d.is_dir():
        for p in d.glob("*.pt"):
            stem, _, s = p.stem.rpartition("_x")
            if stem and s.isdigit():
                out.append({"name": stem, "scale": int(s), "path": p})
            else:
                out.append({"name": p.stem, "scale": None, "path": p})
    return sorted(out, key=lambda r: (r["name"], r["scale"] or 0))


def default_sr_model(scale: int) -> str:
    """The bundled model for ``scale``: the first of :data:`DEFAULT_SR_MODELS` whose weights exist."""
    for name in DEFAULT_SR_MODELS:
        if weights_path(name, scale).is_file():
            return name
    tried = ", ".join(str(weights_path(n, scale)) for n in DEFAULT_SR_MODELS)
    have = ", ".join(f"{r['name']} x{r['scale']}" for r in bundled_weights() if r["scale"]) or "none"
    raise FileNotFoundError(
        f"no bundled SR weights for x{scale}: none of {tried} exists (bundled: {have}). Train with "
        f"`inter4k train-sr --scale {scale}`, or use --model bicubic or a checkpoint path")


def default_video_sr_model(scale: int) -> str:
    """The bundled model for a video at ``scale``: the first of ``DEFAULT_VIDEO_SR_MODELS[scale]`` (clip
    models, which tile large frames) whose weights exist, else :func:`default_sr_model` (frame by frame)."""
    for name in DEFAULT_VIDEO_SR_MODELS.get(scale, ()):
        if weights_path(name, scale).is_file():
            return name
    return default_sr_model(scale)
