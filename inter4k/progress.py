"""The one progress protocol of the library: long-running functions report :class:`Progress` events to
an ``on_progress(event)`` callable (``None``: report nothing).

    from inter4k import api
    from inter4k.progress import Progress

    def show(p: Progress) -> None:
        print(p.stage, p.done, p.total, p.unit, p.note)

    api.download(root, on_progress=show)         # stages "download", "hash", "check", "extract", "verify"
    api.upscale("clip.mp4", on_progress=show)    # stage "upscale", unit "frames"

Every long function (download, verify, derive, make_sample, prepare, train_sr / train_vfi, upscale,
interpolate, evaluate, bench_pool) takes ``on_progress``. The CLI renders the events with one adapter
(``cli/_progress.py``). The older keyword callbacks (``progress=(done, total)``, ``progress=(stage,
done, total)``, ``callback=(event, info)``, ...) still work for existing callers: a
:class:`Reporter` sends each event to them in their old form too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

__all__ = ["Progress", "ProgressFn", "Reporter", "stage_form", "count_form", "item_form", "train_events"]


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes:
        stage: what is running ("download", "verify", "upscale", "train", ...); a function with several
            stages (download: "download", "hash", "check", "extract", "verify") reports each under its name.
        done: units done so far in this stage.
        total: units in all, or None when unknown (a video that declares no frame count).
        unit: what is counted: "bytes", "frames", "clips", "patches", "steps", "measurements", ...
        note: the current item in a few words, plain text ("clip 3", "loss 0.0123").
        kind: "start" (before the first unit), "update", or "end" (the stage is over).
        message: a line worth printing once, above any bar (a run's summary at its start, a
            validation result); "" for none.
        info: stage-specific values, for programs (training: loss, val; evaluate: clip, methods).
    """

    stage: str
    done: int
    total: Optional[int]
    unit: str = ""
    note: str = ""
    kind: str = "update"
    message: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[Progress], None]
#: ``form(callback, event)``: calls an older-style callback with the arguments it expects.
LegacyForm = Callable[[Callable, Progress], None]


def stage_form(callback: Callable, event: Progress) -> None:
    """``callback(stage, done, total)`` (download's older form)."""
    if event.kind == "update":
        callback(event.stage, event.done, event.total)


def count_form(callback: Callable, event: Progress) -> None:
    """``callback(done, total)`` (make_sample, upscale, interpolate's older form)."""
    if event.kind == "update":
        callback(event.done, event.total)


def item_form(key: str) -> LegacyForm:
    """``callback(done, total, info[key])`` (verify: the clip's check, derive: its result, prepare: the
    note, bench_pool: the label)."""
    def form(callback: Callable, event: Progress) -> None:
        if event.kind == "update":
            callback(event.done, event.total, event.info[key])
    return form


class Reporter:
    """What a long function reports to: ``report(stage, done, total, note="", **info)`` makes one
    :class:`Progress` (``unit`` fixed per reporter) and sends it to ``on_progress`` and, in its old form
    (``form``), to an older-style ``legacy`` callback. ``bool(report)`` is False when nobody listens.

    Examples:
        >>> seen = []
        >>> report = Reporter(seen.append, unit="clips")
        >>> report("verify", 1, 2, note="clip 1")
        >>> seen[0].stage, seen[0].done, seen[0].total, seen[0].unit, seen[0].note
        ('verify', 1, 2, 'clips', 'clip 1')
        >>> old = []
        >>> Reporter(None, legacy=lambda d, t: old.append((d, t)), form=count_form)("sample", 1, 6)
        >>> old
        [(1, 6)]
    """

    def __init__(self, on_progress: Optional[ProgressFn] = None, *, unit: str = "", legacy: Optional[Callable] = None,
                 form: Optional[LegacyForm] = None) -> None:
        if legacy is not None and form is None:
            raise TypeError("Reporter: a legacy callback needs its form")
        self.on_progress, self.unit, self.legacy, self.form = on_progress, unit, legacy, form

    def __bool__(self) -> bool:
        return self.on_progress is not None or self.legacy is not None

    def emit(self, event: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)
        if self.legacy is not None:
            self.form(self.legacy, event)

    def __call__(self, stage: str, done: int, total: Optional[int], note: str = "", **info: Any) -> None:
        self.emit(Progress(stage, done, total, self.unit, note, info=info))

    def stage(self, stage: str) -> Callable[..., None]:
        """``report(done, total, note="", **info)`` for one stage (what a function with one stage passes on)."""
        def report(done: int, total: Optional[int], note: str = "", **info: Any) -> None:
            self(stage, done, total, note, **info)
        return report


def _val_line(info: Mapping[str, Any]) -> str:
    """A trainer's validation result in a few words: PSNR (SSIM) (flicker) (baseline PSNR)."""
    base = next(((k, info[k]) for k in ("bicubic", "average") if info.get(k) is not None), None)
    ssim = info.get("ssim")
    flicker = info.get("flicker")
    return (f"{info['psnr']:.2f} dB" + (f" SSIM {ssim:.4f}" if ssim is not None else "")
            + (f" flicker {flicker:.2f}" if flicker is not None else "")
            + (f" ({base[0]} {base[1]:.2f})" if base is not None else ""))


def train_events(on_progress: ProgressFn, stage: str = "train") -> Callable[[str, dict], None]:
    """The trainers' ``callback(event, info)`` as :class:`Progress` events (unit "steps"): "start" with
    the run's summary as ``message``, one update per step (note: loss, last validation), a ``message``
    per validation, "end"."""
    state = {"end": None, "val": "", "loss": ""}

    def note() -> str:
        return ", ".join(x for x in (state["loss"], state["val"] and f"val {state['val']}") if x)

    def callback(event: str, info: dict) -> None:
        if event == "start":
            state["end"] = info.get("end")
            mode = f" {info['mode']}" if info.get("mode") else ""
            message = (f"{stage}{mode} {info['data_kind']} {info['data']}: {info['train_samples']} samples "
                       f"({info['steps_per_epoch']} steps/epoch), {info['val_samples']} val, {info['params']:,} "
                       f"parameters, {info['device']}{' bf16' if info['amp'] else ''} x{info['world_size']} -> "
                       f"{info['out']}" + (f" (resumed at step {info['step']})" if info["resumed"] else "")
                       + (f", per-frame network from {info['frame_init']}" if info.get("frame_init") else ""))
            on_progress(Progress(stage, info["step"], state["end"], "steps", kind="start", message=message, info=info))
        elif event == "step":
            state["loss"] = f"loss {info['loss']:.4f}"
            rate = f"{info['it_s']:.2f} it/s" if info.get("it_s") else ""
            on_progress(Progress(stage, info["step"], state["end"], "steps", note(), info=dict(info, rate=rate)))
        elif event == "val":
            state["val"] = _val_line(info)
            on_progress(Progress(stage, info["step"], state["end"], "steps", note(),
                                 message=f"step {info['step']}: val PSNR-Y {state['val']}", info=info))
        elif event == "end":
            on_progress(Progress(stage, info.get("step", 0), state["end"], "steps", note(), kind="end", info=info))
    return callback
