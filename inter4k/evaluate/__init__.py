"""``inter4k evaluate``: PSNR / SSIM / LPIPS reports (conventions in docs/EVALUATE.md#metrics).

- :mod:`.run`: :func:`evaluate`, the shared set-up; :mod:`.tasks`: the task plug-ins' base, registry and
  the shared loop (frames grouped by clip);
- :mod:`.sources`: frames from an image, an image folder, a video or a folder of clips; pairing by name;
- :mod:`.compare`: pairs mode, plug-in "pairs" (given predictions against references);
- :mod:`.sr_data`, :mod:`.sr_model`: model mode, plug-in "sr" (an SR model and the baselines on a dataset);
- :mod:`.vfi_data`, :mod:`.vfi_model`: VFI model mode, plug-in "vfi" (a frame-interpolation model, frame
  averaging and the nearest frame on held-out Inter4K or synthetic-motion samples, every target frame scored);
- :mod:`.vsr_model`: video SR model mode, plug-in "vsr" (a clip model against per-frame SR and bicubic on clips,
  with the temporal values of :mod:`inter4k.metrics.temporal`);
- :mod:`.scoring`: the metrics of one frame pair (LPIPS built once, or its absence explained);
- :mod:`.crops`: the regions the HTML page shows;
- :mod:`.results`: per frame / per clip / overall results; :mod:`.tables`: the table rows;
  :mod:`.report`, :mod:`.html`: the files.
"""

from .results import ClipSummary, Crop, EvaluateResult, FrameRecord, MethodResult
from .run import TASKS, evaluate
from .scoring import METRICS, Scorer, parse_metrics

__all__ = ["evaluate", "EvaluateResult", "MethodResult", "ClipSummary", "FrameRecord", "Crop", "Scorer",
           "parse_metrics", "METRICS", "TASKS"]
