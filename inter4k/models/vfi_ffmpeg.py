"""``vfi-ffmpeg``: FFmpeg's motion-compensated frame interpolation (the ``minterpolate`` filter) as a VFI
baseline with the same call as the others.

    model = create_model("vfi-ffmpeg")
    frame_t = model(frame0, frame1, t)      # (N, 3, H, W) in [0, 1], t a float or N values

Each pair goes through a PyAV filter graph ``buffer -> minterpolate -> buffersink`` with the options
:data:`MINTERPOLATE_OPTIONS`: ``mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1`` (motion-compensated
interpolation, adaptive overlapped block motion compensation, bidirectional motion estimation, variable
size blocks) and ``scd=none``. Scene-cut detection is off because a detected cut makes the filter return
a copy of an input instead of an interpolation; cuts are the caller's business (``inter4k interpolate``
has its own detector), as for the other models. No weights, nothing learned.

**How t is reached.** minterpolate makes output frames on a regular grid of output times and blends
at ``alpha = (output time - time of frame 0) / (time of frame 1 - time of frame 0)`` in whole
1/1024ths (the filter's ``ALPHA_MAX``). The two frames are given the times ``(1024 - a) / 1024`` and
``(2048 - a) / 1024`` seconds with ``a = round(1024 t)`` and the output rate is 1 frame per second, so
the output frame at 1 s lies exactly at alpha = a. **A t that is not a multiple of 1/1024 is rounded to
the nearest one** (at most 1/2048 away; t = 1/2, 1/4, k/8 are exact); a t within 1/2048 of 0 or 1
gives the input frame itself, as does t = 0 or 1 exactly (the contract's exact endpoints). The output
frame is taken by its timestamp (1 s), and a graph that returns none is an error, never a silent copy.
The filter keeps four frames and interpolates between the middle two, so the pair is fed as
``frame0, frame1, frame1`` (the filter itself repeats the first frame at a stream's start).

**Pixels.** FFmpeg works on 8-bit frames: the inputs (clamped to [0, 1], as any 8-bit video would
hold them) go to full-range BT.601 YCbCr 4:4:4 (``yuvj444p``, JPEG's YCbCr, rounded to 8 bits), and
the filter's output comes back through the exact inverse in float32, not rounded again; the result
is not clamped (the inverse can step slightly outside [0, 1]; callers clamp). minterpolate needs
frames of at least 32 x 32: smaller ones are replicate-padded on the right and bottom to 32 and the
result is cropped back. Tensors on a GPU are copied to the CPU and the result back to their device.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from .registry import register_model
from .vfi import _check_frames, _exact_endpoints, as_time

__all__ = ["VFIFFmpeg", "MINTERPOLATE_OPTIONS", "ALPHA_MAX", "MIN_SIDE", "minterpolate_pair", "quantised_time"]

#: The filter's options (see the module docstring).
MINTERPOLATE_OPTIONS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1:scd=none"
#: minterpolate's resolution of t: it blends at whole multiples of 1 / ALPHA_MAX.
ALPHA_MAX = 1024
#: The smallest frame side the filter accepts (smaller frames are padded).
MIN_SIDE = 32

# full-range BT.601 (JPEG) YCbCr on the 0..255 scale: ycc = _RGB2YCC @ rgb + (0, 128, 128)
_RGB2YCC = np.array([[0.299, 0.587, 0.114],
                     [-0.168735892, -0.331264108, 0.5],
                     [0.5, -0.418687589, -0.081312411]])
_YCC2RGB = np.linalg.inv(_RGB2YCC)
_CHROMA = np.array([0.0, 128.0, 128.0])


def quantised_time(t: float) -> int:
    """The alpha (a whole number of 1/1024ths) at which minterpolate makes the frame nearest to ``t``.

    Examples:
        >>> quantised_time(0.5), quantised_time(1 / 3), quantised_time(0.0001)
        (512, 341, 0)
    """
    return int(round(float(t) * ALPHA_MAX))


def _to_ycc(rgb: np.ndarray) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] -> (3, H, W) uint8 full-range YCbCr."""
    ycc = np.tensordot(_RGB2YCC, np.clip(rgb, 0.0, 1.0).astype(np.float64) * 255.0, axes=1) + _CHROMA[:, None, None]
    return np.clip(np.rint(ycc), 0, 255).astype(np.uint8)


def _to_rgb(ycc: np.ndarray) -> np.ndarray:
    """(3, H, W) uint8 full-range YCbCr -> (3, H, W) float32 RGB (0..1 scale, not clamped)."""
    return (np.tensordot(_YCC2RGB, ycc.astype(np.float64) - _CHROMA[:, None, None], axes=1) / 255.0).astype(np.float32)


def minterpolate_pair(ycc0: np.ndarray, ycc1: np.ndarray, alpha: int, options: str = MINTERPOLATE_OPTIONS) -> np.ndarray:
    """minterpolate's frame at ``alpha / 1024`` between two (3, H, W) uint8 ``yuvj444p`` frames (H, W >= 32),
    as (3, H, W) uint8. ``alpha`` must be in 1 .. 1023 (the endpoints are the inputs themselves).

    RuntimeError when the graph returns no frame at the asked time.
    """
    import av
    import av.filter

    from ..video import FrameConverter

    if not 0 < alpha < ALPHA_MAX:
        raise ValueError(f"minterpolate_pair: alpha must be in 1..{ALPHA_MAX - 1}, got {alpha}")
    _, h, w = ycc0.shape
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"minterpolate_pair: frames must be at least {MIN_SIDE}x{MIN_SIDE}, got {w}x{h}")
    tick = Fraction(1, ALPHA_MAX)
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format="yuvj444p", time_base=tick)
    interp = graph.add("minterpolate", f"fps=1:{options}")
    sink = graph.add("buffersink")
    src.link_to(interp)
    interp.link_to(sink)
    graph.configure()
    convert = FrameConverter()
    first = ALPHA_MAX - alpha  # frame0 at (1024 - a) / 1024 s, frame1 one second later: 1 s is at alpha a
    found: Optional[np.ndarray] = None
    for i, ycc in enumerate((ycc0, ycc1, ycc1)):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(ycc), format="yuvj444p")
        frame.pts, frame.time_base = first + i * ALPHA_MAX, tick
        graph.push(frame)
        while True:
            try:
                out = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            if out.pts is not None and out.time_base is not None and out.pts * out.time_base == 1:
                found = convert.array(out, "yuvj444p")
        if found is not None:
            return found
    raise RuntimeError(f"minterpolate returned no frame at alpha {alpha}/{ALPHA_MAX} for a {w}x{h} pair")


class VFIFFmpeg(nn.Module):
    """FFmpeg's ``minterpolate`` (motion-compensated, see the module docstring); no parameters.

    Shape:
        - frame0, frame1: (N, 3, H, W) floating tensors in [0, 1], any H, W >= 1; t: a float or N values in [0, 1].
        - Output: (N, 3, H, W), the inputs' dtype and device, not clamped; exactly frame0 / frame1 where
          t rounds to 0 / 1 in 1/1024ths.

    Example:
        >>> f0 = torch.rand(1, 3, 40, 48)
        >>> bool(torch.equal(VFIFFmpeg()(f0, torch.rand(1, 3, 40, 48), 0.0), f0))
        True
    """

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        self.model_name: Optional[str] = "vfi-ffmpeg"

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: Union[float, torch.Tensor]) -> torch.Tensor:
        _check_frames(frame0, frame1, "vfi-ffmpeg")
        n, _, h, w = frame0.shape
        tt = as_time(t, n, frame0.device)
        alphas = [quantised_time(v) for v in tt.flatten().tolist()]
        a0 = frame0.detach().float().cpu().numpy()
        a1 = frame1.detach().float().cpu().numpy()
        ph, pw = max(0, MIN_SIDE - h), max(0, MIN_SIDE - w)
        out = np.zeros((n, 3, h, w), dtype=np.float32)
        for i, alpha in enumerate(alphas):
            if 0 < alpha < ALPHA_MAX:  # at 0 / 1024 minterpolate copies an input: the endpoints below do
                pair = [_to_ycc(np.pad(a[i], ((0, 0), (0, ph), (0, pw)), mode="edge")) for a in (a0, a1)]
                out[i] = _to_rgb(minterpolate_pair(pair[0], pair[1], alpha))[:, :h, :w]
        result = torch.from_numpy(out).to(device=frame0.device, dtype=frame0.dtype)
        snapped = torch.tensor([a / ALPHA_MAX for a in alphas], device=frame0.device).view(n, 1, 1, 1)
        return _exact_endpoints(result, frame0, frame1, snapped)


@register_model("vfi-ffmpeg", task="vfi")
def vfi_ffmpeg() -> VFIFFmpeg:
    return VFIFFmpeg()
