"""Tiled, out-of-memory-safe inference of a super-resolution model.

:class:`TileRunner` turns a model (``(N, 3, H, W)`` in [0, 1] -> ``(N, 3, sH, sW)``) into a function
of whole frames held on the CPU:

- **Only a tile goes to the device.** Frames stay on the CPU (as uint8, or uint16 for deeper video and
  16-bit images, when they come from a file; the result has the same type);
  each tile is sliced there, copied to the device, converted to the model's dtype and run; the
  result comes back weighted and is added into a float32 accumulator on the CPU. The whole frame is
  sent only when it is itself the tile (untiled, or a tile at least as large as the frame).
- **Tiles overlap** by ``overlap`` LR pixels (at most half the tile). Along each axis the tiles are
  spread evenly, so every overlap is at least ``overlap``; a frame edge is never an overlap. Each
  tile's output is weighted, separably, by a ramp across each overlap it shares with a neighbour:
  zero over the outer third of the overlap (the pixels whose receptive field reaches past the tile's
  edge), rising linearly over the middle third and one over the rest. The two ramps of an overlap sum
  to one, and the weights are normalised to sum exactly to one at every output pixel, so there are
  no seams; for a model whose receptive-field radius is at most ``overlap / 3`` LR pixels the tiled
  result equals the untiled one up to float rounding. A model that knows its radius (a
  ``receptive_radius`` attribute, in LR pixels) therefore gets an overlap of at least three times it
  (:func:`seamless_overlap`), whatever overlap was asked for; the overlap is still at most half the tile.
- **Out of memory** (``torch.cuda.OutOfMemoryError``, or a RuntimeError / MemoryError whose message
  says "out of memory" / "can't allocate memory"): in ``"auto"`` mode, or with a fixed tile, the
  tile is halved (from the whole frame: the largest power of two below the frame's longer side) and
  the SAME frames are run again, so no frame is ever dropped; the smaller tile is kept for the frames
  that follow. At the minimum tile (``min_tile``, default 32) a batch of several frames is split in
  halves next; past that a RuntimeError says what to try. ``tile=None`` (``--tile 0``) never tiles
  and re-raises the out-of-memory error with a hint. When the CPU has no room for the float32
  accumulator of the whole output, smaller tiles cannot help: :class:`HostMemoryError` says so at once.
- ``"auto"`` starts untiled, except on CUDA where a rough activation-memory estimate (see
  :func:`estimate_bytes_per_pixel`) picks the largest power-of-two tile that fits in the free memory.

:class:`OOMAbove` wraps a model to raise a simulated out-of-memory error for inputs above a size,
which is how the tests exercise the retry path without a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from torch import nn

__all__ = ["MIN_TILE", "DEFAULT_OVERLAP", "is_oom", "OOMAbove", "tile_starts", "axis_weights", "TileRunner",
           "OOMEvent", "parse_tile", "seamless_overlap", "estimate_bytes_per_pixel", "HostMemoryError", "FULL_SCALE",
           "model_input", "model_output", "axis_tiles"]

MIN_TILE = 32
DEFAULT_OVERLAP = 32
#: The value of full intensity in integer frames (float frames are in [0, 1]).
FULL_SCALE = {torch.uint8: 255.0, torch.uint16: 65535.0}


class HostMemoryError(RuntimeError):
    """The CPU cannot hold the whole output frame the tiles are blended into: smaller tiles do not help."""

TileSpec = Union[None, int, str]


def model_input(x: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """CPU frames (uint8, uint16 or float) -> model input on ``device``: float in [0, 1] of ``dtype``."""
    if x.dtype == torch.uint16:  # CUDA has few uint16 kernels: convert on the CPU
        x = x.to(torch.float32).div_(FULL_SCALE[torch.uint16])
    xd = x.to(device, non_blocking=True)
    if xd.dtype == torch.uint8:
        xd = xd.to(torch.float32).div_(FULL_SCALE[torch.uint8])
    return xd.to(dtype)


def model_output(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Clamp a model output and convert it to the input's kind (uint8 stays uint8, uint16 uint16)."""
    full = FULL_SCALE.get(like.dtype)
    if full is None:
        return y.float().clamp_(0, 1)
    if like.dtype == torch.uint16:
        y = y.cpu()
    return y.float().clamp_(0, 1).mul_(full).round_().to(like.dtype)


def is_oom(exc: BaseException) -> bool:
    """True for an out-of-memory error of torch on any device (CUDA, or the CPU allocator)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return ("out of memory" in msg or "can't allocate memory" in msg or "cannot allocate memory" in msg
                or "status_alloc_failed" in msg)  # cuBLAS / cuDNN workspace allocation
    return False


def parse_tile(value) -> TileSpec:
    """``"auto"`` -> "auto"; ``0`` / ``"0"`` / ``"off"`` / ``"none"`` / None -> None (never tile); an int -> it."""
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip().lower()
        if v == "auto":
            return "auto"
        if v in ("0", "off", "none", "no"):
            return None
        try:
            value = int(v)
        except ValueError:
            raise ValueError(f"tile must be 'auto', 0 (off) or a tile size in pixels, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"tile must be 'auto', 0 (off) or a tile size in pixels, got {value!r}")
    if value == 0:
        return None
    if value < 0:
        raise ValueError(f"tile must be >= 0, got {value}")
    return value


class OOMAbove(nn.Module):
    """Wraps ``model`` and raises a simulated out-of-memory RuntimeError when an input has more than
    ``max_pixels`` pixels (N x H x W). ``calls``, ``raised`` and ``shapes`` record what it saw."""

    def __init__(self, model: nn.Module, max_pixels: int, cuda_style: bool = True):
        super().__init__()
        self.model = model
        self.max_pixels = int(max_pixels)
        self.cuda_style = cuda_style
        self.calls = 0
        self.raised = 0
        self.shapes: list[tuple[int, ...]] = []
        for attr in ("scale", "model_name", "receptive_radius"):
            if hasattr(model, attr):
                setattr(self, attr, getattr(model, attr))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.shapes.append(tuple(x.shape))
        n, _, h, w = x.shape
        if n * h * w > self.max_pixels:
            self.raised += 1
            raise RuntimeError(f"CUDA out of memory. Tried to allocate {n * h * w * 4096} bytes (simulated: "
                               f"{n}x{h}x{w} is above {self.max_pixels} pixels)")
        return self.model(x)


def seamless_overlap(model: nn.Module, overlap: int) -> int:
    """``max(overlap, 3 * model.receptive_radius)``: the overlap whose zero-weight outer third covers
    the model's receptive field (``overlap`` for a model that does not say its radius)."""
    radius = getattr(model, "receptive_radius", None)
    return max(int(overlap), 3 * int(radius)) if radius is not None else int(overlap)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``size`` with overlaps of at least ``overlap``,
    spread evenly (the first at 0, the last ending at ``size``)."""
    if tile >= size:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {tile}")
    n = math.ceil((size - overlap) / (tile - overlap))
    n = max(n, 2)
    return [round(i * (size - tile) / (n - 1)) for i in range(n)]


def _ramp(length_hr: int, overlap_lr: int, scale: int, rising: bool) -> torch.Tensor:
    """Weights over the ``overlap_lr`` LR pixels (``length_hr`` HR pixels) at a tile's edge, rising
    from the edge inwards (``rising``) or falling towards the far edge: 0 over the outer third of the
    overlap, linear over the middle third, 1 beyond."""
    margin = overlap_lr // 3
    ramp = max(overlap_lr - 2 * margin, 1)
    pos = (torch.arange(length_hr, dtype=torch.float64) + 0.5) / scale  # LR units from the edge
    w = ((pos - margin) / ramp).clamp(0, 1)
    return w if rising else w.flip(0)


def axis_weights(size: int, starts: list[int], tile: int, scale: int) -> list[torch.Tensor]:
    """One float32 weight vector (length ``scale * tile_len``) per tile along an axis of ``size`` LR
    pixels; at every HR position the weights of the tiles covering it sum to one."""
    n = len(starts)
    lens = [min(tile, size - s) for s in starts]
    ws = []
    for i, (s, ln) in enumerate(zip(starts, lens)):
        w = torch.ones(ln * scale, dtype=torch.float64)
        if i > 0:  # overlap with the previous tile on the left
            ov = starts[i - 1] + lens[i - 1] - s
            if ov > 0:
                w[: ov * scale] *= _ramp(ov * scale, ov, scale, rising=True)
        if i < n - 1:  # overlap with the next tile on the right
            ov = s + ln - starts[i + 1]
            if ov > 0:
                w[ln * scale - ov * scale:] *= _ramp(ov * scale, ov, scale, rising=False)
        ws.append(w)
    total = torch.zeros(size * scale, dtype=torch.float64)
    for s, w in zip(starts, ws):
        total[s * scale: s * scale + w.numel()] += w
    if float(total.min()) <= 0:  # cannot happen with the ramps above; a guard, not a code path
        raise AssertionError(f"tile weights leave a gap (size {size}, tile {tile}, starts {starts})")
    return [(w / total[s * scale: s * scale + w.numel()]).float() for s, w in zip(starts, ws)]


def axis_tiles(size: int, tile: int, overlap: int, scale: int) -> tuple[list[int], list[torch.Tensor]]:
    """``(starts, weights)`` of the tiles along an axis of ``size`` LR pixels: :func:`tile_starts` with
    the overlap capped at half the tile, and their :func:`axis_weights`."""
    starts = tile_starts(size, tile, min(overlap, tile // 2))
    return starts, axis_weights(size, starts, tile, scale)


def estimate_bytes_per_pixel(model: nn.Module, scale: int, elem_size: int) -> int:
    """A rough peak-activation estimate per LR pixel of one frame, for choosing the first tile on
    CUDA: four feature maps of the widest conv at LR plus two at HR (``scale**2`` pixels each)."""
    widths = [m.out_channels for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    c = max(widths) if widths else 16
    return int(elem_size * c * (4 + 2 * scale * scale))


@dataclass
class OOMEvent:
    """One out-of-memory retry: the tile (None = whole frame) and batch that failed and what came next."""

    failed_tile: Optional[int]
    new_tile: Optional[int]
    batch: int
    new_batch: int
    message: str


class TileRunner:
    """Run ``model`` on whole CPU frames, tile by tile (see the module docstring).

    Args:
        model: ``(N, C, H, W)`` float in [0, 1] -> ``(N, C', sH, sW)``; moved to ``device``/``dtype``.
        scale: the upscaling factor the model must produce (checked on every output).
        device, dtype: where and in what precision the model runs (float16 is refused on the CPU).
        tile: ``"auto"``, an int (tile side in LR pixels), or None (never tile).
        overlap: LR pixels shared by neighbouring tiles, raised to :func:`seamless_overlap` for a model
            that says its receptive radius (and clamped to half the tile).
        min_tile: the smallest tile the out-of-memory fallback goes down to.
        on_oom: called with an :class:`OOMEvent` after each out-of-memory retry decision.
    """

    def __init__(self, model: nn.Module, scale: int, device: Union[str, torch.device] = "cpu",
                 dtype: torch.dtype = torch.float32, tile: TileSpec = "auto", overlap: int = DEFAULT_OVERLAP,
                 min_tile: int = MIN_TILE, on_oom: Optional[Callable[[OOMEvent], None]] = None):
        self.device = torch.device(device)
        if dtype == torch.float16 and self.device.type == "cpu":
            raise ValueError("fp16 is not supported on the CPU (slow or missing kernels); use bf16 or fp32")
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
        self.dtype = dtype
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        self.mode = parse_tile(tile)
        if overlap < 0:
            raise ValueError(f"tile overlap must be >= 0, got {overlap}")
        if min_tile < 8:
            raise ValueError(f"min_tile must be >= 8, got {min_tile}")
        if isinstance(self.mode, int) and self.mode < min_tile:
            raise ValueError(f"tile must be at least {min_tile} pixels (or 0 for no tiling, or 'auto'), got {self.mode}")
        self.overlap = seamless_overlap(model, overlap)
        self.min_tile = int(min_tile)
        self.on_oom = on_oom
        self.model = model.to(device=self.device, dtype=dtype).eval()
        # current state: tile None = whole frame; max_batch None = whole batch
        self.tile: Optional[int] = self.mode if isinstance(self.mode, int) else None
        self.max_batch: Optional[int] = None
        self.events: list[OOMEvent] = []
        self._estimated = False
        self._weights: dict = {}

    # --- bookkeeping -------------------------------------------------------------------------
    @property
    def oom_retries(self) -> int:
        return len(self.events)

    def effective_overlap(self, tile: int) -> int:
        return min(self.overlap, tile // 2)

    # --- the model call ------------------------------------------------------------------------
    def _model(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        if not isinstance(y, torch.Tensor) or y.dim() != 4:
            raise RuntimeError(f"the model returned {type(y).__name__} {getattr(y, 'shape', '')}; "
                               "expected an (N, C, H, W) tensor")
        n, _, h, w = x.shape
        if y.shape[0] != n or y.shape[-2:] != (h * self.scale, w * self.scale):
            raise ValueError(f"the model maps {tuple(x.shape)} to {tuple(y.shape)}, not x{self.scale}; "
                             "does --scale match the model?")
        return y

    @staticmethod
    def _check_finite(total: torch.Tensor, y: torch.Tensor) -> None:
        """RuntimeError when the frame ``y`` holds NaN or inf, given ``total``, the float32 sum of the model's
        outputs that made it (NaN would be clamped to black, inf to white: never written).

        One sum finds either (about 7x cheaper than isfinite(y).all() on the CPU), and it is summed on the
        model's device tile by tile, so reading it back syncs a GPU once per frame, not once per tile; the
        exact count runs only when it is not finite (a non-finite tile value stays non-finite in the blended
        frame: its weight is >= 0, and inf * 0 is NaN)."""
        bad = 0 if bool(torch.isfinite(total)) else int((~torch.isfinite(y)).sum())
        if bad:
            raise RuntimeError(f"the model produced {bad} non-finite value(s) (NaN or inf) of {y.numel()}; nothing "
                               "is written from them (broken weights, or an fp16 overflow: try --dtype fp32)")

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return model_input(x, self.device, self.dtype)

    @staticmethod
    def _finish(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return model_output(y, like)

    @staticmethod
    def _accumulator(shape: tuple[int, ...]) -> torch.Tensor:
        """The float32 frame the tiles are blended into, on the CPU; HostMemoryError when it does not fit."""
        try:
            return torch.zeros(shape, dtype=torch.float32)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are explained
            if not is_oom(exc):
                raise
            n, c, h, w = shape
            raise HostMemoryError(
                f"not enough memory on the CPU for the {w}x{h} output ({n * c * h * w * 4 / 2**30:.1f} GiB as "
                f"float32, where the tiles are blended); smaller tiles do not help: use a smaller input or "
                f"scale, or a machine with more memory") from None

    def _initial_tile(self, h: int, w: int, n: int) -> Optional[int]:
        if self.device.type != "cuda":
            return None
        try:
            free, _ = torch.cuda.mem_get_info(self.device)
        except Exception:  # noqa: BLE001 - no estimate, start untiled
            return None
        per_px = estimate_bytes_per_pixel(self.model, self.scale, torch.finfo(self.dtype).bits // 8)
        budget = 0.6 * free
        if n * h * w * per_px <= budget:
            return None
        t = 1 << max(int(math.log2(max(h, w))), 0)
        while t > self.min_tile and n * t * t * per_px > budget:
            t //= 2
        return max(t, self.min_tile)

    # --- whole frame and tiles -----------------------------------------------------------------
    @torch.inference_mode()
    def _run_whole(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        y = self._model(self._to_device(x))
        self._check_finite(y.sum(dtype=torch.float32), y)
        y = self._finish(y, x)
        if channels_last:
            y = y.permute(0, 2, 3, 1)
        return y.contiguous().cpu() if y.device.type != "cpu" else y.contiguous()

    def _axis(self, size: int, tile: int, device: torch.device):
        key = (size, tile, self.effective_overlap(tile), self.scale, str(device))
        hit = self._weights.get(key)
        if hit is None:
            starts, ws = axis_tiles(size, tile, self.overlap, self.scale)
            hit = self._weights[key] = (starts, [w.to(device) for w in ws])
        return hit

    @torch.inference_mode()
    def _run_tiled(self, x: torch.Tensor, tile: int, channels_last: bool) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.scale
        ys, wys = self._axis(h, tile, self.device)
        xs, wxs = self._axis(w, tile, self.device)
        out: Optional[torch.Tensor] = None
        total = torch.zeros((), dtype=torch.float32, device=self.device)  # of the outputs: one finiteness check
        for y0, wy in zip(ys, wys):
            th = min(tile, h - y0)
            for x0, wx in zip(xs, wxs):
                tw = min(tile, w - x0)
                part = self._model(self._to_device(x[:, :, y0:y0 + th, x0:x0 + tw]))
                total += part.sum(dtype=torch.float32)
                part = part.float() * (wy[:, None] * wx[None, :])
                if out is None:
                    out = self._accumulator((n, part.shape[1], h * s, w * s))
                out[:, :, y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += part.cpu()
                del part
        assert out is not None
        self._check_finite(total, out)
        y = self._finish(out, x)
        return y.permute(0, 2, 3, 1).contiguous() if channels_last else y

    def _run_once(self, x: torch.Tensor, channels_last: bool) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.tile is None or (self.tile >= h and self.tile >= w):
            return self._run_whole(x, channels_last)
        return self._run_tiled(x, self.tile, channels_last)

    def _shrink(self, h: int, w: int, n: int, message: str) -> None:
        """After an out-of-memory error: a smaller tile, else a smaller batch, else give up."""
        failed = self.tile if (self.tile is not None and self.tile < max(h, w)) else None
        current = failed if failed is not None else max(h, w)
        if failed is None:  # whole frame -> the largest power of two below its longer side
            new = 1 << max(int(math.log2(max(current - 1, 1))), 0)
        else:
            new = current // 2
        batch = n if self.max_batch is None else min(n, self.max_batch)
        if new >= self.min_tile:
            event = OOMEvent(failed, new, batch, batch, message)
            self.tile = new
        elif batch > 1:
            event = OOMEvent(failed, failed, batch, batch // 2, message)
            self.max_batch = batch // 2
        else:
            where = f"{current}x{current} tiles" if failed is not None else f"the whole {w}x{h} frame"
            raise RuntimeError(
                f"out of memory on {self.device} even with {where} (the minimum tile is {self.min_tile} px) "
                f"and 1 frame per batch; try --dtype bf16 (or fp16 on CUDA), a smaller model, or a device "
                f"with more memory ({message})")
        self.events.append(event)
        if self.on_oom is not None:
            self.on_oom(event)

    def __call__(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """Upscale ``x`` (CPU, (N, C, H, W), uint8 or float in [0, 1]) -> (N, C, sH, sW) on the CPU,
        of the same kind ((N, sH, sW, C) when ``channels_last``)."""
        if x.dim() != 4:
            raise ValueError(f"expected (N, C, H, W) frames, got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        if self.mode == "auto" and not self._estimated:
            self._estimated = True
            self.tile = self._initial_tile(h, w, n)
        while True:
            if self.max_batch is not None and n > self.max_batch:
                chunks = [x[i:i + self.max_batch] for i in range(0, n, self.max_batch)]
            else:
                chunks = [x]
            message = None
            try:
                outs = [self._run_once(c, channels_last) for c in chunks]
                return outs[0] if len(outs) == 1 else torch.cat(outs)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled
                if not is_oom(exc) or isinstance(exc, HostMemoryError):
                    raise
                if self.mode is None:
                    raise RuntimeError(f"out of memory on {self.device} running the whole {w}x{h} frame "
                                       f"with tiling off; use --tile auto or --tile 512 ({exc})") from exc
                message = " ".join(str(exc).split())[:300]
            # outside the except block, so the failed attempt's tensors are freed before retrying
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self._shrink(h, w, n, message)
