"""One way to turn what a user names into a model (timm's ``create_model`` is the example):

    r = resolve("sr-small", task="sr", scale=4)       # bundled data/weights/sr-small_x4.pt
    r = resolve("runs/x/best.pt", task="vfi")          # a checkpoint of either layout
    r.module, r.label, r.source

``spec`` is one of

* an ``nn.Module``: used as is (``source`` "module");
* ``None``: the task's default (SR: :func:`~inter4k.models.weights.default_sr_model` for ``scale``; VFI:
  the bundled ``vfi-small``, else frame averaging with a warning);
* a registered name: a baseline is built (``source`` "baseline"); a learned model loads its bundled
  weights, ``data/weights/<name>_x<scale>.pt`` for SR and ``<name>.pt`` for VFI
  (:func:`~inter4k.models.weights.weights_path`, ``source`` "bundled"). Without them an SR name is a
  FileNotFoundError, except a clip model (``vsr-small``, :data:`~inter4k.models.vsr.CLIP_MODELS`), which
  runs untrained (bicubic) with a warning, as a VFI name does (``source`` "untrained");
* a checkpoint path (``source`` "checkpoint").

The task check: an SR model where VFI is needed, or the reverse, by name or inside a checkpoint, is a
ValueError of one line that says which command takes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Union

import torch
from torch import nn

from .baselines import is_baseline
from .registry import create_model, list_models, model_task
from .vsr import CLIP_MODELS
from .weights import default_sr_model, load_model, looks_like_path, weights_path

__all__ = ["ResolvedModel", "resolve", "TASKS", "ModelSpec", "DEFAULT_VFI_MODEL"]

ModelSpec = Union[None, str, os.PathLike, nn.Module]


class Task(NamedTuple):
    kind: str       # as in "a super-resolution model"
    verb: str       # the command's name in a sentence
    command: str    # the command that runs the task's models


#: The tasks, with the words of the task check's message.
TASKS: dict[str, Task] = {
    "sr": Task("super-resolution", "upscale", "inter4k upscale"),
    "vfi": Task("frame-interpolation", "interpolation", "inter4k interpolate"),
}

#: The VFI model used when none is named and its weights are bundled.
DEFAULT_VFI_MODEL = "vfi-small"


@dataclass
class ResolvedModel:
    module: nn.Module
    label: str       # what the results call it: the name, the path, or "name (file)" / "name (untrained)"
    source: str      # "module" | "baseline" | "bundled" | "checkpoint" | "untrained"

    def __iter__(self) -> Iterator:  # ``module, label = resolve(...)``
        return iter((self.module, self.label))


def _wrong_task(text: str, task: str) -> ValueError:
    """An SR model where VFI is needed or the reverse: one line naming the command that takes it."""
    need, has = TASKS[task], TASKS[model_task(text)]
    return ValueError(f"{text!r} is a {has.kind} model; {need.verb} needs a {need.kind} model "
                      f"({', '.join(list_models(task))} or a checkpoint of one); use `{has.command}` for it")


def _check_loaded(module: nn.Module, path: str, task: str) -> None:
    """The same check for a checkpoint, by the name of the model it holds."""
    name = getattr(module, "model_name", None)
    if name in list_models() and model_task(name) != task:
        need, has = TASKS[task], TASKS[model_task(name)]
        raise ValueError(f"{path}: holds a {name} model ({has.kind.replace('-', ' ')}); {need.verb} needs a "
                         f"{need.kind} checkpoint; use `{has.command} --model` for this one")


def _built(name: str, device, **kwargs) -> nn.Module:
    return create_model(name, **kwargs).to(device).eval()


def _registered(name: str, task: str, scale: Optional[int], device, warn: Callable[[str], None]) -> ResolvedModel:
    """A registered name of ``task``: :func:`~inter4k.models.weights.load_model` builds a baseline or loads the
    bundled weights (the one lookup of them). Without those weights a VFI model, or an SR clip model, runs
    untrained with a warning; another SR model is load_model's FileNotFoundError."""
    if is_baseline(name):
        return ResolvedModel(load_model(name, scale, device), name, "baseline")
    try:
        module = load_model(name, scale, device)
    except FileNotFoundError:
        if task == "sr" and name not in CLIP_MODELS:
            raise
        path = weights_path(name, scale if task == "sr" else None)
        if task == "sr":
            warn(f"{name} has no trained weights for x{scale} ({path} is missing): running it untrained, which "
                 "returns bicubic")
            return ResolvedModel(_built(name, device, scale=int(scale)), f"{name} (untrained)", "untrained")
        warn(f"{name} has no trained weights ({path} is missing): running it untrained, which is close to "
             "frame averaging")
        return ResolvedModel(_built(name, device), f"{name} (untrained)", "untrained")
    # SR names the model alone (its file is fixed by the scale); VFI adds the file it came from
    label = name if task == "sr" else f"{name} ({Path(module.source).name})"
    return ResolvedModel(module, label, "bundled")


def resolve(spec: ModelSpec, task: str = "sr", scale: Optional[int] = None,
            device: Union[str, torch.device] = "cpu",
            warn: Optional[Callable[[str], None]] = None) -> ResolvedModel:
    """The model ``spec`` names for ``task`` (see the module docstring), in eval mode on ``device`` (a
    module given is returned as is). SR needs ``scale`` unless ``spec`` is a checkpoint path (given, it
    must match the checkpoint's). ``warn`` receives the warnings (a VFI model without trained weights).

    ValueError: a model of the other task, an unknown name, a checkpoint that does not load;
    FileNotFoundError: a missing checkpoint path, or missing bundled weights for an SR name.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if isinstance(spec, nn.Module):
        return ResolvedModel(spec, getattr(spec, "model_name", None) or type(spec).__name__, "module")
    warn = warn or (lambda message: None)
    if spec is None and task == "sr":
        spec = default_sr_model(scale)
    elif spec is None:
        if not weights_path(DEFAULT_VFI_MODEL).is_file():
            warn(f"no trained VFI weights are bundled yet ({weights_path(DEFAULT_VFI_MODEL)} is missing): "
                 "interpolating by frame averaging (vfi-average). Pass --model vfi-small for the untrained flow "
                 "model, or --model PATH for a trained checkpoint")
            return ResolvedModel(_built("vfi-average", device), "vfi-average", "baseline")
        spec = DEFAULT_VFI_MODEL
    text = os.fspath(spec)
    if not isinstance(spec, os.PathLike) and text in list_models():
        if model_task(text) != task:
            raise _wrong_task(text, task)
        return _registered(text, task, scale, device, warn)
    if not isinstance(spec, os.PathLike) and not looks_like_path(text):
        raise ValueError(f"unknown {task.upper()} model {text!r}; known: {', '.join(list_models(task))} "
                         "(or a checkpoint path)")
    module = load_model(spec, scale if task == "sr" else None, device)
    _check_loaded(module, text, task)
    return ResolvedModel(module, text, "checkpoint")
