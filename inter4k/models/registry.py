"""A registry of model factories (timm's pattern): ``@register_model`` instead of if-chains.

    @register_model("sr-small")
    def sr_small(scale: int = 4, **kw) -> nn.Module: ...

    model = create_model("sr-small", scale=4, upsampler="adaunpool")
"""

from __future__ import annotations

from typing import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_TASKS: dict[str, str] = {}


def register_model(name: str, task: str = "sr") -> Callable:
    """Register ``fn(**kwargs) -> nn.Module`` under ``name`` (task: "sr" or "vfi")."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = fn
        _TASKS[name] = task
        return fn

    return deco


def list_models(task: str | None = None) -> list[str]:
    return sorted(n for n in _MODELS if task is None or _TASKS[n] == task)


def model_task(name: str) -> str:
    """The task ("sr" or "vfi") of the registered model ``name``."""
    if name not in _TASKS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models()) or '(none)'}")
    return _TASKS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unknown names list the known ones."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models()) or '(none)'}")
    return _MODELS[name](**kwargs)
