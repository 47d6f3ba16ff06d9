"""The bundled SR weights (data/weights) load and beat bicubic on a held-out photograph."""

import numpy as np
import pytest
import skimage.data
import torch

from inter4k.data.resize import imresize
from inter4k.metrics import psnr
from inter4k.models import bundled_weights, default_sr_model, load_model


def test_bundled_weights_are_listed_for_x2_and_x4():
    have = {(w["name"], w["scale"]) for w in bundled_weights()}
    assert {("sr-lr-small", 2), ("sr-lr-small", 4), ("sr-small", 2), ("sr-small", 4)} <= have
    assert default_sr_model(2) == "sr-lr-small" and default_sr_model(4) == "sr-lr-small"


@pytest.mark.parametrize("name", ["sr-lr-small", "sr-small"])
@pytest.mark.parametrize("scale", [2, 4])
def test_bundled_model_beats_bicubic_on_held_out_astronaut(name, scale, one_thread):
    # astronaut is held out by both recipes (benchmarks/train_bundled.py, data/splits/photos.json)
    img = np.asarray(skimage.data.astronaut())[96:288, 160:352]
    hr = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    lr = (imresize(hr, 1 / scale).clamp(0, 1) * 255).round() / 255
    model = load_model(name, scale=scale)
    with torch.no_grad():
        sr = model(lr).clamp(0, 1)
    gain = (psnr(sr, hr, crop_border=scale) - psnr(imresize(lr, scale), hr, crop_border=scale)).item()
    assert gain > 0.5, f"x{scale}: only {gain:+.2f} dB over bicubic"


def _panned_clip(scale: int, frames: int = 5):
    """Held-out astronaut, panned by one HR pixel a frame (a sub-pixel shift at LR): HR (T, 3, H, W) and
    its 8-bit LR."""
    img = torch.from_numpy(np.asarray(skimage.data.astronaut())).permute(2, 0, 1).float() / 255
    hr = torch.stack([img[:, 96:288, 160 + t:352 + t] for t in range(frames)])
    lr = (imresize(hr, 1 / scale).clamp(0, 1) * 255).round() / 255
    return lr, hr


@pytest.mark.parametrize("scale", [s for s in (2, 4) if any(w["name"] == "vsr-small" and w["scale"] == s
                                                             for w in bundled_weights())])
def test_bundled_video_model_beats_the_per_frame_model_on_a_held_out_pan(scale, one_thread):
    lr, hr = _panned_clip(scale)
    vsr, per_frame = load_model("vsr-small", scale=scale), load_model(default_sr_model(scale), scale=scale)
    with torch.no_grad():
        video = vsr(lr[None])[0].clamp(0, 1)
        single = per_frame(lr).clamp(0, 1)
    gain = (psnr(video, hr, crop_border=scale).mean() - psnr(single, hr, crop_border=scale).mean()).item()
    assert gain > 0.05, f"x{scale}: {gain:+.3f} dB over the per-frame model"
