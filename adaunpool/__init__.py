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

__version__ = "0.1.0"

__all__ = [
    "adapool1d", "adapool2d", "adapool3d",
    "edscwpool1d", "edscwpool2d", "edscwpool3d",
    "empool1d", "empool2d", "empool3d",
    "adaunpool1d", "adaunpool2d", "adaunpool3d",
    "backend_info",
]
