"""SRNet: a light residual CNN for x2 / x3 / x4 image super-resolution, and its presets.

    model = create_model("sr-small", scale=4)                        # upsampler="adaunpool"
    model = create_model("sr-base", scale=2, upsampler="pixelshuffle", match_params=True)
    sr = model(lr).clamp(0, 1)                                       # (N, 3, H, W) -> (N, 3, sH, sW)

Architecture (EDSR-baseline-like, no batch norm), for LR RGB x in [0, 1]:

    f = head(x)                                   conv3x3, in_channels -> C
    f = f + body(f)                               `blocks` x [conv3x3 - ReLU - conv3x3, * res_scale, + skip],
                                                  then conv3x3 (the long skip around the whole body)
    u = upsample(f)                               create_upsampler(upsampler, C, scale)
    y = bicubic(x) + tail(u)                      tail: conv3x3, C -> out_channels, ZERO-initialised

The global skip is MATLAB bicubic (:func:`~inter4k.models.upsamplers.bicubic_upsample`, equal to
``imresize(x, scale)``, computed with 5-tap polyphase convolutions at a cost linear in the image size;
cheaper than imresize's dense matrices on large frames, and the same as the "bicubic" baseline). Because
the tail conv starts at zero, an untrained SRNet returns exactly the bicubic image, and training only
learns the residual. Nothing is clamped inside (callers clamp). Fully convolutional: any H, W >= 1.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from .layers import ResBlock
from ._checks import check_ints
from .registry import register_model
from .upsamplers import UPSAMPLERS, BicubicUpsample, create_upsampler

__all__ = ["SRNet", "ResBlock", "SR_PRESETS", "count_params", "srnet_params", "match_channels"]


class SRNet(nn.Module):
    """A light residual SR network with a global bicubic skip (see the module docstring).

    Args:
        scale: 2, 3 or 4 (any int >= 2 works).
        channels: C, the feature width.
        blocks: the number of residual blocks.
        upsampler: one of :data:`~inter4k.models.upsamplers.UPSAMPLERS` ("adaunpool" by default).
        in_channels: input channels (3 for RGB).
        out_channels: output channels, ``in_channels`` by default; the bicubic skip upsamples the first
            ``out_channels`` input channels.
        res_scale: the residual scaling of the blocks.

    Attributes:
        config: the constructor's keyword arguments (JSON-serialisable); ``SRNet(**config)`` rebuilds
            the same architecture (checkpoints store it).
        scale: the upscaling factor.
        model_name: the registered preset name (set by the preset factories; None otherwise).
    """

    def __init__(
        self,
        scale: int = 4,
        channels: int = 32,
        blocks: int = 3,
        upsampler: str = "adaunpool",
        in_channels: int = 3,
        out_channels: Optional[int] = None,
        res_scale: float = 1.0,
    ) -> None:
        super().__init__()
        check_ints("SRNet", ("scale", scale, 2), ("channels", channels, 1), ("blocks", blocks, 0),
                   ("in_channels", in_channels, 1))
        if out_channels is None:
            out_channels = in_channels
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or not 1 <= out_channels <= in_channels:
            raise ValueError(f"SRNet: out_channels must be an int in [1, in_channels={in_channels}], got {out_channels!r}")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"SRNet: unknown upsampler {upsampler!r}; known: {', '.join(UPSAMPLERS)}")
        self.scale = scale
        self.out_channels = out_channels
        self.config = {
            "scale": scale, "channels": channels, "blocks": blocks, "upsampler": upsampler,
            "in_channels": in_channels, "out_channels": out_channels, "res_scale": float(res_scale),
        }
        self.model_name: Optional[str] = None
        self.skip = BicubicUpsample(scale)
        self.head = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(channels, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.upsample = create_upsampler(upsampler, channels, scale)
        self.tail = nn.Conv2d(channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"SRNet: expected (N, {self.config['in_channels']}, H, W), got {tuple(x.shape)}")
        base = self.skip(x[:, : self.out_channels])
        f = self.head(x)
        f = f + self.body(f)
        return base + self.tail(self.upsample(f))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def srnet_params(**kwargs) -> int:
    """The parameter count of ``SRNet(**kwargs)``, built on the meta device (no memory, fast)."""
    with torch.device("meta"):
        return count_params(SRNet(**kwargs))


def match_channels(target: int, **kwargs) -> int:
    """The width C whose ``SRNet(channels=C, **kwargs)`` has the parameter count closest to ``target``.

    Searches C in 1..1024 (the count grows monotonically with C); a tie takes the smaller C.
    """
    kwargs.pop("channels", None)
    lo, hi = 1, 1024
    while lo < hi:  # the smallest C with count >= target
        mid = (lo + hi) // 2
        if srnet_params(channels=mid, **kwargs) >= target:
            hi = mid
        else:
            lo = mid + 1
    cands = [c for c in (lo - 1, lo) if c >= 1]
    return min(cands, key=lambda c: (abs(srnet_params(channels=c, **kwargs) - target), c))


#: The presets' defaults (SRNet keyword arguments); ``factory(scale, upsampler, **overrides)`` builds them.
SR_PRESETS: dict[str, dict] = {
    # 32 channels, 3 blocks: 94k parameters at x4 with adaunpool (4 blocks would be 113k).
    "sr-small": {"channels": 32, "blocks": 3, "res_scale": 1.0},
    # 64 channels, 8 blocks: 677k (x2) / 705k (x4) with adaunpool; EDSR-baseline is 64 x 16 (1.5M).
    "sr-base": {"channels": 64, "blocks": 8, "res_scale": 1.0},
}


def _preset(name: str, scale: int, upsampler: str, match_params: Union[bool, int], overrides: dict) -> SRNet:
    kw = {**SR_PRESETS[name], **overrides, "scale": scale, "upsampler": upsampler}
    if match_params is not False and match_params is not None:
        if match_params is True:
            target = srnet_params(**{**kw, "upsampler": "adaunpool"})
        elif isinstance(match_params, int) and match_params > 0:
            target = match_params
        else:
            raise ValueError(f"{name}: match_params must be True, False or a positive int (a parameter "
                             f"count), got {match_params!r}")
        kw["channels"] = match_channels(target, **kw)
    model = SRNet(**kw)
    model.model_name = name
    return model


@register_model("sr-small", task="sr")
def sr_small(scale: int = 4, upsampler: str = "adaunpool", match_params: Union[bool, int] = False,
             **overrides) -> SRNet:
    """SRNet, 32 channels, 3 residual blocks. ``match_params=True`` changes the width so the network has
    about as many parameters as the adaunpool variant (an int: that many parameters)."""
    return _preset("sr-small", scale, upsampler, match_params, overrides)


@register_model("sr-base", task="sr")
def sr_base(scale: int = 4, upsampler: str = "adaunpool", match_params: Union[bool, int] = False,
            **overrides) -> SRNet:
    """SRNet, 64 channels, 8 residual blocks; ``match_params`` as for sr-small."""
    return _preset("sr-base", scale, upsampler, match_params, overrides)
