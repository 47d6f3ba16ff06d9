"""Run a video SR clip model (``vsr-small``) over a whole video in bounded memory.

    streamer = ClipStreamer(model, device, torch.float32, chunk=8, lookahead=4)
    y, times = streamer.push(frames, times)     # (B, 3, h, w) uint8 -> the frames that are ready
    y, times = streamer.flush()                 # the rest, at the end

Frames arrive in decode order and leave in the same order, each with its own time (nothing is
dropped, added or reordered). They are held until ``chunk`` frames plus ``lookahead`` later frames are
there; then the model runs once on those (:meth:`~inter4k.models.vsr.VSRSmall.run`): the ``chunk``
frames are output, the forward branch's state after the last of them is carried to the next chunk
(exactly what an offline pass over the whole video would carry), and the backward branch sees the
``lookahead`` frames beyond the chunk (an offline pass would see the whole rest of the scene; a
forward-only model streams exactly). The lookahead frames are output with the next chunk.

**Scene cuts** (:class:`~inter4k.infer.scene.SceneCutDetector`, minterpolate's rule): a cut ends the
scene: the frames before it are output with no lookahead past it, and the state is reset, so nothing
is propagated across a cut.

Memory: at most ``chunk + lookahead`` LR frames, their backward hidden states and ``chunk`` output
frames, plus one carried state (one LR frame and one C-channel hidden map); whole frames, no tiles.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .scene import DEFAULT_SCENE_THRESHOLD, SceneCutDetector
from .tiling import model_input, model_output

__all__ = ["ClipStreamer", "DEFAULT_CHUNK", "DEFAULT_LOOKAHEAD"]

DEFAULT_CHUNK = 8
DEFAULT_LOOKAHEAD = 4

Times = list  # one (pts, time_base, duration) per frame, as the video pipeline's timed mode passes them


class ClipStreamer:
    """See the module docstring. ``push`` / ``flush`` return ``(frames (M, sH, sW, 3), times)`` with the
    input's dtype (uint8 stays uint8), M >= 0; ``cuts`` lists i where a cut lies between frames i - 1 and i."""

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype, chunk: int = DEFAULT_CHUNK,
                 lookahead: int = DEFAULT_LOOKAHEAD, scene_threshold: float = DEFAULT_SCENE_THRESHOLD) -> None:
        for name, v, lo in (("chunk", chunk, 1), ("lookahead", lookahead, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        self.model, self.device, self.dtype = model.to(device=device, dtype=dtype).eval(), device, dtype
        self.chunk, self.lookahead = chunk, lookahead
        self.detector = SceneCutDetector(scene_threshold)
        self.frames: list[torch.Tensor] = []   # held frames (3, h, w), as decoded
        self.times: Times = []
        self.state = None
        self.seen = 0
        self.cuts: list[int] = []

    def push(self, x: torch.Tensor, times: Times) -> tuple[torch.Tensor, Times]:
        outs, out_times = [], []
        for frame, time in zip(x, times):
            _, cut = self.detector.push(frame)
            if cut:  # the scene ends: output what is held (no lookahead past the cut), start afresh
                self.cuts.append(self.seen)
                if self.frames:
                    self._run(len(self.frames), 0, outs, out_times)
                self.state = None
            self.frames.append(frame)
            self.times.append(time)
            self.seen += 1
            if len(self.frames) >= self.chunk + self.lookahead:
                self._run(self.chunk, self.lookahead, outs, out_times)
        return self._stack(outs, x), out_times

    def flush(self) -> Optional[tuple[torch.Tensor, Times]]:
        """Everything still held, with no lookahead (None when nothing is)."""
        if not self.frames:
            return None
        outs, out_times = [], []
        like = self.frames[0][None]
        self._run(len(self.frames), 0, outs, out_times)
        return self._stack(outs, like), out_times

    @torch.no_grad()
    def _run(self, keep: int, lookahead: int, outs: list, out_times: Times) -> None:
        clip = torch.stack(self.frames[:keep + lookahead])
        x = model_input(clip, self.device, self.dtype)[None]
        y, self.state = self.model.run(x, self.state, lookahead=lookahead)
        outs.append(model_output(y[0].permute(0, 2, 3, 1), clip))
        out_times.extend(self.times[:keep])
        del self.frames[:keep], self.times[:keep]

    @staticmethod
    def _stack(outs: list, like: torch.Tensor) -> torch.Tensor:
        if outs:
            return torch.cat([o.cpu() for o in outs])
        return torch.empty((0, 0, 0, 3), dtype=like.dtype)
