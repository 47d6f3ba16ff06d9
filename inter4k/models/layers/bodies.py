"""make_body: the feature body of an SR / VFI network by kind, (N, C, H, W) -> (N, C, H, W).

    body = make_body("plain", 64, 8)                    # 8 ResBlocks (conv3x3 - ReLU - conv3x3 + identity)
    body = make_body("ds", 64, 8)                       # DSNet dense weighted normalised shortcuts
    body = make_body("ds2", 64, 8)                      # DS plus a shortcut around each block's conv2
    body = make_body("ic", 64, 8, dilations=patterns)   # ResBlocks of InceptionConv2d (EDO patterns)
    body = make_body("supernet", 64, 8, max_dilation=2) # ResBlocks of 5x5 convs: EDO's supernet for "ic"

Only the blocks: a network adds its own long skip and closing conv around them.
"""

from __future__ import annotations

from torch import nn

from .._checks import check_choice, check_ints
from .dense import NORMS, DSStage
from .edo import make_supernet
from .inception import default_dilations
from .replace import replace_conv
from .residual import ResBlock

__all__ = ["BODIES", "make_body"]

#: The body kinds of :func:`make_body`, with the keyword arguments each takes.
BODIES: dict[str, tuple[str, ...]] = {
    "plain": ("res_scale",),
    "ds": ("norm", "res_scale"),
    "ds2": ("norm", "res_scale"),
    "ic": ("dilations", "max_dilation", "res_scale"),
    "supernet": ("max_dilation", "res_scale"),
}


def make_body(kind: str, channels: int, blocks: int, **kw) -> nn.Module:
    """``blocks`` residual blocks of width ``channels``, of one kind (see the module docstring).

    Keyword arguments (``BODIES[kind]`` lists which kind takes which):

    * ``res_scale`` (1.0): each block's branch output is multiplied by it (EDSR's residual scaling).
    * ``norm`` ("layer"): the normalisation N of the dense shortcuts, one of
      :data:`~inter4k.models.layers.NORMS`. The default normalises each pixel over its channels:
      no batch or image statistics, so training and inference, batches and tiles all agree.
    * ``dilations``: the pairs of the IC-Convs, in any form :func:`replace_conv` takes (a pair, a
      list of ``channels`` pairs, or ``{"0.conv1": [...], ...}`` per conv, e.g. EDO's patterns).
      Default: :func:`default_dilations` ``(channels, max_dilation)`` for every conv.
    * ``max_dilation`` (2): the largest dilation of the default pairs ("ic"), or of the patterns a
      "supernet" body covers: its convs are (2D+1) x (2D+1) (:func:`make_supernet`), trained, then
      searched with :func:`edo_convert`, whose patterns build the "ic" body.

    No kind uses batch statistics unless ``norm="batch"`` is asked for. All kinds have the same
    3x3 convs, so their multiply-adds differ only by the shortcuts' element-wise terms
    (:func:`~inter4k.models.layers.macs_per_pixel` counts them).
    """
    check_choice("make_body", "kind", kind, BODIES)
    check_ints("make_body", ("channels", channels, 1), ("blocks", blocks, 0))
    unknown = sorted(set(kw) - set(BODIES[kind]))
    if unknown:
        raise ValueError(f"make_body: kind {kind!r} takes {', '.join(BODIES[kind])}; got {', '.join(unknown)}")
    res_scale = float(kw.get("res_scale", 1.0))
    if kind in ("ds", "ds2"):
        norm = kw.get("norm", "layer")
        check_choice("make_body", "norm", norm, NORMS)
        return DSStage.build(channels, blocks, kind, norm=norm, res_scale=res_scale)
    body = nn.Sequential(*[ResBlock(channels, res_scale) for _ in range(blocks)])
    if kind == "ic" and blocks:
        dilations = kw.get("dilations")
        if dilations is None:
            dilations = default_dilations(channels, kw.get("max_dilation", 2))
        body = replace_conv(body, dilations)
    if kind == "supernet" and blocks:
        body = make_supernet(body, kw.get("max_dilation", 2))
    return body
