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

**Tiles** (``tile``): a clip model's activations grow with the frame's area (about 5 GB at 1280x720
x4 with the default chunk), so larger frames are cut into overlapping tiles that each run through
the chunk as a small video of their own, with their own carried state; the outputs are blended with
the same weights as single-frame tiling (:func:`~inter4k.infer.tiling.axis_weights`: the outer third
of each overlap gets no weight, the weights sum to one, no seams). ``"auto"`` keeps whole frames up
to :data:`CLIP_TILE_PIXELS` LR pixels and above that uses the fewest tiles of at most that many
pixels (:func:`clip_tiles`: 1920x1080 -> three tiles of 662x1080); an int is a square tile side;
None never tiles. Unlike a single-frame network, the flows and the propagated state see the whole
tile, not a bounded neighbourhood, so a tiled result is close to, not equal to, the untiled one
(docs/BENCHMARKS.md#video-sr gives the measured difference). No out-of-memory retry: a smaller
``tile`` or ``chunk`` is the remedy.

Memory: at most ``chunk + lookahead`` LR frames, their backward hidden states (of one tile) and
``chunk`` output frames (float32 while tiles are blended), plus one carried state per tile (its LR
crop and a C-channel hidden map).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch
from torch import nn

from .scene import DEFAULT_SCENE_THRESHOLD, SceneCutDetector
from .tiling import DEFAULT_OVERLAP, axis_tiles, model_input, model_output

__all__ = ["ClipStreamer", "DEFAULT_CHUNK", "DEFAULT_LOOKAHEAD", "CLIP_TILE_PIXELS", "clip_tiles"]

DEFAULT_CHUNK = 8
DEFAULT_LOOKAHEAD = 4
#: The most LR pixels a clip model runs in one piece when ``tile="auto"`` (1280x720 x4 peaks at about
#: 5 GB with the default chunk and lookahead; docs/BENCHMARKS.md#video-sr).
CLIP_TILE_PIXELS = 1280 * 720


def clip_tiles(height: int, width: int, tile: Union[None, int, str], overlap: int = DEFAULT_OVERLAP
               ) -> Optional[tuple[int, int]]:
    """The tile (height, width) in LR pixels a clip model runs on for frames of ``height`` x ``width``,
    or None for whole frames.

    ``tile`` None: whole frames; an int: a square tile of that side (whole frames when it covers them);
    ``"auto"``: whole frames up to :data:`CLIP_TILE_PIXELS`, else the grid of the fewest tiles of at
    most that many pixels that cover the frame with overlaps of ``overlap`` (ties: the least area run).

    Example:
        >>> clip_tiles(1080, 1920, "auto"), clip_tiles(720, 1280, "auto"), clip_tiles(720, 1280, 512)
        ((1080, 662), None, (512, 512))
    """
    if tile is None or (isinstance(tile, int) and tile >= height and tile >= width):
        return None
    if isinstance(tile, int):
        return min(tile, height), min(tile, width)
    if tile != "auto":
        raise ValueError(f"tile must be None, 'auto' or an int, got {tile!r}")
    if height * width <= CLIP_TILE_PIXELS:
        return None
    best = None
    for ny in range(1, height + 1):
        th = math.ceil((height + (ny - 1) * overlap) / ny)
        for nx in range(1, width + 1):
            tw = math.ceil((width + (nx - 1) * overlap) / nx)
            if th * tw <= CLIP_TILE_PIXELS:
                key = (ny * nx, ny * nx * th * tw)
                if best is None or key < best[0]:
                    best = (key, (th, tw))
                break   # more columns only add tiles
        if best is not None and ny > best[0][0]:
            break       # more rows than the best count of tiles cannot do better
    assert best is not None   # a 1-row-per-tile grid always fits
    return best[1]

Times = list  # one (pts, time_base, duration) per frame, as the video pipeline's timed mode passes them


class ClipStreamer:
    """See the module docstring. ``push`` / ``flush`` return ``(frames (M, sH, sW, 3), times)`` with the
    input's dtype (uint8 stays uint8), M >= 0; ``cuts`` lists i where a cut lies between frames i - 1 and i."""

    def __init__(self, model: nn.Module, device: torch.device, dtype: torch.dtype, chunk: int = DEFAULT_CHUNK,
                 lookahead: int = DEFAULT_LOOKAHEAD, scene_threshold: float = DEFAULT_SCENE_THRESHOLD,
                 tile: Union[None, int, str] = None, overlap: int = DEFAULT_OVERLAP) -> None:
        for name, v, lo in (("chunk", chunk, 1), ("lookahead", lookahead, 0), ("overlap", overlap, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if not (tile is None or tile == "auto" or (isinstance(tile, int) and not isinstance(tile, bool) and tile > 0)):
            raise ValueError(f"tile must be None, 'auto' or a positive int, got {tile!r}")
        self.model, self.device, self.dtype = model.to(device=device, dtype=dtype).eval(), device, dtype
        self.chunk, self.lookahead = chunk, lookahead
        self.tile_spec, self.overlap = tile, overlap
        self.tile: Optional[tuple[int, int]] = None   # (height, width) in use, set by the first frame
        self.detector = SceneCutDetector(scene_threshold)
        self.frames: list[torch.Tensor] = []   # held frames (3, h, w), as decoded
        self.times: Times = []
        self.states: dict = {}                  # the carried forward state of each tile, by its origin
        self._plan: Optional[list] = None
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
                self.states = {}
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

    def _tiles(self, h: int, w: int) -> list:
        """[(y0, th, x0, tw, weight (s th, s w) or None)] for frames of h x w (fixed for a video)."""
        if self._plan is None:
            self.tile = clip_tiles(h, w, self.tile_spec, self.overlap)
            if self.tile is None:
                self._plan = [(0, h, 0, w, None)]
            else:
                (th, tw), s = self.tile, int(self.model.scale)
                ys, wys = axis_tiles(h, th, self.overlap, s)
                xs, wxs = axis_tiles(w, tw, self.overlap, s)
                self._plan = [(y0, min(th, h - y0), x0, min(tw, w - x0), wy[:, None] * wx[None, :])
                              for y0, wy in zip(ys, wys) for x0, wx in zip(xs, wxs)]
        return self._plan

    @torch.no_grad()
    def _run(self, keep: int, lookahead: int, outs: list, out_times: Times) -> None:
        clip = torch.stack(self.frames[:keep + lookahead])
        h, w = clip.shape[-2:]
        plan = self._tiles(h, w)
        if len(plan) == 1:
            x = model_input(clip, self.device, self.dtype)[None]
            y, self.states[0] = self.model.run(x, self.states.get(0), lookahead=lookahead)
            outs.append(model_output(y[0].permute(0, 2, 3, 1), clip))
        else:
            s = int(self.model.scale)
            out = torch.zeros((keep, clip.shape[1], h * s, w * s), dtype=torch.float32)
            for y0, th, x0, tw, weight in plan:
                x = model_input(clip[:, :, y0:y0 + th, x0:x0 + tw], self.device, self.dtype)[None]
                y, self.states[(y0, x0)] = self.model.run(x, self.states.get((y0, x0)), lookahead=lookahead)
                out[:, :, y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += y[0].float().cpu() * weight
                del x, y
            outs.append(model_output(out.permute(0, 2, 3, 1), clip))
        out_times.extend(self.times[:keep])
        del self.frames[:keep], self.times[:keep]

    @staticmethod
    def _stack(outs: list, like: torch.Tensor) -> torch.Tensor:
        if outs:
            return torch.cat([o.cpu() for o in outs])
        return torch.empty((0, 0, 0, 3), dtype=like.dtype)
