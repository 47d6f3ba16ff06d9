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
