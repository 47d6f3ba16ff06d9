"""Which regions the HTML report shows side by side, chosen deterministically while frames stream past.

Only the few crops kept so far are held in memory (small uint8 arrays), never whole frames.

- **Model mode** (:meth:`CropPicker.offer_sr`), panels "LR (nearest)", "bicubic", the model, "ground
  truth": (1) the frame where the model's PSNR-Y gains most over bicubic, at the window where its local
  squared error on Y is most below bicubic's; (2) the centre of the first frame; (3) the frame where
  the model gains least, at the window where it is furthest behind bicubic (or least ahead).
- **VFI model mode** (:meth:`CropPicker.offer_vfi`), panels "frame0", frame averaging, the model,
  "ground truth", "frame1": as the SR model mode with frame averaging in bicubic's place (when the
  model is frame averaging itself: its lowest-PSNR-Y target frame, and the centre of the first).
- **Pairs mode** (:meth:`CropPicker.offer_pair`), panels "pred", "ref": (1) the frame with the lowest
  PSNR-Y, at the window with the largest squared error on Y; (2) the centre of the first frame.

Windows are squares of ``size`` pixels (less for small frames) whose corners are multiples of ``align``
(the SR scale, so the LR crop lines up), searched on a grid of half-window steps inside the
``crop_border``; ties go to the first window in row-major order and to the earliest frame.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.resize import rgb_to_y
from .results import Crop

__all__ = ["CropPicker", "to_uint8", "best_window", "window_side"]


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(3, h, w) float in [0, 1] -> (h, w, 3) uint8."""
    return t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def window_side(h: int, w: int, size: int, align: int, border: int) -> tuple[int, int]:
    """(first corner, side) of the crop windows of an h x w frame: inside ``border``, aligned."""
    start = math.ceil(border / align) * align
    room = min(h, w) - 2 * start
    if room < align:  # a frame smaller than twice the border: use it all
        start, room = 0, min(h, w)
    side = max(align, min(size, room) // align * align)
    return start, side


def best_window(score: torch.Tensor, side: int, start: int, align: int) -> tuple[int, int]:
    """(y, x) of the ``side``-square window whose summed ``score`` (an (H, W) map) is largest, among the
    windows with corners ``start + k * step`` (step: half the side, a multiple of ``align``) that fit
    inside the frame less ``start`` on each side; the first in row-major order on ties."""
    h, w = score.shape
    step = max(align, side // 2 // align * align)
    region = score[start:h - start, start:w - start] if start else score
    if region.shape[0] < side or region.shape[1] < side:
        return start, start
    sums = F.avg_pool2d(region[None, None].double(), side, stride=step)[0, 0]
    flat = int(torch.argmax(sums.reshape(-1)))  # the first maximum
    gy, gx = divmod(flat, sums.shape[1])
    return start + gy * step, start + gx * step


def _y_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (rgb_to_y(a.float().clamp(0, 1)) - rgb_to_y(b.float().clamp(0, 1)))[0].pow(2)


class _Best:
    """The crop of the highest score offered so far (NaN scores are ignored; earlier wins ties)."""

    def __init__(self) -> None:
        self.score: Optional[float] = None
        self.crop: Optional[Crop] = None

    def offer(self, score: float, make: Callable[[], Crop]) -> None:
        if math.isnan(score):
            return
        if self.score is None or score > self.score:
            self.score, self.crop = score, make()


class CropPicker:
    """Keeps the report's crops (see the module docstring).

    Args:
        size: the window side in reference pixels (smaller for small frames).
        align: corners are multiples of this (the SR scale; 1 for pairs).
        border: windows stay inside this many pixels from each edge (the metrics' crop border).
    """

    def __init__(self, size: int = 96, align: int = 1, border: int = 0):
        self.size, self.align, self.border = int(size), int(align), int(border)
        self._centre: Optional[Crop] = None
        self._most = _Best()
        self._least = _Best()

    def _box(self, h: int, w: int, score: Optional[torch.Tensor]) -> tuple[int, int, int, int]:
        start, side = window_side(h, w, self.size, self.align, self.border)
        if score is None:  # the centre, aligned
            y = (h - side) // 2 // self.align * self.align
            x = (w - side) // 2 // self.align * self.align
        else:
            y, x = best_window(score, side, start, self.align)
        return y, x, side, side

    @staticmethod
    def _cut(panels: dict[str, torch.Tensor], box) -> dict[str, np.ndarray]:
        y, x, h, w = box
        return {k: to_uint8(v[:, y:y + h, x:x + w]) for k, v in panels.items()}

    def offer_sr(self, clip: str, frame: int, lr: torch.Tensor, hr: torch.Tensor, outputs: dict[str, torch.Tensor],
                 model: str, gain: float) -> None:
        """One frame of the model mode: ``outputs`` maps method names (incl. "bicubic" and ``model``) to
        (3, H, W) results; ``gain`` is the model's PSNR-Y minus bicubic's."""
        s = self.align

        def panels() -> dict[str, torch.Tensor]:
            near = lr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)  # LR shown at HR size
            return {"LR (nearest)": near, "bicubic": outputs["bicubic"], model: outputs[model], "ground truth": hr}

        def make(title: str, why: str, sign: Optional[float]) -> Callable[[], Crop]:
            def build() -> Crop:
                score = None
                if sign is not None:
                    score = sign * (_y_error(outputs["bicubic"], hr) - _y_error(outputs[model], hr))
                box = self._box(hr.shape[-2], hr.shape[-1], score)
                return Crop(title, why, clip, frame, box, self._cut(panels(), box))
            return build

        if self._centre is None:
            self._centre = make("centre of the first frame", "the centre of the first frame evaluated", None)()
        self._most.offer(gain, make(
            "where the model gains most", f"the frame where {model}'s PSNR-Y gains most over bicubic, at the "
            f"window where its squared error on Y is most below bicubic's", 1.0))
        self._least.offer(-gain, make(
            "where the model gains least", f"the frame where {model}'s PSNR-Y gains least over bicubic, at the "
            f"window where it is furthest behind bicubic (or least ahead)", -1.0))

    def offer_vfi(self, clip: str, frame: int, t: str, frame0: torch.Tensor, frame1: torch.Tensor,
                  target: torch.Tensor, outputs: dict[str, torch.Tensor], model: str, average: Optional[str],
                  gain: float, psnr_y: Optional[float]) -> None:
        """One target frame of the VFI model mode (``t`` its time as a label, e.g. "1/2"): ``outputs``
        maps method names (incl. ``average``, frame averaging, and ``model``) to (3, H, W) results;
        ``gain`` is the model's PSNR-Y minus frame averaging's, ``psnr_y`` the model's.

        Panels "frame0", frame averaging, the model, "ground truth", "frame1". Crops as for SR with frame
        averaging in bicubic's place; when the model *is* frame averaging (the baselines-only run):
        the frame with its lowest PSNR-Y at the window with the largest squared error, and the centre."""
        baseline_only = average is None or model == average

        def panels() -> dict[str, torch.Tensor]:
            shown = {"frame0": frame0}
            if average is not None:
                shown[average] = outputs[average]
            shown[model] = outputs[model]
            shown.update({"ground truth": target, "frame1": frame1})
            return shown

        def make(title: str, why: str, score_of: Optional[Callable[[], torch.Tensor]]) -> Callable[[], Crop]:
            def build() -> Crop:
                box = self._box(target.shape[-2], target.shape[-1], None if score_of is None else score_of())
                return Crop(title, why, clip, frame, box, self._cut(panels(), box), t=t)
            return build

        def ahead(sign: float) -> Callable[[], torch.Tensor]:
            return lambda: sign * (_y_error(outputs[average], target) - _y_error(outputs[model], target))

        if self._centre is None:
            self._centre = make("centre of the first frame", "the centre of the first target frame evaluated", None)()
        if baseline_only:
            if psnr_y is not None:
                self._most.offer(-psnr_y, make(
                    "lowest PSNR-Y", f"the target frame where {model}'s PSNR-Y is lowest, at the window with the "
                    f"largest squared error on Y", lambda: _y_error(outputs[model], target)))
            return
        self._most.offer(gain, make(
            "where the model gains most", f"the target frame where {model}'s PSNR-Y gains most over {average}, "
            f"at the window where its squared error on Y is most below {average}'s", ahead(1.0)))
        self._least.offer(-gain, make(
            "where the model gains least", f"the target frame where {model}'s PSNR-Y gains least over {average}, "
            f"at the window where it is furthest behind {average} (or least ahead)", ahead(-1.0)))

    def offer_pair(self, clip: str, frame: int, pred: torch.Tensor, ref: torch.Tensor, psnr_y: Optional[float]) -> None:
        """One frame of the pairs mode, with its PSNR-Y (None when PSNR was not computed)."""
        def make(title: str, why: str, worst: bool) -> Callable[[], Crop]:
            def build() -> Crop:
                box = self._box(ref.shape[-2], ref.shape[-1], _y_error(pred, ref) if worst else None)
                return Crop(title, why, clip, frame, box, self._cut({"pred": pred, "ref": ref}, box))
            return build

        if self._centre is None:
            self._centre = make("centre of the first frame", "the centre of the first frame compared", False)()
        if psnr_y is not None:
            self._most.offer(-psnr_y, make(
                "lowest PSNR-Y", "the frame with the lowest PSNR-Y, at the window with the largest squared "
                "error on Y", True))

    @property
    def crops(self) -> list[Crop]:
        """The crops kept, in the order of the module docstring."""
        found = [self._most.crop, self._centre, self._least.crop]
        return [c for c in found if c is not None]
