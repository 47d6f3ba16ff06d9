"""Video super-resolution that uses the neighbouring frames: ``vsr-small``, a recurrent, flow-aligned
network that computes at the low resolution.

    model = create_model("vsr-small", scale=4)           # bidirectional (offline: the whole clip)
    sr = model(lr_clip)                                  # (N, T, 3, h, w) -> (N, T, 3, 4h, 4w), not clamped
    out, state = model.run(chunk, state)                 # streaming: forward state carried between chunks
    model = create_model("vsr-small", scale=4, bidirectional=False)   # forward-only (causal)

Architecture, for LR RGB frames x_1 .. x_T in [0, 1] (C = ``channels``):

1. **Flow** between neighbouring LR frames, ``F_{t->s}`` (s = t - 1 forward, t + 1 backward), by a tiny
   U-Net at 1/2 and 1/4 of the LR resolution: both frames are pooled 2x by adaPool
   (:func:`~inter4k.models.vfi.pool_with_weights`, 4x4 windows, stride 2), the U-Net predicts the flow
   at 1/2 LR (zero-initialised head) and :func:`~inter4k.models.vfi.guided_upsample` brings it back to
   LR with frame t's own pooling weights (a normalised adaUnPool: edge-aware, keeps a constant flow
   constant), values x2. The same pieces as vfi-small's flow path, at a much smaller width.
2. **Propagation** (one branch per direction, width C): the branch's previous hidden state and
   previous LR frame are backward-warped to frame t (:func:`~inter4k.models.vfi.backward_warp`), and

       h_t = g_t + body(g_t),   g_t = conv3x3([x_t, warp(x_s), warp(h_s)])

   with ``blocks`` residual blocks (:func:`~inter4k.models.layers.make_body` "plain"). The first frame
   of a direction (or after a scene cut) starts from a zero state and its own frame.
3. **Reconstruction** at LR by the per-frame network :class:`~inter4k.models.lowres_sr.LowResSRNet`
   (``frame_net``: width F = ``frame_channels``, ``frame_blocks`` residual blocks, its output stage
   and exact MATLAB bicubic skip), whose head features get the branches' states added,

       y_t = frame_net(x_t, extra = inject([h_fwd, h_bwd]))

   ``inject`` (conv3x3, 2C -> F) starts at zero, so an untrained model *is* its per-frame network: a
   fresh one returns bicubic exactly, and one whose ``frame_net`` got a trained single-frame model's
   weights (:meth:`VSRSmall.load_frame_weights`, ``train-vsr --frame-init``) returns that model's
   output exactly, and training only has to learn what the neighbouring frames add. The per-frame
   network's do-no-harm ``deadzone`` applies to the whole residual.

Offline (``forward``) the backward branch runs over the whole clip; streaming (:meth:`VSRSmall.run`)
carries only the forward branch's state (one LR frame and one C-channel hidden map: bounded memory)
from chunk to chunk, and the backward branch sees the chunk plus ``lookahead`` later frames. With
``bidirectional=False`` there is no backward branch, and streaming in chunks equals the offline pass.

Cost (docs/MODELS.md#video-sr-vsr-small): everything runs at LR or below; the flow U-Net runs twice per frame
(once per direction) at 1/2 and 1/4 LR. Geometry (flows, warps) runs in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_ints
from .layers import make_body
from .lowres_sr import LowResSRNet
from .registry import register_model
from .vfi import backward_warp, guided_upsample, pool_with_weights

__all__ = ["VSRSmall", "VSRState", "TinyFlowNet", "check_clip", "CLIP_MODELS", "is_clip_model"]

#: The registered SR models that take clips (N, T, 3, h, w) instead of frames.
CLIP_MODELS: tuple[str, ...] = ("vsr-small",)

_FLOW_FACTOR = 4  # the flow U-Net's coarsest level is 1/4 LR: frames are padded to a multiple of it


def check_clip(clip: torch.Tensor, who: str) -> None:
    """TypeError / ValueError unless ``clip`` is a floating (N, T, 3, h, w) tensor with T >= 1."""
    if not isinstance(clip, torch.Tensor) or not clip.is_floating_point():
        raise TypeError(f"{who}: the clip must be a floating-point tensor in [0, 1]")
    if clip.dim() != 5 or clip.shape[2] != 3 or clip.shape[1] < 1:
        raise ValueError(f"{who}: expected a clip (N, T, 3, h, w), got shape {tuple(clip.shape)}")


def is_clip_model(module: nn.Module) -> bool:
    """Whether ``module`` (unwrapped) super-resolves clips (N, T, 3, h, w) rather than frames."""
    return bool(getattr(getattr(module, "module", module), "clip_model", False))


@dataclass
class VSRState:
    """What streaming carries from one chunk to the next: the forward branch's last LR frame
    (N, 3, h, w) and hidden state (N, C, h, w). None (no state) starts a new scene."""

    frame: torch.Tensor
    hidden: torch.Tensor


class TinyFlowNet(nn.Module):
    """The flow ``F_{t->s}`` (N, 2, h, w) float32 in LR pixels (x then y) from LR frames x_t, x_s.

    A two-level U-Net on the frames pooled by adaPool with a fixed ``beta`` (1/2 LR; one stride-2
    level at 1/4), a
    zero-initialised head, and a guided (normalised adaUnPool) x2 upsampling back to LR; h, w are
    replicate-padded to a multiple of 4 and cropped back.

    Shape:
        - target, source: (N, 3, h, w).
        - Output: (N, 2, h, w) float32.

    Example:
        >>> net = TinyFlowNet(8)
        >>> net(torch.rand(1, 3, 10, 13), torch.rand(1, 3, 10, 13)).abs().max().item()   # zero head
        0.0
    """

    def __init__(self, channels: int = 16, beta: float = 0.5) -> None:
        super().__init__()
        c = channels
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.e0 = nn.Sequential(nn.Conv2d(6, c, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))
        self.e1 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))
        self.d0 = nn.Conv2d(3 * c, c, 3, padding=1)
        self.head = nn.Conv2d(c, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.beta = float(beta)

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        h, w = target.shape[-2:]
        ph, pw = (-h) % _FLOW_FACTOR, (-w) % _FLOW_FACTOR
        both = torch.cat([target.float(), source.float()], 0)
        if ph or pw:
            both = F.pad(both, (0, pw, 0, ph), mode="replicate")
        pooled, weights = pool_with_weights(both, self.beta)
        n = target.shape[0]
        pdtype = self.head.weight.dtype
        e0 = self.e0(torch.cat([pooled[:n], pooled[n:]], 1).to(pdtype))
        e1 = self.e1(e0)
        up = F.interpolate(e1, size=e0.shape[-2:], mode="bilinear", align_corners=False)
        flow = self.head(self.act(self.d0(torch.cat([up, e0], 1)))).float()
        flow = 2.0 * guided_upsample(flow, weights[:n].mean(dim=1, keepdim=True))
        return flow[..., :h, :w]


class _Branch(nn.Module):
    """One propagation direction: ``h_t = g + body(g)``, ``g = conv([x_t, warp(x_s), warp(h_s)])``."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.channels = channels
        self.fuse = nn.Conv2d(6 + channels, channels, 3, padding=1)
        self.body = make_body("plain", channels, blocks)

    def step(self, flownet: TinyFlowNet, x: torch.Tensor, prev: Optional[VSRState]) -> torch.Tensor:
        if prev is None:  # the first frame of this direction (or of a scene): its own frame, a zero state
            x_s, h_s = x, x.new_zeros(x.shape[0], self.channels, *x.shape[-2:])
        else:
            flow = flownet(x, prev.frame)
            x_s = backward_warp(prev.frame.float(), flow).to(x.dtype)
            h_s = backward_warp(prev.hidden.float(), flow).to(x.dtype)
        g = self.fuse(torch.cat([x, x_s, h_s], 1))
        return g + self.body(g)


class VSRSmall(nn.Module):
    """The recurrent, flow-aligned LR video SR network (see the module docstring).

    Args:
        scale: the SR factor (int >= 2).
        channels: C, the width of each propagation branch.
        blocks: residual blocks per branch.
        frame_channels: F, the width of the per-frame network (LowResSRNet's ``channels``).
        frame_blocks: its residual blocks (LowResSRNet's ``blocks``).
        flow_channels: the width of the flow U-Net (1/2 LR: this many, 1/4 LR: twice).
        upsampler: the per-frame network's output stage (LowResSRNet's ``upsampler``).
        deadzone: the per-frame network's do-no-harm threshold in eval mode, 8-bit levels (0: off).
        bidirectional: a backward branch too (offline); False: forward only (causal, streams exactly).

    Attributes:
        config: the constructor's keyword arguments; ``VSRSmall(**config)`` rebuilds the architecture.
        frame_net: the per-frame :class:`~inter4k.models.lowres_sr.LowResSRNet`.
        clip_model: True: the model takes clips (N, T, 3, h, w), not frames (the trainers and the
            evaluation read it).

    Shape:
        - Input: (N, T, 3, h, w) in [0, 1].
        - Output: (N, T, 3, s*h, s*w), the input's dtype, not clamped.

    Example:
        >>> from inter4k.models.upsamplers import bicubic_upsample
        >>> m = VSRSmall(scale=2, channels=8, blocks=1, frame_channels=8, frame_blocks=0, flow_channels=4)
        >>> clip = torch.rand(1, 3, 3, 12, 10)
        >>> out = m(clip)
        >>> tuple(out.shape), bool(torch.allclose(out[0, 1], bicubic_upsample(clip[0, 1:2], 2)[0]))
        ((1, 3, 3, 24, 20), True)
    """

    clip_model = True

    def __init__(self, scale: int = 4, channels: int = 24, blocks: int = 1, frame_channels: int = 48,
                 frame_blocks: int = 4, flow_channels: int = 16, upsampler: str = "adaunpool",
                 deadzone: float = 0.0, bidirectional: bool = True) -> None:
        super().__init__()
        check_ints("VSRSmall", ("scale", scale, 2), ("channels", channels, 1), ("blocks", blocks, 0),
                   ("frame_channels", frame_channels, 1), ("frame_blocks", frame_blocks, 0),
                   ("flow_channels", flow_channels, 1))
        if not isinstance(bidirectional, bool):
            raise ValueError(f"VSRSmall: bidirectional must be a bool, got {bidirectional!r}")
        self.scale = scale
        self.frame_net = LowResSRNet(scale, frame_channels, frame_blocks, upsampler, deadzone=deadzone)
        self.config = {"scale": scale, "channels": channels, "blocks": blocks, "frame_channels": frame_channels,
                       "frame_blocks": frame_blocks, "flow_channels": flow_channels, "upsampler": upsampler,
                       "bidirectional": bidirectional}
        if deadzone:  # only when given, as LowResSRNet's config
            self.config["deadzone"] = float(deadzone)
        self.model_name: Optional[str] = None
        self.bidirectional = bidirectional
        self.flownet = TinyFlowNet(flow_channels)
        self.forward_branch = _Branch(channels, blocks)
        self.backward_branch = _Branch(channels, blocks) if bidirectional else None
        self.inject = nn.Conv2d(channels * (2 if bidirectional else 1), frame_channels, 3, padding=1)
        nn.init.zeros_(self.inject.weight)
        nn.init.zeros_(self.inject.bias)

    def frame_weights_fit(self, source: nn.Module) -> bool:
        """Whether ``source`` is a LowResSRNet with ``frame_net``'s architecture (the deadzone, an
        inference setting, aside)."""
        def arch(config) -> dict:
            return {k: v for k, v in (config or {}).items() if k != "deadzone"}

        return type(source) is LowResSRNet and arch(source.config) == arch(self.frame_net.config)

    def load_frame_weights(self, source: nn.Module) -> None:
        """Copy a trained single-frame :class:`~inter4k.models.lowres_sr.LowResSRNet` into ``frame_net``
        (its deadzone is the VSR model's own setting and is not copied). Because ``inject`` starts at
        zero, a model that has not been trained since returns exactly ``source``'s output. ValueError
        when the architectures differ (both named)."""
        if not self.frame_weights_fit(source):
            raise ValueError(f"VSRSmall: the per-frame weights must come from a LowResSRNet {self.frame_net.config}, "
                             f"got {type(source).__name__} {getattr(source, 'config', None)}")
        self.frame_net.load_state_dict(source.state_dict())

    def _frame(self, x: torch.Tensor, h_fwd: torch.Tensor, h_bwd: Optional[torch.Tensor]) -> torch.Tensor:
        return self.frame_net(x, self.inject(h_fwd if h_bwd is None else torch.cat([h_fwd, h_bwd], 1)))

    def run(self, clip: torch.Tensor, state: Optional[VSRState] = None, lookahead: int = 0
            ) -> tuple[torch.Tensor, VSRState]:
        """Super-resolve a chunk: ``clip`` holds the frames to output followed by ``lookahead`` later
        frames that only the backward branch sees; ``state`` is the forward branch's state after the
        frame before the chunk (None: a new scene). Returns the outputs (N, T - lookahead, 3, sH, sW)
        and the forward state after the last output frame, to pass with the next chunk."""
        check_clip(clip, "VSRSmall")
        t_all = clip.shape[1]
        if isinstance(lookahead, bool) or not isinstance(lookahead, int) or not 0 <= lookahead < t_all:
            raise ValueError(f"VSRSmall: lookahead must be an int in [0, T) = [0, {t_all}), got {lookahead!r}")
        frames = [clip[:, t].to(self.inject.weight.dtype) for t in range(t_all)]
        keep = t_all - lookahead
        backward: list[Optional[torch.Tensor]] = [None] * keep
        if self.backward_branch is not None:
            prev: Optional[VSRState] = None
            for t in reversed(range(t_all)):
                h = self.backward_branch.step(self.flownet, frames[t], prev)
                prev = VSRState(frames[t], h)
                if t < keep:
                    backward[t] = h
        outputs = []
        for t in range(keep):
            h = self.forward_branch.step(self.flownet, frames[t], state)
            state = VSRState(frames[t], h)
            outputs.append(self._frame(frames[t], h, backward[t]))
        return torch.stack(outputs, 1).to(clip.dtype), state

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """The whole clip offline (both directions over all of it)."""
        return self.run(clip)[0]

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())


@register_model("vsr-small", task="sr")
def vsr_small(scale: int = 4, **overrides) -> VSRSmall:
    """:class:`VSRSmall`: two 24-channel branches of 1 residual block, sr-lr-small's architecture as the
    per-frame network (48 channels, 4 blocks, adaUnPool output), a 16-channel flow U-Net;
    ``bidirectional=False`` for the forward-only (causal) variant."""
    model = VSRSmall(scale=scale, **overrides)
    model.model_name = "vsr-small"
    return model
