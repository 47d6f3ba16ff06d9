"""How much of an image survives pooling: ``inter4k bench-pool`` / :func:`inter4k.api.bench_pool`.

Each image is pooled with kernel = stride = k (k = 2, 4), brought back to full size, and compared with
the original (RGB PSNR and SSIM). adaPool + adaUnPool (with the pooling's own weights) is compared with
eM / eDSCW + adaUnPool and with avg, max, stochastic, median, mixed, LP and SoftPool pooling restored
by nearest (avg also bilinear, max also max_unpool).

* :mod:`.windows` -- the baseline window poolings (median, stochastic, LP, mixed, SoftPool);
* :mod:`.methods` -- the pool-then-restore methods and their rules;
* :mod:`.images` -- the default photographs (scikit-image) or a user's folder;
* :mod:`.run` -- the measurement loop and :class:`BenchPoolResult`;
* :mod:`.report` -- report.json / report.md / report.png.
"""

from .methods import BASELINE, BETA_GRID, METHODS, Method, get_method
from .run import DEFAULT_FACTORS, BenchPoolResult, bench_pool

__all__ = ["bench_pool", "BenchPoolResult", "METHODS", "Method", "get_method", "BETA_GRID", "BASELINE",
           "DEFAULT_FACTORS"]
