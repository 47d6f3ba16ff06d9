"""Drop-in blocks: inception (per-channel dilated) convolutions with the EDO search, and dense shortcuts.

    from inter4k.models.layers import InceptionConv2d, edo_search, replace_conv, DenseShortcut

See docs/MODELS.md ("Blocks") for what each does and how they were checked.
"""

from .bodies import BODIES, make_body
from .dense import NORMS, ChannelNorm, DenseShortcut, DSBlock, DSStage, ResidualBranch, make_norm, to_ds_stage
from .edo import crop_pattern, edo_convert, edo_search, make_supernet
from .inception import InceptionConv2d, check_dilations, default_dilations
from .macs import count_macs, macs_per_pixel
from .replace import replace_conv, why_not_replaceable
from .residual import ResBlock

__all__ = ["InceptionConv2d", "edo_search", "replace_conv", "DenseShortcut", "edo_convert", "make_supernet",
           "crop_pattern", "default_dilations", "check_dilations", "why_not_replaceable", "DSBlock", "DSStage",
           "ResidualBranch", "to_ds_stage", "ChannelNorm", "make_norm", "NORMS", "ResBlock", "make_body", "BODIES",
           "count_macs", "macs_per_pixel"]
