"""What ``inter4k upscale`` (:mod:`.upscale`) and ``inter4k interpolate`` (:mod:`.interpolate`) share.

- **Precision and device**: :func:`parse_dtype` ("fp32" / "bf16" / "fp16"), :func:`resolve_device`
  (CUDA when available), :func:`resolve_precision` (both, and fp16 refused on the CPU).
- **Argument checks**, in the order the entry points make them: :func:`check_tiling` (tile and
  overlap), :func:`check_input` (an existing file), :func:`check_output` (not a folder, not the input,
  not an existing file unless ``overwrite``).
- **Results**: :class:`PathsAsText` (``to_dict`` for JSON), :func:`dtype_name`, :func:`oom_warning`
  (the warning for each out-of-memory retry of :class:`~inter4k.infer.tiling.TileRunner`).

Every check raises ValueError (or FileNotFoundError / IsADirectoryError / :class:`OutputExistsError`)
with a message that names the problem, before any model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional, Union

import torch

from .tiling import OOMEvent, parse_tile
from .video_pipeline import EncodeSettings

__all__ = ["IMAGE_SUFFIXES", "DTYPES", "ProgressFn", "OutputExistsError", "PathsAsText", "is_image", "parse_dtype",
           "resolve_device", "resolve_precision", "dtype_name", "check_tiling", "check_input", "check_output",
           "encode_settings", "oom_warning"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "half": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
_DTYPE_NAMES = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

#: ``progress(done, total)``: frames done; total None when a video declares no frame count.
ProgressFn = Callable[[int, Optional[int]], None]


class OutputExistsError(FileExistsError, ValueError):
    """The output file exists and ``overwrite`` was not given (a ValueError too: bad input, exit 2)."""


class PathsAsText:
    """A mixin for result dataclasses with ``input`` / ``output`` paths: :meth:`to_dict` gives plain values."""

    def to_dict(self) -> dict:
        """The fields as a dict for JSON (``input`` and ``output`` as strings)."""
        d = asdict(self)
        d["input"], d["output"] = str(self.input), str(self.output)
        return d


def is_image(path: Path) -> bool:
    """True when ``path``'s suffix is one of :data:`IMAGE_SUFFIXES` (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def parse_dtype(dtype: Union[str, torch.dtype]) -> torch.dtype:
    """``"fp32"`` / ``"bf16"`` / ``"fp16"`` (or their long names, or the torch dtype) as a torch dtype.

    Example:
        >>> parse_dtype("bf16"), parse_dtype(torch.float32)
        (torch.bfloat16, torch.float32)
    """
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype must be fp32, fp16 or bf16, got {dtype}")
        return dtype
    key = str(dtype).strip().lower()
    if key not in DTYPES:
        raise ValueError(f"dtype must be fp32, fp16 or bf16, got {dtype!r}")
    return DTYPES[key]


def dtype_name(dtype: torch.dtype) -> str:
    """The short name of a dtype :func:`parse_dtype` accepts: "fp32", "fp16" or "bf16"."""
    return _DTYPE_NAMES[dtype]


def resolve_device(device: Union[None, str, torch.device]) -> torch.device:
    """``device`` as a torch device (None or "": CUDA when available, else the CPU); a device that does
    not exist here is a ValueError naming it."""
    if device is None or str(device).strip() == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"not a torch device: {device!r} ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available (torch "
                             f"{torch.__version__}, CUDA build {torch.version.cuda})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    return dev


def resolve_precision(dtype: Union[str, torch.dtype],
                      device: Union[None, str, torch.device]) -> tuple[torch.dtype, torch.device]:
    """(:func:`parse_dtype`, :func:`resolve_device`); fp16 on the CPU is a ValueError (use bf16)."""
    torch_dtype = parse_dtype(dtype)
    dev = resolve_device(device)
    if torch_dtype == torch.float16 and dev.type == "cpu":
        raise ValueError("fp16 is not supported on the CPU; use --dtype bf16 (or fp32)")
    return torch_dtype, dev


def check_tiling(tile: Union[str, int, None], tile_overlap: int, min_tile: int):
    """The parsed ``tile`` (:func:`~inter4k.infer.tiling.parse_tile`); ValueError for a negative overlap
    or a tile side below ``min_tile``."""
    if tile_overlap < 0:
        raise ValueError(f"tile overlap must be >= 0, got {tile_overlap}")
    tile_spec = parse_tile(tile)
    if isinstance(tile_spec, int) and tile_spec < min_tile:
        raise ValueError(f"tile must be at least {min_tile} pixels (or 0 for no tiling, or 'auto'), got {tile_spec}")
    return tile_spec


def check_input(src: Path, wanted: str) -> None:
    """FileNotFoundError when ``src`` does not exist, IsADirectoryError (saying "give ``wanted``") when
    it is a folder."""
    if not src.exists():
        raise FileNotFoundError(f"no such file: {src}")
    if src.is_dir():
        raise IsADirectoryError(f"{src} is a folder; give {wanted}")


def check_output(src: Path, dst: Path, overwrite: bool, suffix_error: Optional[str] = None) -> None:
    """Check the output path, in this order: ``dst`` is a folder (IsADirectoryError); ``suffix_error``
    (the caller's verdict on the output's suffix, raised as a ValueError when given); ``dst`` is the
    input (ValueError); ``dst`` exists and ``overwrite`` is False (:class:`OutputExistsError`)."""
    if dst.is_dir():
        raise IsADirectoryError(f"the output {dst} is a folder; give a file name")
    if suffix_error is not None:
        raise ValueError(suffix_error)
    try:
        same = dst.exists() and os.path.samefile(src, dst)
    except OSError:
        same = False
    if same or dst.resolve() == src.resolve():
        raise ValueError(f"the output {dst} is the input; choose another output name")
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"{dst} exists; pass --overwrite (overwrite=True) to replace it")


def encode_settings(codec: str, crf: Optional[int], preset: Optional[str], pix_fmt: str,
                    options: Optional[dict]) -> EncodeSettings:
    """The :class:`~inter4k.infer.video_pipeline.EncodeSettings` of the entry points' encoder arguments."""
    return EncodeSettings(codec=codec, crf=None if crf is None else int(crf), preset=preset, pix_fmt=pix_fmt,
                          options=options)


def oom_warning(event: OOMEvent, with_batch: bool = False) -> str:
    """The warning for one out-of-memory retry (``with_batch``: also the batch before and after)."""
    failed = "the whole frame" if event.failed_tile is None else f"{event.failed_tile}px tiles"
    retried = f"{event.new_tile}px tiles" if event.new_tile else "whole frames"
    if with_batch:
        return (f"out of memory with {failed} (batch {event.batch}); retried the same frames with {retried}, "
                f"batch {event.new_batch}")
    return f"out of memory with {failed}; retried the same frames with {retried}"


class FramePairModule(torch.nn.Module):
    """A VFI model ``model(frame0, frame1, t)`` as the one-tensor module :class:`~inter4k.infer.tiling.TileRunner`
    tiles: x = (N, 6, H, W), the two frames stacked on channels; set ``t`` before each call (one t per call)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.net = model
        self.t = 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, :3], x[:, 3:6], self.t)
