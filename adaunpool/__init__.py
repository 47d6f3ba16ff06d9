"""adaunpool: exact, fast AdaPool / AdaUnPool operators (Stergiou & Poppe, IEEE TIP 2022).

    import adaunpool as au
    y, w = au.adapool2d(x, 2, return_weights=True)
    u = au.adaunpool2d(y, w, 2)

CPU and CUDA kernels are compiled on first use; ``au.backend_info()`` says which implementation runs.
"""

from ._loader import backend_info
from .functional import (
    adapool1d,
    adapool2d,
    adapool3d,
    adaunpool1d,
    adaunpool2d,
    adaunpool3d,
    edscwpool1d,
    edscwpool2d,
    edscwpool3d,
    empool1d,
    empool2d,
    empool3d,
)
from .modules import (
    AdaPool1d,
    AdaPool2d,
    AdaPool3d,
    AdaUnPool1d,
    AdaUnPool2d,
    AdaUnPool3d,
    EDSCWPool1d,
    EDSCWPool2d,
    EDSCWPool3d,
    EMPool1d,
    EMPool2d,
    EMPool3d,
    LazyAdaPool1d,
    LazyAdaPool2d,
    LazyAdaPool3d,
)
from . import pooling  # SPP, global, NetVLAD and bilinear pooling heads
from .replace import replace_pooling
from .upsample import AdaUnPoolUpsample

__version__ = "0.1.0"

__all__ = [
    "adapool1d", "adapool2d", "adapool3d",
    "edscwpool1d", "edscwpool2d", "edscwpool3d",
    "empool1d", "empool2d", "empool3d",
    "adaunpool1d", "adaunpool2d", "adaunpool3d",
    "backend_info",
    "AdaPool1d", "AdaPool2d", "AdaPool3d",
    "LazyAdaPool1d", "LazyAdaPool2d", "LazyAdaPool3d",
    "EDSCWPool1d", "EDSCWPool2d", "EDSCWPool3d",
    "EMPool1d", "EMPool2d", "EMPool3d",
    "AdaUnPool1d", "AdaUnPool2d", "AdaUnPool3d",
    "AdaUnPoolUpsample",
    "replace_pooling",
]
