"""Scene-cut detection for frame interpolation: never morph across a cut.

The rule is ffmpeg's ``minterpolate`` scene detection (``scd=fdiff``): for consecutive frames i-1, i

    mafd_i  = 100 * mean |Y_i - Y_{i-1}|                 (Y: BT.601 luma in [0, 1], so 0..100)
    score_i = min(mafd_i, |mafd_i - mafd_{i-1}|)          (mafd before the first pair: 0)
    cut between i-1 and i  <=>  score_i >= threshold      (default 10, as minterpolate's scd_threshold)

Taking the change of mafd as well as mafd itself keeps steady fast motion (a high but constant
difference) from reading as a cut, while a cut is a sudden jump. Y is computed on every s-th pixel
in each direction, s chosen so that the longer side has at most :data:`SAMPLE_SIDE` samples: the mean
over that regular sample estimates the full-frame mean without bias, for a few hundred thousand
pixel operations per 4K frame. ``threshold = 0`` turns detection off.
"""

from __future__ import annotations

from typing import Optional

import torch

from .tiling import FULL_SCALE

__all__ = ["DEFAULT_SCENE_THRESHOLD", "SAMPLE_SIDE", "sampled_luma", "mafd", "SceneCutDetector"]

DEFAULT_SCENE_THRESHOLD = 10.0
SAMPLE_SIDE = 512

_LUMA = (0.299, 0.587, 0.114)  # BT.601


def sampled_luma(frame: torch.Tensor, max_side: int = SAMPLE_SIDE) -> torch.Tensor:
    """BT.601 luma in [0, 1] of every s-th pixel of a (3, H, W) uint8 (or uint16) RGB frame,
    s = ceil(max(H, W) / max_side).

    Shape:
        - frame: (3, H, W) uint8 or uint16.
        - Output: (ceil(H / s), ceil(W / s)) float32.

    Example:
        >>> sampled_luma(torch.full((3, 4, 6), 255, dtype=torch.uint8)).shape
        torch.Size([4, 6])
    """
    if frame.dim() != 3 or frame.shape[0] != 3:
        raise ValueError(f"sampled_luma: expected a (3, H, W) frame, got shape {tuple(frame.shape)}")
    step = max(1, -(-max(frame.shape[1:]) // max_side))
    x = frame[:, ::step, ::step].float()
    return (_LUMA[0] * x[0] + _LUMA[1] * x[1] + _LUMA[2] * x[2]) / FULL_SCALE[frame.dtype]


def mafd(a: torch.Tensor, b: torch.Tensor) -> float:
    """The mean absolute frame difference in percent: ``100 * mean |a - b|`` of two luma maps in [0, 1]."""
    return float((a - b).abs().mean()) * 100.0


class SceneCutDetector:
    """Feed frames in order; :meth:`push` says whether a cut lies between the previous frame and this one.

    Args:
        threshold: the score in (0, 100] at or above which a pair is a cut; 0 turns detection off.
    """

    def __init__(self, threshold: float = DEFAULT_SCENE_THRESHOLD) -> None:
        threshold = float(threshold)
        if not 0.0 <= threshold <= 100.0:  # also NaN
            raise ValueError(f"scene threshold must be in [0, 100] (0: off), got {threshold}")
        self.threshold = threshold
        self._prev: Optional[torch.Tensor] = None
        self._prev_mafd = 0.0

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def push(self, frame: torch.Tensor) -> tuple[float, bool]:
        """(score, cut) for ``frame`` (3, H, W) uint8 against the previous one; (0.0, False) for the first."""
        if not self.enabled:
            return 0.0, False
        y = sampled_luma(frame)
        if self._prev is None:
            self._prev = y
            return 0.0, False
        d = mafd(y, self._prev)
        score = min(d, abs(d - self._prev_mafd))
        self._prev, self._prev_mafd = y, d
        return score, score >= self.threshold
