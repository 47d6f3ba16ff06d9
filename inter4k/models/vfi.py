"""Video frame interpolation (VFI) models: ``model(frame0, frame1, t) -> frame_t``.

    model = create_model("vfi-small")                       # upsampler="adaunpool" (the method)
    model = create_model("vfi-small", upsampler="bilinear")  # the ablation: same network, bilinear upsampling
    model = create_model("vfi-average")                      # (1 - t) * I0 + t * I1, no parameters
    model = create_model("vfi-nearest")                      # I0 if t < 0.5 else I1, no parameters
    model = create_model("vfi-ffmpeg")                       # FFmpeg's minterpolate (models/vfi_ffmpeg.py)
    frame_t = model(frame0, frame1, t)                       # (N, 3, H, W) in [0, 1], t a float or (N,) tensor

The contract every VFI model here follows (and a trainer can rely on):

* ``frame0``, ``frame1``: (N, 3, H, W) floating tensors in [0, 1], any H, W >= 1;
* ``t``: a float in [0, 1], or a tensor of N values (shape (), (N,), (N, 1) or (N, 1, 1, 1));
* the result has the inputs' shape and dtype, is NOT clamped (callers clamp), and is exactly
  ``frame0`` where t == 0 and exactly ``frame1`` where t == 1 (enforced by a per-sample
  ``torch.where``, so float rounding in the warps cannot break it);
* ``model.config`` rebuilds the architecture (``create_model(model.model_name, **model.config)``),
  so :func:`inter4k.models.weights.save_model` / ``load_model(path)`` work for VFI models too.

**vfi-small** (:class:`VFISmall`) in brief (docs/VFI.md has the full description, parameter and MAC
counts):

1. both full-resolution frames are pooled by adaPool, ``stages`` times (default 2, so by 4), each stage
   a 4x4 window with stride 2 over a 1-pixel replicate-padded input (overlapping windows; see below),
   and the pooling weights W of every stage are kept;
2. at the reduced resolution a small U-Net (three levels: 1/4, 1/8, 1/16 of the frame) takes the two
   pooled frames and a constant t plane and predicts two motion fields f0, f1 and a blend logit m
   (a zero-initialised head); a second, coarse-to-fine pass backward-warps the reduced frames with
   ``F_t->0 = t * f0`` and ``F_t->1 = (1 - t) * f1`` and predicts corrections of f0, f1 and m (again a
   zero-initialised head);
3. flows and logit go back to full resolution through the stages in reverse with
   :func:`guided_upsample`: a *normalised* adaUnPool driven by the inputs' own pooling weights
   (``(1 - t) W(frame0) + t W(frame1)``, averaged over RGB), flow values times 2 per stage;
4. both full-resolution frames are backward-warped (``grid_sample``, bilinear, border padding) and
   blended with ``M = (1 - t) s / ((1 - t) s + t (1 - s))``, ``s = sigmoid(m)``; with
   ``refine_channels=C`` > 0 (not the bundled architecture) a residual of two 3x3 convolutions (C hidden
   channels, zero-initialised output) is added at full resolution;
5. in eval mode (``guard=``), the failure guard (:func:`flow_guard`) moves the frame toward frame
   averaging where the flows do not explain the pair (no parameters).

Options that keep the bundled architecture by default: ``body=`` / ``body_blocks=`` put blocks of
:func:`~inter4k.models.layers.make_body` into the refinement pass of step 2 (docs/MODELS.md#vfi-vfi-small).

Why overlapping windows and a normalised unpool: adaUnPool "mean" puts ``K * W_i * y`` at position i,
which preserves the window average but multiplies a *flow* by ``K * W_i`` (a uniform translation would
come back as a content-dependent flow field), and with non-overlapping windows normalising it away
leaves nearest-neighbour upsampling. With 4x4 windows at stride 2 every pixel lies in 2 x 2 windows,
and ``adaunpool(y, W) / adaunpool(1, W) = sum_p W_{p,i} y_p / sum_p W_{p,i}``: each pixel takes a
convex combination of the flows of the windows covering it, weighted by how much it contributed to
each window's pooled value, i.e. edge-aware upsampling that keeps a constant flow constant. The
weights are bounded away from 0 for inputs in [0, 1] (eM weights >= e^-1 / 16), so the division is safe.

Initialisation: both heads (and the optional residual's output conv) are zero, so an untrained VFISmall warps by
zero flow and blends with ``M = 1 - t``: it returns frame averaging (up to float rounding of the
identity warp), usable before training and trainable from there (the heads get gradients at once).
Geometry (pooling weights, flows, warps, blending) runs in float32 whatever the model's dtype (a
bf16 pixel coordinate would be off by 16 pixels at 4K); the convolutions run in the parameters' dtype.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

import adaunpool as au

from ._checks import check_choice, check_ints
from .layers import make_body
from .layers.bodies import BODIES
from .layers.macs import macs_per_pixel
from .registry import register_model

__all__ = ["VFISmall", "VFIAverage", "VFINearest", "VFI_UPSAMPLERS", "VFI_BASELINES", "VFI_GUARD_MODES",
           "backward_warp", "guided_upsample", "pool_with_weights", "flow_guard", "as_time", "count_macs"]

#: The flow/mask upsamplers of :class:`VFISmall`.
VFI_UPSAMPLERS: tuple[str, ...] = ("adaunpool", "bilinear")
#: The non-learned VFI models (vfi-ffmpeg, FFmpeg's minterpolate, is in :mod:`inter4k.models.vfi_ffmpeg`).
VFI_BASELINES: tuple[str, ...] = ("vfi-average", "vfi-nearest", "vfi-ffmpeg")

_POOL_KERNEL, _POOL_STRIDE, _POOL_PAD = 4, 2, 1   # one pooling stage: 4x4 windows, stride 2, 1 px padding

#: When :class:`VFISmall` applies its failure guard: "eval" (inference and validation, not in training
#: mode: the default), "always" (also while training, e.g. to fine-tune with it) or "off".
VFI_GUARD_MODES: tuple[str, ...] = ("eval", "always", "off")
# The guard's defaults (flow_guard's r_0, s_0, noise floor, e_0, T and box side); how they were chosen:
# docs/MODELS.md#failure-guard-guard.
GUARD_RESIDUAL, GUARD_RATIO, GUARD_NOISE, GUARD_FLOW, GUARD_TEMPERATURE, GUARD_WINDOW = 0.1, 1.0, 0.01, 4.0, 0.1, 9


# --------------------------------------------------------------------------------------------------
# Building blocks (functions, so that the tests and a trainer can use them directly).

def as_time(t: Union[float, torch.Tensor], n: int, device: torch.device) -> torch.Tensor:
    """``t`` as an (n, 1, 1, 1) float32 tensor on ``device``; ValueError unless every value is in [0, 1].

    Accepts a Python number, or a tensor of shape (), (1,), (n,), (n, 1) or (n, 1, 1, 1).

    Example:
        >>> as_time(0.25, 2, torch.device("cpu")).flatten().tolist()
        [0.25, 0.25]
    """
    if isinstance(t, bool):
        raise TypeError("t must be a number or a tensor in [0, 1], got a bool")
    if isinstance(t, torch.Tensor):
        if t.is_complex() or not (t.is_floating_point() or t.dtype in (torch.int64, torch.int32)):
            raise TypeError(f"t must be a real tensor, got dtype {t.dtype}")
        if t.numel() not in (1, n):
            raise ValueError(f"t must hold 1 or N={n} values, got shape {tuple(t.shape)}")
        tt = t.to(device=device, dtype=torch.float32).reshape(-1, 1, 1, 1).expand(n, 1, 1, 1)
    else:
        try:
            value = float(t)
        except (TypeError, ValueError):
            raise TypeError(f"t must be a number or a tensor in [0, 1], got {type(t).__name__}") from None
        tt = torch.full((n, 1, 1, 1), value, dtype=torch.float32, device=device)
    lo, hi = float(tt.min()), float(tt.max())
    if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
        raise ValueError(f"t must lie in [0, 1], got values in [{lo}, {hi}]")
    return tt


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    r"""Backward warping: ``out(y, x) = image(y + flow_y(y, x), x + flow_x(y, x))``, bilinear.

    The flow is in pixels, channel 0 horizontal (x, to the right), channel 1 vertical (y, down).
    Samples outside the image take the nearest border pixel (``grid_sample`` with
    ``padding_mode="border"``, ``align_corners=False`` with pixel centres at integer coordinates).
    Coordinates are computed in float32 (float64 for float64 input) whatever the image's dtype; the
    result has the image's dtype.

    Shape:
        - image: (N, C, H, W); flow: (N, 2, H, W).
        - Output: (N, C, H, W).

    Example:
        >>> img = torch.arange(12.).reshape(1, 1, 3, 4)
        >>> flow = torch.zeros(1, 2, 3, 4); flow[:, 0] = 1.0          # sample one pixel to the right
        >>> backward_warp(img, flow)[0, 0].round(decimals=4).tolist()
        [[1.0, 2.0, 3.0, 3.0], [5.0, 6.0, 7.0, 7.0], [9.0, 10.0, 11.0, 11.0]]
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"backward_warp: image must be (N, C, H, W) and flow (N, 2, H, W), got "
                         f"{tuple(image.shape)} and {tuple(flow.shape)}")
    n, _, h, w = image.shape
    if flow.shape[0] != n or flow.shape[2:] != image.shape[2:]:
        raise ValueError(f"backward_warp: flow {tuple(flow.shape)} does not match image {tuple(image.shape)}")
    work = torch.float64 if image.dtype == torch.float64 else torch.float32
    fl = flow.to(work)
    xs = torch.arange(w, device=image.device, dtype=work).view(1, 1, w)
    ys = torch.arange(h, device=image.device, dtype=work).view(1, h, 1)
    # pixel x -> normalised (2x + 1) / W - 1 (align_corners=False); grid holds (x, y)
    gx = (2.0 * (xs + fl[:, 0]) + 1.0) / w - 1.0
    gy = (2.0 * (ys + fl[:, 1]) + 1.0) / h - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    out = F.grid_sample(image.to(work), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.to(image.dtype)


def pool_with_weights(x: torch.Tensor, beta: Union[float, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One adaPool stage of :class:`VFISmall`: 4x4 windows, stride 2, over x padded by 1 (replicate).

    Returns the pooled x (N, C, H/2, W/2) and the window weights (N, C, H/2, W/2, 16) in float32.
    H and W must be even.

    Example:
        >>> y, w = pool_with_weights(torch.rand(1, 3, 8, 6), 0.5)
        >>> tuple(y.shape), tuple(w.shape)
        ((1, 3, 4, 3), (1, 3, 4, 3, 16))
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(f"pool_with_weights: H and W must be even, got {h}x{w}")
    xp = F.pad(x, (_POOL_PAD,) * 4, mode="replicate")
    y, wts = au.adapool2d(xp, _POOL_KERNEL, stride=_POOL_STRIDE, beta=beta, return_weights=True)
    return y, wts.float()


def guided_upsample(y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""x2 upsampling of ``y`` by a normalised adaUnPool with the weights of a :func:`pool_with_weights` stage.

    With W the (shared) window weights, every output pixel i gets

    .. math:: u_i = \frac{\sum_{p \ni i} W_{p,i}\, y_p}{\sum_{p \ni i} W_{p,i}}

    computed as ``adaunpool2d(y, W) / adaunpool2d(1, W)`` over the padded grid, then cropped: a
    convex combination of the 2x2 windows covering i, so a constant y stays constant. With uniform
    weights each pixel averages the two nearest coarse cells per axis.

    Shape:
        - y: (N, C, h, w); weights: (N, 1 or C, h, w, 16).
        - Output: (N, C, 2h, 2w), float32.

    Example:
        >>> x = torch.rand(1, 3, 8, 8)
        >>> _, w = pool_with_weights(x, 0.5)
        >>> u = guided_upsample(torch.full((1, 2, 4, 4), 3.0), w.mean(1, keepdim=True))
        >>> tuple(u.shape), bool(torch.allclose(u, torch.full_like(u, 3.0)))
        ((1, 2, 8, 8), True)
    """
    h, w = y.shape[-2:]
    size = (2 * h + 2 * _POOL_PAD, 2 * w + 2 * _POOL_PAD)
    y32 = y.float()
    num = au.adaunpool2d(y32, weights, _POOL_KERNEL, stride=_POOL_STRIDE, output_size=size)
    den = au.adaunpool2d(torch.ones_like(y32[:, :1]), weights, _POOL_KERNEL, stride=_POOL_STRIDE, output_size=size)
    u = num / den.clamp_min(1e-12)
    p = _POOL_PAD
    return u[..., p:size[0] - p, p:size[1] - p]


def flow_guard(frame0: torch.Tensor, frame1: torch.Tensor, warped0: torch.Tensor, warped1: torch.Tensor,
               flow_t0: torch.Tensor, flow_t1: torch.Tensor, t: torch.Tensor, residual: float = GUARD_RESIDUAL,
               ratio: float = GUARD_RATIO, noise: float = GUARD_NOISE, flow_threshold: float = GUARD_FLOW,
               temperature: float = GUARD_TEMPERATURE, window: int = GUARD_WINDOW) -> torch.Tensor:
    r"""The failure guard of :class:`VFISmall`: where its flows do not explain the pair, how far (0..1) to
    fall back to frame averaging.

    Three signs that the flows are unreliable, all from maps the model has already computed (the
    inputs, the two backward-warped inputs and the two flows at full resolution). ``box_k`` is the
    mean over a k x k box (``k = window``, K = 2 window - 1); ``|.|`` the absolute value averaged over
    RGB; the warped difference counts only where both warps sample inside the frame (elsewhere the
    network's mask picks the other warp, and content entering at the frame's edge rightly differs).

    * ``s = box_k|W0 - W1| / (box_k|I0 - I1| + noise)``, the **warping residual as a share of the
      inputs' own difference**. Flows that explain the motion make the warps agree far better than the
      inputs (s near 0); a flow that moves a still region makes them differ where the inputs agreed
      (s well above 1: the bundled model's worst frames on real footage are of this kind). ``noise``
      keeps s small where both are at the noise level.
    * ``r = box_k|box_K(W0 - W1)|``, the **coarse warping residual**: the warps' *signed* difference
      blurred over K x K before its size is taken, so that sub-pixel misalignment of fine texture and
      sharp edges (a thin band of one sign, or of both) mostly cancels, while a scene change or a flash
      (the warps differ in their low frequencies, whatever the flows) stays large.
    * ``e = |(1 - t) F_t->0 + t F_t->1| / (t (1 - t))``, the **forward-backward inconsistency** in pixels
      over the input interval: with ``F_t->0 = t f0`` and ``F_t->1 = (1 - t) f1``, linear motion through
      the pixel gives ``f0 = -f1``, so e = |f0 + f1| is 0 for consistent flows.

    .. math:: g = \sigma\Big(\big(\max(s / s_0,\; r / r_0,\; e / e_0) - 1\big) / T\Big)

    with ``s_0 = ratio``, ``r_0 = residual`` (intensity, frames in [0, 1]), ``e_0 = flow_threshold``
    (pixels) and ``T = temperature``: g is 1/2 where a measure reaches its threshold, near 0 well below
    all three, near 1 above any. Box filters (separable) and element-wise operations only,
    differentiable (almost everywhere), no parameters.

    Shape:
        - frame0, frame1, warped0, warped1: (N, 3, H, W); flow_t0, flow_t1: (N, 2, H, W); t: (N, 1, 1, 1).
        - Output: (N, 1, H, W) float32 in (0, 1).

    Example:
        >>> a, b = torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8)    # a scene change: no flow explains it
        >>> zero, t = torch.zeros(1, 2, 8, 8), torch.full((1, 1, 1, 1), 0.5)
        >>> round(flow_guard(a, b, a, b, zero, zero, t).min().item(), 3)   # the warps as different as the inputs
        1.0
        >>> round(flow_guard(a, b, b, b, zero, zero, t).max().item(), 3)   # warps that agree
        0.0
    """
    inside = _samples_inside(flow_t0) & _samples_inside(flow_t1)
    warped_diff = (warped0.float() - warped1.float()) * inside
    input_diff = frame0.float() - frame1.float()

    def size(x: torch.Tensor) -> torch.Tensor:
        return _box(x.abs().mean(dim=1, keepdim=True), window)

    share = size(warped_diff) / (size(input_diff) + noise)
    coarse = size(_box(warped_diff, 2 * window - 1))
    tt = t.float()
    spread = (tt * (1 - tt)).clamp_min(1e-6)   # t = 0 or 1: the model returns the input there anyway
    v = (1 - tt) * flow_t0.float() + tt * flow_t1.float()
    inconsistency = torch.hypot(v[:, 0:1], v[:, 1:2]) / spread   # (norm over dim 1 is 20x slower on the CPU)
    unreliability = torch.maximum(torch.maximum(share / ratio, coarse / residual), inconsistency / flow_threshold)
    return torch.sigmoid((unreliability - 1.0) / temperature)


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    """The mean over a k x k box (k odd) around each pixel, of the pixels inside the image.

    Separable, each axis by a running sum (``cumsum``): a few operations per pixel whatever k (CPU
    ``avg_pool2d`` with stride 1 took three times as long at k = 17).
    """
    if k == 1:
        return x
    return _box_along(_box_along(x, k, -1), k, -2)


def _box_along(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """The mean over k neighbours (k odd) along ``dim`` (-1 or -2), of those inside the image."""
    r, n = k // 2, x.shape[dim]
    pad = (r + 1, r) if dim == -1 else (0, 0, r + 1, r)
    c = F.pad(x, pad).cumsum(dim)
    sums = c.narrow(dim, k, n) - c.narrow(dim, 0, n)
    i = torch.arange(n, device=x.device, dtype=x.dtype)
    count = (torch.clamp(i + r, max=n - 1) - torch.clamp(i - r, min=0) + 1)
    return sums / (count.view(-1, 1) if dim == -2 else count)


def _samples_inside(flow: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) bool: whether :func:`backward_warp` with ``flow`` samples inside the image there."""
    h, w = flow.shape[-2:]
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, w)
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype).view(h, 1)
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).unsqueeze(1)


def _exact_endpoints(out: torch.Tensor, frame0: torch.Tensor, frame1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``frame0`` where t == 0, ``frame1`` where t == 1, ``out`` elsewhere (per sample)."""
    if not bool(((t == 0) | (t == 1)).any()):   # the usual case: two full-frame selects saved
        return out
    return torch.where(t == 0, frame0, torch.where(t == 1, frame1, out))


def _check_frames(frame0: torch.Tensor, frame1: torch.Tensor, who: str) -> None:
    for name, f in (("frame0", frame0), ("frame1", frame1)):
        if not isinstance(f, torch.Tensor) or not f.is_floating_point():
            raise TypeError(f"{who}: {name} must be a floating-point tensor in [0, 1]")
        if f.dim() != 4 or f.shape[1] != 3:
            raise ValueError(f"{who}: {name} must be (N, 3, H, W), got shape {tuple(f.shape)}")
    if frame0.shape != frame1.shape:
        raise ValueError(f"{who}: frame0 {tuple(frame0.shape)} and frame1 {tuple(frame1.shape)} differ in shape")


# --------------------------------------------------------------------------------------------------
# vfi-small

def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class _FlowNet(nn.Module):
    """The coarse U-Net: (I0, I1, t) at the reduced resolution -> (features C, head 5) there."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.e0 = nn.ModuleList([_conv(7, c), _conv(c, c)])
        self.e1 = nn.ModuleList([_conv(c, 2 * c, 2), _conv(2 * c, 2 * c)])
        self.e2 = nn.ModuleList([_conv(2 * c, 4 * c, 2), _conv(4 * c, 4 * c), _conv(4 * c, 4 * c)])
        self.d1 = _conv(6 * c, 2 * c)
        self.d0 = _conv(3 * c, c)
        self.head = _conv(c, 5)

    def _run(self, convs, x):
        for conv in convs:
            x = self.act(conv(x))
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e0 = self._run(self.e0, x)
        e1 = self._run(self.e1, e0)
        e2 = self._run(self.e2, e1)
        d1 = self.act(self.d1(torch.cat([F.interpolate(e2, size=e1.shape[-2:], mode="bilinear",
                                                       align_corners=False), e1], 1)))
        d0 = self.act(self.d0(torch.cat([F.interpolate(d1, size=e0.shape[-2:], mode="bilinear",
                                                       align_corners=False), e0], 1)))
        return d0, self.head(d0)


class _RefineNet(nn.Module):
    """The second, coarse-to-fine pass at the reduced resolution: corrections of (f0, f1, m).

    conv1 - LeakyReLU - ``body`` (``make_body(kind, c, blocks)``; no modules at all with 0 blocks, the
    bundled architecture) - conv2 - LeakyReLU - head. The body's blocks carry their own shortcuts.
    """

    def __init__(self, c: int, body: str = "plain", blocks: int = 0) -> None:
        super().__init__()
        self.act = nn.LeakyReLU(0.1, inplace=True)
        # warped I0, warped I1 (3 + 3), F_t->0, F_t->1 (2 + 2), m, t, the U-Net's features (c)
        self.conv1 = _conv(12 + c, c)
        self.body = make_body(body, c, blocks)
        self.conv2 = _conv(c, c)
        self.head = _conv(c, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.conv2(self.body(self.act(self.conv1(x))))))


class VFISmall(nn.Module):
    """The light, flow-based VFI network with adaUnPool flow upsampling (see the module docstring).

    Args:
        channels: C, the width of the reduced-resolution U-Net (1/4: C, 1/8: 2C, 1/16: 4C channels).
        stages: pooling stages of factor 2 each (2: the flows are estimated at 1/4 resolution).
        upsampler: "adaunpool" (normalised adaUnPool driven by the inputs' pooling weights) or
            "bilinear" (``F.interpolate``, the ablation); the pooling is adaPool in both.
        refine_channels: hidden channels of an optional full-resolution residual (two 3x3 convs, added to
            the blend); 0 (default, the bundled architecture): none, the frame is the warped inputs' blend
            (why: docs/VFI.md#the-full-resolution-residual).
        beta_init: the initial beta of every pooling stage (a learnable scalar per stage, sigmoid-bounded).
        body: the kind of blocks (:func:`~inter4k.models.layers.make_body`: "plain", "ds", "ds2", "ic",
            ...) inserted in the reduced-resolution refinement pass, between its two C-channel convs.
        body_blocks: how many (default: 0 for "plain", which is the bundled architecture with the same
            state-dict keys; 2 for the other kinds).
        guard: when the failure guard runs (:data:`VFI_GUARD_MODES`): "eval" (default: in eval mode,
            i.e. inference, evaluation and validation; a model trained from zero flows would otherwise
            start at frame averaging with the warps' gradients hidden), "always" or "off".
        guard_residual: r_0 of :func:`flow_guard`, the coarse warping residual (intensity, frames in
            [0, 1]) at which g = 1/2.
        guard_ratio: s_0 of :func:`flow_guard`: the warping residual, as a share of the inputs' own
            difference, at which g = 1/2.
        guard_noise: the noise floor (intensity, frames in [0, 1]) added to the inputs' difference.
        guard_flow: e_0 of :func:`flow_guard`, the forward-backward inconsistency (pixels over the
            input interval) at which g = 1/2.
        guard_temperature: T of :func:`flow_guard` (smaller: a sharper switch).
        guard_window: k of :func:`flow_guard`, the side (odd) of the boxes that average the
            differences (the coarse residual's blur is 2k - 1).

    Attributes:
        config: the constructor's arguments (JSON-serialisable); ``VFISmall(**config)`` rebuilds it.
        factor: ``2 ** stages``; inputs are replicate-padded to a multiple of it and cropped back.
        model_name: "vfi-small" when built by the registry.

    **Failure guard.** Where the flows do not explain the pair (a scene change the cut detector missed,
    a flash, a flow that went wrong), warping gives a broken frame, worse to watch than a soft one.
    The guard map ``g`` (:func:`flow_guard`, (N, 1, H, W) in (0, 1)) is computed from the full-resolution
    warps and flows and the output becomes ``out + g * (average - out)``, average = ``(1 - t) I0 + t I1``:
    frame averaging where g is near 1, the network's frame where it is near 0. It has no parameters,
    so the bundled weights work with it unchanged. ``forward(..., return_guard=True)`` also returns g
    (zeros when the guard is not active), for inspection; ``model.last_guard`` keeps the last one;
    ``model.set_guard("off")`` switches it off in a loaded model (``guard=`` when building one).

    Shape:
        - frame0, frame1: (N, 3, H, W) in [0, 1]; t: a float or N values in [0, 1].
        - Output: (N, 3, H, W), the inputs' dtype, not clamped.

    Example:
        >>> m = VFISmall()
        >>> f0, f1 = torch.rand(2, 3, 30, 45), torch.rand(2, 3, 30, 45)
        >>> m(f0, f1, 0.5).shape
        torch.Size([2, 3, 30, 45])
        >>> bool(torch.equal(m(f0, f1, 0.0), f0)), bool(torch.equal(m(f0, f1, 1.0), f1))
        (True, True)
    """

    def __init__(self, channels: int = 24, stages: int = 2, upsampler: str = "adaunpool",
                 refine_channels: int = 0, beta_init: float = 0.5, body: str = "plain",
                 body_blocks: Optional[int] = None, guard: str = "eval", guard_residual: float = GUARD_RESIDUAL,
                 guard_ratio: float = GUARD_RATIO, guard_noise: float = GUARD_NOISE, guard_flow: float = GUARD_FLOW,
                 guard_temperature: float = GUARD_TEMPERATURE, guard_window: int = GUARD_WINDOW) -> None:
        super().__init__()
        check_choice("VFISmall", "body", body, BODIES)
        if body_blocks is None:
            body_blocks = 0 if body == "plain" else 2
        check_ints("VFISmall", ("channels", channels, 1), ("stages", stages, 1), ("refine_channels", refine_channels, 0),
                   ("body_blocks", body_blocks, 0), ("guard_window", guard_window, 1))
        check_choice("VFISmall", "upsampler", upsampler, VFI_UPSAMPLERS)
        check_choice("VFISmall", "guard", guard, VFI_GUARD_MODES)
        if not 0.0 < float(beta_init) < 1.0:
            raise ValueError(f"VFISmall: beta_init must lie strictly inside (0, 1), got {beta_init!r}")
        thresholds = {"guard_residual": guard_residual, "guard_ratio": guard_ratio, "guard_noise": guard_noise,
                      "guard_flow": guard_flow, "guard_temperature": guard_temperature}
        for name, value in thresholds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < float("inf"):
                raise ValueError(f"VFISmall: {name} must be a positive finite number, got {value!r}")
        if guard_window % 2 == 0:
            raise ValueError(f"VFISmall: guard_window must be odd, got {guard_window}")
        self.config = {"channels": channels, "stages": stages, "upsampler": upsampler,
                       "refine_channels": refine_channels, "beta_init": float(beta_init), "body": body,
                       "body_blocks": body_blocks, "guard": guard,
                       **{name: float(value) for name, value in thresholds.items()}, "guard_window": guard_window}
        self.last_guard: Optional[torch.Tensor] = None
        self.model_name: Optional[str] = None
        self.stages = stages
        self.factor = 2 ** stages
        self.upsampler = upsampler
        logit = torch.logit(torch.tensor(float(beta_init)))
        self.beta_logits = nn.Parameter(torch.full((stages,), float(logit)))
        self.flownet = _FlowNet(channels)
        self.refinenet = _RefineNet(channels, body, body_blocks)
        # full-resolution residual: warped I0, warped I1, blend, mask (10 channels) -> 3; none with 0 channels
        self.res1 = nn.Conv2d(10, refine_channels, 3, padding=1) if refine_channels else None
        self.res2 = nn.Conv2d(refine_channels, 3, 3, padding=1) if refine_channels else None
        self.act = nn.LeakyReLU(0.1, inplace=True)
        for conv in (self.flownet.head, self.refinenet.head, self.res2):
            if conv is not None:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    @property
    def betas(self) -> torch.Tensor:
        """The adaPool beta of every stage, in (0, 1)."""
        return torch.sigmoid(self.beta_logits.float())

    def _upsample(self, y: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        if self.upsampler == "adaunpool":
            return guided_upsample(y, guide)
        return F.interpolate(y.float(), scale_factor=2, mode="bilinear", align_corners=False)

    def set_guard(self, mode: str) -> "VFISmall":
        """Switch the failure guard of a built (e.g. loaded) model: "eval", "always" or "off"; returns the model.

        Example:
            >>> VFISmall(channels=4).set_guard("off").config["guard"]
            'off'
        """
        check_choice("VFISmall", "guard", mode, VFI_GUARD_MODES)
        self.config["guard"] = mode
        return self

    @property
    def guard_active(self) -> bool:
        """Whether forward applies the failure guard now (``guard`` "always", or "eval" in eval mode)."""
        mode = self.config["guard"]
        return mode == "always" or (mode == "eval" and not self.training)

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: Union[float, torch.Tensor],
                return_flows: bool = False, return_guard: bool = False):
        """The frame at t (see the class docstring); with ``return_flows``, ``(frame, flows)``: flows
        (N, 4, H, W) float32 = the full-resolution ``F_t->0`` (channels 0, 1) and ``F_t->1`` (2, 3), x then
        y in pixels, that the inputs were backward-warped with (cropped like the output; at t = 0 / 1
        the frame is the input, the flows are still what the network computed). For flow supervision.
        With ``return_guard``, the guard map (N, 1, H, W) float32 comes after them (zeros when the
        guard is not active): ``(frame, guard)`` or ``(frame, flows, guard)``."""
        _check_frames(frame0, frame1, "VFISmall")
        n, _, h, w = frame0.shape
        tt = as_time(t, n, frame0.device)
        pdtype = self.flownet.head.weight.dtype
        # geometry in float32; pad to a multiple of the pooling factor (replicate), cropped at the end
        ph, pw = (-h) % self.factor, (-w) % self.factor
        x0, x1 = frame0.float(), frame1.float()
        if ph or pw:
            x0 = F.pad(x0, (0, pw, 0, ph), mode="replicate")
            x1 = F.pad(x1, (0, pw, 0, ph), mode="replicate")
        # 1. adaPool pyramid of both frames; keep each stage's weights as the upsampling guide
        betas = self.betas
        r0, r1, guides = x0, x1, []
        for s in range(self.stages):
            b = betas[s].view(1, 1, 1, 1)
            r0, w0 = pool_with_weights(r0, b)
            r1, w1 = pool_with_weights(r1, b)
            # the mean over RGB first, then the blend in t (the same guide, linear in both; blending the
            # (N, 3, h, w, 16) weights first took 15% of a 1080p forward on the CPU)
            g0, g1 = w0.mean(dim=1, keepdim=True), w1.mean(dim=1, keepdim=True)
            guides.append(g0 + tt[..., None] * (g1 - g0))
        # 2. coarse flows and blend logit, then a coarse-to-fine correction from the warped reduced frames
        tp = tt.expand(n, 1, *r0.shape[-2:])
        feats, head = self.flownet(torch.cat([r0, r1, tp], 1).to(pdtype))
        head = head.float()
        f0, f1, m = head[:, 0:2], head[:, 2:4], head[:, 4:5]
        ft0, ft1 = tt * f0, (1 - tt) * f1
        wr0, wr1 = backward_warp(r0, ft0), backward_warp(r1, ft1)
        ref_in = torch.cat([wr0, wr1, ft0, ft1, m, tp], 1).to(pdtype)
        delta = self.refinenet(torch.cat([ref_in, feats], 1)).float()
        f0, f1, m = f0 + delta[:, 0:2], f1 + delta[:, 2:4], m + delta[:, 4:5]
        # 3. back to full resolution, one stage at a time (flow values x2 per stage)
        fields = torch.cat([tt * f0, (1 - tt) * f1, m], 1)
        for s in reversed(range(self.stages)):
            fields = self._upsample(fields, guides[s])
            fields = torch.cat([fields[:, :4] * 2.0, fields[:, 4:]], 1)
        ft0, ft1, m = fields[:, 0:2], fields[:, 2:4], fields[:, 4:5]
        # 4. warp the full-resolution frames, blend, add the full-resolution residual
        wf0, wf1 = backward_warp(x0, ft0), backward_warp(x1, ft1)
        s = torch.sigmoid(m).clamp(1e-6, 1 - 1e-6)
        a0, a1 = (1 - tt) * s, tt * (1 - s)
        mask = a0 / (a0 + a1).clamp_min(1e-12)
        blend = mask * wf0 + (1 - mask) * wf1
        out = blend
        if self.res1 is not None:
            res = self.res2(self.act(self.res1(torch.cat([wf0, wf1, blend, mask], 1).to(pdtype))))
            out = blend + res.float()
        # 5. the failure guard: back toward frame averaging where the flows do not explain the pair
        if self.guard_active:
            c = self.config
            g = flow_guard(x0, x1, wf0, wf1, ft0, ft1, tt, c["guard_residual"], c["guard_ratio"], c["guard_noise"],
                           c["guard_flow"], c["guard_temperature"], c["guard_window"])
            out = out + g * ((1 - tt) * x0 + tt * x1 - out)
        else:
            g = torch.zeros_like(out[:, :1])
        self.last_guard = g[:, :, :h, :w].detach()
        out = _exact_endpoints(out[:, :, :h, :w].to(frame0.dtype), frame0, frame1, tt)
        extra = ((torch.cat([ft0, ft1], 1)[:, :, :h, :w],) if return_flows else ()) \
            + ((g[:, :, :h, :w],) if return_guard else ())
        return (out, *extra) if extra else out

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())


# --------------------------------------------------------------------------------------------------
# Baselines

class VFIAverage(nn.Module):
    """Frame averaging ``(1 - t) * frame0 + t * frame1``; no parameters. Exact at t = 0 and t = 1.

    Example:
        >>> VFIAverage()(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), 0.25).flatten()[0].item()
        0.25
    """

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        self.model_name: Optional[str] = "vfi-average"

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: Union[float, torch.Tensor]) -> torch.Tensor:
        _check_frames(frame0, frame1, "vfi-average")
        tt = as_time(t, frame0.shape[0], frame0.device)
        out = ((1 - tt) * frame0.float() + tt * frame1.float()).to(frame0.dtype)
        return _exact_endpoints(out, frame0, frame1, tt)


class VFINearest(nn.Module):
    """The nearest input frame: ``frame0`` if t < 0.5 else ``frame1``; no parameters.

    Example:
        >>> VFINearest()(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2), 0.5).flatten()[0].item()
        1.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}
        self.model_name: Optional[str] = "vfi-nearest"

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, t: Union[float, torch.Tensor]) -> torch.Tensor:
        _check_frames(frame0, frame1, "vfi-nearest")
        tt = as_time(t, frame0.shape[0], frame0.device)
        return torch.where(tt < 0.5, frame0, frame1)


@register_model("vfi-small", task="vfi")
def vfi_small(**kwargs) -> VFISmall:
    """:class:`VFISmall` (24 channels, 2 pooling stages, adaUnPool upsampling unless ``upsampler="bilinear"``)."""
    model = VFISmall(**kwargs)
    model.model_name = "vfi-small"
    return model


@register_model("vfi-average", task="vfi")
def vfi_average() -> VFIAverage:
    return VFIAverage()


@register_model("vfi-nearest", task="vfi")
def vfi_nearest() -> VFINearest:
    return VFINearest()


# --------------------------------------------------------------------------------------------------

def count_macs(model: nn.Module, height: int, width: int) -> dict:
    """Multiply-accumulates of the convolutions of one ``model(frame0, frame1, t)`` call on a
    (1, 3, height, width) pair (for any t), and the parameter count: ``{"conv_macs", "params"}``.

    Computed from the layer shapes (the adaPool ops have no meta-device kernels, so nothing is run).
    Pooling, unpooling, warps and blending are element-wise and not included (docs/VFI.md estimates
    them); the baselines have no convolutions.

    Example:
        >>> count_macs(VFIAverage(), 1080, 1920)
        {'conv_macs': 0, 'params': 0}
    """
    params = sum(p.numel() for p in model.parameters())
    if not isinstance(model, VFISmall):
        return {"conv_macs": 0, "params": params}
    f = model.factor
    hp, wp = height + (-height) % f, width + (-width) % f
    macs = 0

    def conv(c: nn.Conv2d, h: int, w: int) -> tuple[int, int]:
        nonlocal macs
        s = c.stride[0]
        oh, ow = (h - 1) // s + 1, (w - 1) // s + 1          # 3x3, padding 1
        macs += oh * ow * c.out_channels * c.in_channels * 9
        return oh, ow

    fn, rn = model.flownet, model.refinenet
    h0, w0 = hp // f, wp // f
    for c in fn.e0:
        conv(c, h0, w0)
    h1, w1 = conv(fn.e1[0], h0, w0)
    conv(fn.e1[1], h1, w1)
    h2, w2 = conv(fn.e2[0], h1, w1)
    for c in fn.e2[1:]:
        conv(c, h2, w2)
    for c, (h, w) in ((fn.d1, (h1, w1)), (fn.d0, (h0, w0)), (fn.head, (h0, w0)), (rn.conv1, (h0, w0)),
                      (rn.conv2, (h0, w0)), (rn.head, (h0, w0)), (model.res1, (hp, wp)), (model.res2, (hp, wp))):
        if c is not None:
            conv(c, h, w)
    if model.config["body_blocks"]:
        macs += round(macs_per_pixel(rn.body, model.config["channels"]) * h0 * w0)
    return {"conv_macs": macs, "params": params}
