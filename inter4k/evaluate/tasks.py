"""Evaluation tasks as plug-ins: each kind of evaluation (pairs, SR, VFI, later VSR) is one
:class:`EvalTask` subclass registered under its name; :func:`inter4k.evaluate.run.evaluate` does the
shared set-up (arguments, device, scorer, crop picker, report) once and calls the task's hooks:

- :meth:`EvalTask.open`: open the data and build the methods; returns the task's config entries;
- :meth:`EvalTask.items`: the things to score, in order, each with a ``clip`` attribute;
- :meth:`EvalTask.score`: score one item with every method (appending to ``self.results``), offer
  the crop picker its panels; returns the frames it scored.

The shared loop (:meth:`EvalTask.run`) groups the items by clip (:func:`group_by_clip`), closes each
clip's summary after its last item and reports progress. A new task is one module that subclasses
:class:`EvalTask`, decorates it with :func:`register_task` and is named in :data:`PLUGINS`.
"""

from __future__ import annotations

import importlib
import itertools
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar, Union

import torch
from torch import nn

from .crops import CropPicker
from .results import MethodResult
from .scoring import Scorer, oom_warnings

__all__ = ["EvalRequest", "EvalTask", "register_task", "get_task", "group_by_clip", "PLUGINS", "TASKS"]

#: Task name -> the module that registers its plug-in (imported on first use: it pulls in the models).
#: "pairs" is the pairs mode (given predictions against references) of every task.
PLUGINS = {"pairs": ".compare", "sr": ".sr_model", "vfi": ".vfi_model", "vsr": ".vsr_model"}
#: The tasks a user names (``--task``).
TASKS = tuple(name for name in PLUGINS if name != "pairs")

_REGISTRY: dict[str, type["EvalTask"]] = {}

T = TypeVar("T")


def group_by_clip(items: Iterable[T]) -> Iterator[tuple[str, Iterator[T]]]:
    """``(clip, its items)`` for each run of consecutive items with the same ``clip`` attribute.

    Examples:
        >>> from types import SimpleNamespace as F
        >>> [(c, [f.i for f in fs]) for c, fs in group_by_clip([F(clip="a", i=0), F(clip="a", i=1), F(clip="b", i=0)])]
        [('a', [0, 1]), ('b', [0])]
    """
    return itertools.groupby(items, key=lambda item: item.clip)


@dataclass
class EvalRequest:
    """The checked arguments of :func:`inter4k.evaluate.run.evaluate` that the tasks read."""

    task: str
    mode: str
    pred: Union[None, str, os.PathLike] = None
    ref: Union[None, str, os.PathLike] = None
    model: Union[None, str, os.PathLike, nn.Module] = None
    data: Optional[str] = None
    split: str = "test"
    scale: Optional[int] = None
    limit: Optional[int] = None
    frames: Optional[int] = None
    device: torch.device = torch.device("cpu")
    tile: Union[str, int, None] = "auto"
    tile_overlap: Optional[int] = None
    quantize_lr: bool = False
    vfi_mode: Optional[str] = None
    patch: Optional[int] = None

    @property
    def tile_label(self) -> Union[str, int, None]:
        return self.tile if isinstance(self.tile, (str, type(None))) else int(self.tile)


#: ``progress(done, total, clip)`` after each item: ``done`` and ``total`` count evaluated frames in every task
#: (total None when unknown). An item is one frame (pairs, SR: an image or a video frame; VFI: a target frame),
#: or for video SR a clip, whose T frames a clip model makes at once (the count goes up by T).
FrameProgress = Callable[[int, Optional[int], str], None]


class EvalTask:
    """One kind of evaluation (see the module docstring). Class attributes:

    - ``align``: the crop windows' alignment (the SR scale, so the LR crop lines up);
    - ``grid_period``: the period of :func:`inter4k.metrics.grid.grid_error` (``grid_y``), or None;
    - ``default_overlap``: the tile overlap when none is given;
    - ``empty``: the message when there is nothing to score ("{source}" is filled in);
    - ``model_options``: the model-mode arguments only this task takes, with their CLI spelling
      (given to another task or in pairs mode, they are refused naming this task);
    - ``no_scale``: why the task takes no ``scale`` (None: it takes one);
    - ``default_scale``: the model mode's scale when none is given;
    - ``extra_keys``: per-frame values the task adds after the scorer's (video SR: the temporal ones).

    and the class method :meth:`default_crop_border`.
    """

    name = ""
    default_overlap = 32
    empty = "no frames to evaluate in {source}"
    model_options: dict[str, str] = {}
    no_scale: Optional[str] = None
    default_scale: Optional[int] = None
    extra_keys: tuple[str, ...] = ()

    @classmethod
    def default_crop_border(cls, scale: Optional[int]) -> int:
        """The pixels cropped from each border when ``crop_border`` is not given."""
        return 0

    def __init__(self, req: EvalRequest) -> None:
        self.req = req
        self.warnings: list[str] = []
        self.methods: list[tuple[str, nn.Module]] = []
        self.results: dict[str, MethodResult] = {}
        self.runners: dict[str, Any] = {}
        self.source = ""
        self.clips = 0
        self.total: Optional[int] = None

    # --- hooks ------------------------------------------------------------------------------------------

    @property
    def align(self) -> int:
        return 1

    @property
    def grid_period(self) -> Optional[int]:
        return None

    @property
    def overlap(self) -> int:
        return self.default_overlap if self.req.tile_overlap is None else self.req.tile_overlap

    def open(self) -> dict:
        """Open the data and build :attr:`methods`; set :attr:`source`, :attr:`clips`, :attr:`total`;
        return the entries this task adds to the run's config."""
        raise NotImplementedError

    def runner(self, net: nn.Module):
        """The :class:`~inter4k.infer.tiling.TileRunner` that runs one method's module."""
        raise NotImplementedError

    def items(self) -> Iterable:
        raise NotImplementedError

    def score(self, item, scorer: Scorer, picker: CropPicker) -> int:
        raise NotImplementedError

    # --- the shared loop ----------------------------------------------------------------------------------

    def run(self, scorer: Scorer, picker: CropPicker, progress: Optional[FrameProgress] = None) -> list[MethodResult]:
        """Score every method on every item; returns the results in :attr:`methods` order (out-of-memory
        retries are added to :attr:`warnings`)."""
        self.runners = {name: self.runner(net) for name, net in self.methods}
        self.results = {name: MethodResult(name, [*scorer.keys, *self.extra_keys]) for name, _ in self.methods}
        done = 0
        for clip, items in group_by_clip(self.items()):
            for item in items:
                done += self.score(item, scorer, picker)
                if progress is not None:
                    progress(done, self.total, clip)
            for r in self.results.values():
                r.close_clip(clip, r.name, self.source)
        if not done:
            raise ValueError(self.empty.format(source=self.source))
        self.warnings += oom_warnings(self.runners)
        return [self.results[name] for name, _ in self.methods]


def register_task(name: str) -> Callable[[type[EvalTask]], type[EvalTask]]:
    """Class decorator: register an :class:`EvalTask` under ``name``."""
    def deco(cls: type[EvalTask]) -> type[EvalTask]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return deco


def get_task(name: str) -> type[EvalTask]:
    """The plug-in registered as ``name`` (importing its module from :data:`PLUGINS` on first use)."""
    if name not in _REGISTRY:
        if name not in PLUGINS:
            raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
        importlib.import_module(PLUGINS[name], __package__)
    return _REGISTRY[name]
