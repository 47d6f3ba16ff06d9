"""Inference: upscaling images and videos with an SR model (``inter4k upscale``) and raising a video's
frame rate with a VFI model (``inter4k interpolate``).

- :mod:`inter4k.infer.upscale`: :func:`upscale` (the entry point) and :class:`UpscaleResult`;
- :mod:`inter4k.infer.interpolate`: :func:`interpolate` and :class:`InterpolateResult`, with the exact
  output timeline in :mod:`~inter4k.infer.timing` and scene-cut detection in :mod:`~inter4k.infer.scene`;
- :mod:`inter4k.infer.tiling`: :class:`TileRunner` (tiles with blended overlaps, out-of-memory retries);
- :mod:`inter4k.infer.video_pipeline`: threaded decode -> model -> encode with timestamps, audio and
  subtitles kept.
"""

from .tiling import DEFAULT_OVERLAP, MIN_TILE, OOMAbove, TileRunner, is_oom
from .interpolate import InterpolateResult, interpolate
from .upscale import OutputExistsError, UpscaleResult, upscale

__all__ = ["upscale", "UpscaleResult", "interpolate", "InterpolateResult", "OutputExistsError", "TileRunner", "OOMAbove", "is_oom", "MIN_TILE",
           "DEFAULT_OVERLAP"]
