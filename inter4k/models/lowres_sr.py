"""LowResSRNet: an SR network that does nearly all of its work on the low-resolution grid.

    model = create_model("sr-lr-small", scale=4)          # upsampler (output stage) "adaunpool"
    sr = model(lr).clamp(0, 1)                            # (N, 3, H, W) -> (N, 3, sH, sW)

Why: a network's cost per output frame is its multiply-adds per LR pixel times the LR pixel count.
Convolutions at the output resolution cost ``scale**2`` times more per layer; the earlier SRNet ran a
C-channel refine conv and its tail at HR and was as slow as a peer with six times its parameters. Here
every convolution runs at LR, and only the last step, which turns each LR pixel's prediction into
``scale x scale`` (or overlapping ``k x k``) output pixels, touches the HR grid, with a handful of
channels.

Architecture, for LR RGB x in [0, 1]:

    f0 = head(x)                       conv3x3, 3 -> C
    f  = f0 + fuse(body(f0))           `blocks` residual blocks (conv3x3 - ReLU - conv3x3, + identity;
                                       or DS / DS2 / IC-Conv blocks, ``body=``), then conv3x3 (the long
                                       skip around the body)
    y  = bicubic(x) + out(f)           the output stage (``upsampler``, :data:`OUTPUT_STAGES`), zero-initialised,
                                       so an untrained model returns exactly MATLAB bicubic

Output stages (C features at LR -> 3 channels at HR):

``pixelshuffle``
    ESPCN: conv3x3 C -> 3 s^2, ``PixelShuffle(s)``. Each LR pixel writes its own s x s block; the s^2
    phases are independent outputs, so any phase-dependent error shows up as an s-periodic pattern.
``adaunpool``
    A normalised adaUnPool over *overlapping* windows: each LR pixel p predicts a k x k patch of
    values ``V_p`` (k = 2s for even s, 3s for odd s, centred on its s x s footprint) and exponential
    weights ``W_p = exp(G_p)`` over the same k x k positions, both by 1x1 convs of f; every HR pixel i
    gets the weighted mean of the predictions of the windows that cover it,

        out_i = sum_{p covers i} W_{p,i} V_{p,i} / sum_{p covers i} W_{p,i}

    This is adaUnPool's rule (spread with exponential weights, here normalised as in the VFI model's
    guided upsampling) with a value per position instead of one per window. Every HR pixel blends
    2 x 2 (3 x 3 at odd s) neighbouring predictions with content-dependent weights, so there is no
    seam at the window borders and no s-periodic pattern on smooth or blurred input, while sharp edges
    can still follow the weights. ``G`` is bounded by ``8 tanh(. / 8)`` so the division is safe.

Do no harm (``deadzone``, in 8-bit levels, an inference setting): in eval mode the residual ``out(f)``
is soft-thresholded, ``r -> sign(r) max(|r| - deadzone / 255, 0)``, before it is added to bicubic.
Where bicubic is already right (flat areas, smooth gradients, defocused content) the network's
residual is a fraction of a level of noise, whose only effect is to cost PSNR; the threshold returns
exactly bicubic there and moves a real correction (many levels) by a quarter of a level. Training
never applies it (``self.training``): the zero-initialised output stage would get no gradient through
it. The bundled weights set 0.25 (docs/MODELS.md#do-no-harm says how it was chosen); a freshly built
model has 0 (off).

Nothing is clamped inside (callers clamp). Fully convolutional: any H, W >= 1.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_ints
from .layers import InceptionConv2d, make_body
from .layers.bodies import BODIES as LAYER_BODIES
from .registry import register_model
from .upsamplers import BicubicUpsample

__all__ = ["LowResSRNet", "OUTPUT_STAGES", "LR_SR_PRESETS", "PixelShuffleOutput", "AdaUnPoolOutput"]

_WEIGHT_BOUND = 8.0


class _ChainBody(nn.Module):
    """PReLU, then ``convs`` x [conv3x3 - PReLU]: a plain chain without skips (the baseline body)."""

    def __init__(self, channels: int, convs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.PReLU(channels)]
        for _ in range(convs):
            conv = nn.Conv2d(channels, channels, 3, padding=1)
            # He et al.'s rule for PReLU (slope 0.25 at the start): with PyTorch's default init the signal
            # shrank about 10x along the chain, and in a 1500-step run the last PReLU went dead (the
            # output stayed bicubic); a chain without skips needs the variance-keeping init.
            nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.PReLU(channels)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


BODIES = (*LAYER_BODIES, "chain")


def _reach(m: nn.Module) -> int:
    """How many pixels a conv layer looks out from its centre (0 for a module that is not a conv)."""
    if isinstance(m, InceptionConv2d):
        return max(max(d) for d in m.dilations)
    if isinstance(m, nn.Conv2d):
        return max(d * (k // 2) for d, k in zip(m.dilation, m.kernel_size))
    return 0


class PixelShuffleOutput(nn.Module):
    """conv3x3 C -> out * s^2 then ``PixelShuffle(s)``; zero-initialised (starts at 0)."""

    def __init__(self, channels: int, scale: int, out_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(f))


def window_size(scale: int) -> int:
    """k: the side of the overlapping window of each LR pixel (2s for even s, 3s for odd s, so that
    ``(k - s) / 2`` is an integer and the window is centred on the pixel's s x s footprint)."""
    return 2 * scale if scale % 2 == 0 else 3 * scale


class AdaUnPoolOutput(nn.Module):
    """Normalised adaUnPool over overlapping k x k windows at stride s (see the module docstring).

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, out_channels, s*H, s*W).

    Example:
        >>> out = AdaUnPoolOutput(8, scale=2)
        >>> out(torch.randn(1, 8, 5, 7)).shape
        torch.Size([1, 3, 10, 14])
    """

    def __init__(self, channels: int, scale: int, out_channels: int = 3) -> None:
        super().__init__()
        self.scale = scale
        self.out_channels = out_channels
        self.k = window_size(scale)
        self.pad = (self.k - scale) // 2
        self.values = nn.Conv2d(channels, out_channels * self.k * self.k, 1)
        self.logits = nn.Conv2d(channels, self.k * self.k, 1)
        for conv in (self.values, self.logits):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n, _, h, w = f.shape
        s, k, c = self.scale, self.k, self.out_channels
        size = (s * h, s * w)
        g = _WEIGHT_BOUND * torch.tanh(self.logits(f).float() / _WEIGHT_BOUND)
        wts = torch.exp(g).reshape(n, 1, k * k, h * w)
        vals = self.values(f).float().reshape(n, c, k * k, h * w)
        num = F.fold((vals * wts).reshape(n, c * k * k, h * w), size, k, stride=s, padding=self.pad)
        den = F.fold(wts.reshape(n, k * k, h * w), size, k, stride=s, padding=self.pad)
        return (num / den).to(f.dtype)


OUTPUT_STAGES = {"pixelshuffle": PixelShuffleOutput, "adaunpool": AdaUnPoolOutput}


class LowResSRNet(nn.Module):
    """See the module docstring.

    Args:
        scale: the SR factor (int >= 2).
        channels: C, the feature width at LR.
        blocks: residual blocks in the body.
        upsampler: the output stage, a key of :data:`OUTPUT_STAGES` (named as SRNet's upsampler, the
            part that goes from the LR grid to the HR one).
        body: a kind of :func:`~inter4k.models.layers.make_body` ("plain" residual blocks, "ds", "ds2",
            "ic"), followed by a fuse conv and the long skip; or "chain": ``blocks`` conv3x3 - PReLU
            layers in a chain without any skip (the plain LR-grid network the presets are compared with).
        body_options: keyword arguments of ``make_body`` (e.g. ``{"dilations": patterns}`` for an
            EDO-searched "ic" body, ``{"max_dilation": 2}`` for its "supernet").
        deadzone: the residual's soft threshold in eval mode, in 8-bit levels (module docstring); 0: off.

    Attributes:
        config: the constructor's keyword arguments; ``LowResSRNet(**config)`` rebuilds the architecture.
    """

    def __init__(self, scale: int = 4, channels: int = 48, blocks: int = 4, upsampler: str = "adaunpool",
                 body: str = "plain", body_options: Optional[dict] = None, deadzone: float = 0.0) -> None:
        super().__init__()
        check_ints("LowResSRNet", ("scale", scale, 2), ("channels", channels, 1), ("blocks", blocks, 0))
        check_choice("LowResSRNet", "upsampler", upsampler, OUTPUT_STAGES)
        check_choice("LowResSRNet", "body", body, BODIES)
        self.scale = scale
        if body_options is not None and not isinstance(body_options, dict):
            raise TypeError(f"LowResSRNet: body_options must be a dict, got {type(body_options).__name__}")
        if body == "chain" and body_options:
            raise ValueError("LowResSRNet: the 'chain' body takes no body_options")
        self.config = {"scale": scale, "channels": channels, "blocks": blocks, "upsampler": upsampler, "body": body}
        if isinstance(deadzone, bool) or not isinstance(deadzone, (int, float)) or not 0 <= deadzone < 255:
            raise ValueError(f"LowResSRNet: deadzone must be a number of 8-bit levels in [0, 255), got {deadzone!r}")
        # only when given, so that older checkpoints' configs still compare equal
        if body_options:
            self.config["body_options"] = dict(body_options)
        if deadzone:
            self.config["deadzone"] = float(deadzone)
        self.deadzone = float(deadzone) / 255.0
        self.model_name: Optional[str] = None
        self.skip = BicubicUpsample(scale)
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        if body == "chain":
            self.body = _ChainBody(channels, blocks)
            self.fuse = None
        else:
            self.body = make_body(body, channels, blocks, **(body_options or {}))
            self.fuse = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = OUTPUT_STAGES[upsampler](channels, scale)

    @property
    def receptive_radius(self) -> int:
        """How far (LR pixels) an output pixel's inputs reach: head conv 1, each conv of the body its own
        reach (1 for a 3x3 conv, its largest dilation for an IC-Conv, D for a supernet's (2D+1)^2 conv;
        two convs a residual block), the fuse conv 1, and 1 for the output stage (its 3x3 conv, or the
        neighbouring windows an HR pixel blends); at least the bicubic skip's 2. Tiling overlaps by 3x
        this (:mod:`inter4k.infer.tiling`)."""
        blocks, body = self.config["blocks"], self.config["body"]
        if body == "chain":
            return max(1 + blocks + 1, 2)
        per_block = 2 * max([_reach(m) for m in self.body.modules() if _reach(m)] or [1])
        return max(1 + per_block * blocks + 1 + 1, 2)

    def forward(self, x: torch.Tensor, extra: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``extra`` (N, C, H, W), optional: features added to the head's output, the way a video model
        (:class:`~inter4k.models.vsr.VSRSmall`) brings in what it aligned from the neighbouring frames."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"LowResSRNet: expected (N, 3, H, W), got {tuple(x.shape)}")
        f0 = self.head(x) if extra is None else self.head(x) + extra
        f = f0 + self.fuse(self.body(f0)) if self.fuse is not None else self.body(f0)
        r = self.out(f)
        if self.deadzone and not self.training:
            r = F.softshrink(r, self.deadzone)   # sign(r) max(|r| - deadzone, 0), in one pass
        return self.skip(x) + r

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())


#: Preset defaults (LowResSRNet keyword arguments, besides scale and output).
LR_SR_PRESETS: dict[str, dict] = {
    "sr-lr-small": {"channels": 48, "blocks": 4},
    "sr-lr-large": {"channels": 64, "blocks": 10},
    # the plain LR-grid network the presets must beat: conv 3->48, eight 48-channel conv3x3 + PReLU,
    # conv -> 3 s^2, PixelShuffle, bicubic skip (189k parameters at x4)
    "sr-lr-plain": {"channels": 48, "blocks": 8, "body": "chain"},
}


def _preset(name: str, scale: int, upsampler: str, overrides: dict) -> LowResSRNet:
    model = LowResSRNet(**{**LR_SR_PRESETS[name], **overrides, "scale": scale, "upsampler": upsampler})
    model.model_name = name
    return model


@register_model("sr-lr-small", task="sr")
def sr_lr_small(scale: int = 4, upsampler: str = "adaunpool", **overrides) -> LowResSRNet:
    """LowResSRNet, 48 channels, 4 residual blocks: the fast preset."""
    return _preset("sr-lr-small", scale, upsampler, overrides)


@register_model("sr-lr-plain", task="sr")
def sr_lr_plain(scale: int = 4, upsampler: str = "pixelshuffle", **overrides) -> LowResSRNet:
    """The plain baseline: a chain of eight 48-channel conv3x3 + PReLU at LR, pixel shuffle, bicubic skip."""
    return _preset("sr-lr-plain", scale, upsampler, overrides)


@register_model("sr-lr-large", task="sr")
def sr_lr_large(scale: int = 4, upsampler: str = "adaunpool", **overrides) -> LowResSRNet:
    """LowResSRNet, 64 channels, 10 residual blocks."""
    return _preset("sr-lr-large", scale, upsampler, overrides)
