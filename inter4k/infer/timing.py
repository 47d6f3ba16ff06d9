"""Output timestamps of frame interpolation (``inter4k interpolate``): exact, strictly increasing.

    tl = Timeline(factor=2, rate=Fraction(60))         # or Timeline(fps=Fraction(120), rate=...)
    for pts, tb, dur in input_frame_times:
        for of in tl.push(pts, tb, dur): ...           # OutputFrame(pts, duration, left, t)
    for of in tl.finish(): ...                         # the frames after the last input frame

An :class:`OutputFrame` says where it goes (``pts`` and ``duration`` in ``tl.time_base``) and what it
shows: input frame ``left`` (``t == 0``) or a frame at fraction ``t`` of the way from input ``left``
to input ``left + 1``. Everything is integer or :class:`~fractions.Fraction` arithmetic, so times are
exact.

**--factor f** (input frame i at time p_i, in the input stream's time base tb):

* between p_i and p_{i+1}: f frames at ``p_i + k (p_{i+1} - p_i) / f``, k = 0..f-1, ``t = k / f``
  (k = 0 is input frame i itself);
* after the last input frame p_n: the frame and f - 1 repeats at ``p_n + k d / f``, d the last frame's
  duration (as decoded; else the previous interval; else one nominal frame interval), so the output
  lasts exactly as long as the input;
* the output time base is ``tb / f``, in which all these times are integers; every output frame of
  the interval i lasts ``p_{i+1} - p_i`` ticks of it. Output frame count = f x input frame count.

**--fps F**: output frames at ``T0 + n / F`` (T0 the first input frame's time), n = 0, 1, ... while
before the input's end ``p_n + d``; a time between p_i and p_{i+1} is made at
``t = (time - p_i) / (p_{i+1} - p_i)`` from frames i and i + 1, a time at or after p_n shows the last
frame. The time base is the largest one in which both tb and 1/F are whole numbers of ticks
(``gcd(tb, 1/F)`` of the two fractions). Output frame count = ceil((p_n + d - p_0) F).

Input frames without a timestamp (raw elementary streams) are timed one nominal interval
(``1 / rate``, rounded to ticks) after the previous one; a timestamp that does not increase is
replaced the same way, with a warning, so no input frame is ever dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

__all__ = ["OutputFrame", "Timeline", "fraction_gcd"]


@dataclass(frozen=True)
class OutputFrame:
    """One output frame: ``pts``/``duration`` in the timeline's time base; input ``left`` at ``t = 0``,
    else the point ``t`` (0 < t < 1) of the way from input ``left`` to input ``left + 1``."""

    pts: int
    duration: int
    left: int
    t: Fraction


def fraction_gcd(a: Fraction, b: Fraction) -> Fraction:
    """The largest g with a / g and b / g both integers (a, b > 0).

    Example:
        >>> fraction_gcd(Fraction(1, 15360), Fraction(1001, 30000))
        Fraction(1, 1920000)
    """
    a, b = Fraction(a), Fraction(b)
    return Fraction(math.gcd(a.numerator, b.numerator), math.lcm(a.denominator, b.denominator))


class Timeline:
    """Streams the output frames of one video (see the module docstring).

    Args:
        factor: output frames per input frame (an int >= 2), or None with ``fps``.
        fps: the output frame rate (a positive Fraction), or None with ``factor``.
        rate: the input's nominal frame rate (for frames without timestamps and a last frame
            without a duration).

    Attributes:
        time_base: the output time base (a Fraction), set by the first :meth:`push`.
        warnings: messages about repaired input timestamps.
    """

    def __init__(self, *, factor: Optional[int] = None, fps: Optional[Fraction] = None, rate: Fraction) -> None:
        if (factor is None) == (fps is None):
            raise ValueError("Timeline: give exactly one of factor and fps")
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, int) or factor < 2):
            raise ValueError(f"Timeline: factor must be an int >= 2, got {factor!r}")
        if fps is not None and Fraction(fps) <= 0:
            raise ValueError(f"Timeline: fps must be positive, got {fps}")
        if Fraction(rate) <= 0:
            raise ValueError(f"Timeline: rate must be positive, got {rate}")
        self.factor = factor
        self.fps = Fraction(fps) if fps is not None else None
        self.rate = Fraction(rate)
        self.time_base: Optional[Fraction] = None
        self.warnings: list[str] = []
        self._tb_in: Optional[Fraction] = None
        self._nominal = 1          # one frame interval in input ticks
        self._scale = 1            # output ticks per input tick
        self._step = 0             # output ticks between --fps frames
        self._start = 0            # --fps: T0 in output ticks
        self._next = 0             # --fps: index n of the next output frame
        self._count = 0            # input frames pushed
        self._prev: Optional[int] = None       # previous input time (input ticks)
        self._prev_dur: Optional[int] = None   # its decoded duration (input ticks)
        self._last_gap: Optional[int] = None   # the last interval between input frames

    def _start_stream(self, time_base: Optional[Fraction]) -> None:
        tb = Fraction(time_base) if time_base else 1 / self.rate
        self._tb_in = tb
        self._nominal = max(1, round(1 / (self.rate * tb)))
        if self.factor is not None:
            self.time_base = tb / self.factor
            self._scale = self.factor
        else:
            self.time_base = fraction_gcd(tb, 1 / self.fps)
            self._scale = int(tb / self.time_base)
            self._step = int((1 / self.fps) / self.time_base)

    def _input_time(self, pts: Optional[int]) -> int:
        if pts is None:
            return 0 if self._prev is None else self._prev + self._nominal
        p = int(pts)
        if self._prev is not None and p <= self._prev:
            self.warnings.append(f"input frame {self._count}: timestamp {p} does not increase (previous "
                                 f"{self._prev}); placed one frame interval after the previous")
            return self._prev + self._nominal
        return p

    def push(self, pts: Optional[int], time_base: Optional[Fraction] = None,
             duration: Optional[int] = None) -> list[OutputFrame]:
        """Add the next input frame (its pts, time base and duration as decoded; pts may be None) and
        return the output frames between the previous input frame and this one."""
        if self._tb_in is None:
            self._start_stream(time_base)
        elif time_base and Fraction(time_base) != self._tb_in:
            pts = None if pts is None else round(Fraction(pts) * Fraction(time_base) / self._tb_in)
        p = self._input_time(pts)
        out: list[OutputFrame] = []
        if self._prev is None:
            self._start = p * self._scale
        else:
            out = self._between(self._prev, p, self._count - 1)
            self._last_gap = p - self._prev
        self._prev = p
        self._prev_dur = int(duration) if duration else None
        self._count += 1
        return out

    def _between(self, p0: int, p1: int, left: int) -> list[OutputFrame]:
        gap = p1 - p0
        if self.factor is not None:
            f = self.factor
            return [OutputFrame(f * p0 + k * gap, gap, left, Fraction(k, f)) for k in range(f)]
        a, b = p0 * self._scale, p1 * self._scale
        out = []
        while self._start + self._next * self._step < b:
            time = self._start + self._next * self._step
            out.append(OutputFrame(time, self._step, left, Fraction(time - a, b - a)))
            self._next += 1
        return out

    def finish(self) -> list[OutputFrame]:
        """The output frames at and after the last input frame (repeats of it); [] if none was pushed."""
        if self._prev is None:
            return []
        d = self._prev_dur if self._prev_dur and self._prev_dur > 0 else (self._last_gap or self._nominal)
        last = self._count - 1
        if self.factor is not None:
            f = self.factor
            return [OutputFrame(f * self._prev + k * d, d, last, Fraction(0)) for k in range(f)]
        end = (self._prev + d) * self._scale
        out = []
        while self._start + self._next * self._step < end:
            out.append(OutputFrame(self._start + self._next * self._step, self._step, last, Fraction(0)))
            self._next += 1
        return out
