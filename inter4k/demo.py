"""AdaPool + AdaUnPool on one image: ``python -m inter4k.demo [IMAGE] [--factor 2] [--json]``.

Pools the image by ``factor`` and spreads it back to full size three ways, then reports the PSNR
(RGB, data range 1) of each reconstruction against the original:

* adaPool (beta 0.5, dsc "channel") -> adaUnPool ("mean") with the pooling's own weights;
* eM only (beta 0, SoftPool weights) -> adaUnPool;
* average pooling -> nearest-neighbour upsampling (the baseline).

Without IMAGE it uses the bundled sample ``data/sample/astronaut_256.png``. This stands in for the
main job until ``inter4k upscale`` exists.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "astronaut_256.png"


def _sample_image() -> np.ndarray:
    """The bundled sample; when it is not on disk (a non-editable install), made the same way."""
    if SAMPLE.is_file():
        return load_image(SAMPLE)
    from skimage import data, transform

    small = transform.resize(data.astronaut(), (256, 256), order=3, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def load_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path} as an image")
    if bgr.dtype != np.uint8:  # 16-bit PNG/TIFF
        bgr = (bgr.astype(np.float64) / np.iinfo(bgr.dtype).max * 255.0).round().astype(np.uint8)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """PSNR in dB over all pixels and channels, computed in float64."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def run_demo(image_path: str | Path | None = None, factor: int = 2) -> dict[str, Any]:
    """Pool by ``factor`` and reconstruct three ways; returns the PSNRs and the backend used."""
    import adaunpool as au

    if not isinstance(factor, int) or factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor!r}")
    rgb = _sample_image() if image_path is None else load_image(image_path)
    h, w = rgb.shape[:2]
    if h < factor or w < factor:
        raise ValueError(f"image {w}x{h} is smaller than the pooling factor {factor}")
    h, w = h - h % factor, w - w % factor  # whole windows only; the crop is the reference
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.from_numpy(np.ascontiguousarray(rgb[:h, :w])).permute(2, 0, 1)[None].float().div(255.0).contiguous().to(device)

    timings: dict[str, float] = {}
    recon: dict[str, torch.Tensor] = {}

    def timed(name: str, fn, repeats: int = 3) -> None:
        out = fn()  # warm-up (first-call allocations, thread pool); timed: the best of `repeats`
        best = math.inf
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        timings[name] = best
        recon[name] = out.clamp(0.0, 1.0)

    def ada(beta: float):
        def fn():
            y, wts = au.adapool2d(x, factor, beta=beta, dsc="channel", return_weights=True)
            return au.adaunpool2d(y, wts, factor, mode="mean")
        return fn

    with torch.no_grad():
        # The first op call picks the backend (and builds the kernels once); keep it out of the timings.
        info = au.backend_info()
        timed("adaPool (beta 0.5) + adaUnPool", ada(0.5))
        timed("eM only (beta 0) + adaUnPool", ada(0.0))
        timed("avg_pool2d + nearest", lambda: F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="nearest"))

    return {
        "image": str(SAMPLE if image_path is None else image_path),
        "size": [w, h],
        "factor": factor,
        "device": str(device),
        "backend": info["backend"],
        "backend_reason": info.get("reason", ""),
        "psnr_db": {name: psnr(out, x) for name, out in recon.items()},
        "seconds": timings,
    }


def _render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    base = result["psnr_db"]["avg_pool2d + nearest"]
    table = Table(title=f"{Path(result['image']).name} {result['size'][0]}x{result['size'][1]}, "
                        f"pool x{result['factor']} then back to full size")
    table.add_column("reconstruction")
    table.add_column("PSNR RGB (dB)", justify="right")
    table.add_column("vs avg+nearest", justify="right")
    table.add_column("time (ms, best of 3)", justify="right")
    for name, value in result["psnr_db"].items():
        table.add_row(name, f"{value:.2f}", f"{value - base:+.2f}", f"{1000 * result['seconds'][name]:.1f}")
    console = Console()
    console.print(table)
    console.print(f"adaunpool backend: [bold]{result['backend']}[/] on {result['device']} ({result['backend_reason']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inter4k.demo", description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", help="an image file (default: the bundled sample)")
    parser.add_argument("--factor", type=int, default=2, help="pooling factor (default 2)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = run_demo(args.image, args.factor)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _render(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
