"""inter4k.metrics.psnr against scikit-image and hand-computed values."""

import math

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio

from inter4k.metrics import psnr


def test_psnr_y_matches_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.random((20, 24, 3))
    b = np.clip(a + rng.normal(0, 0.03, a.shape), 0, 1)
    ya, yb = rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0]  # MATLAB's Y, in [16, 235]
    c = 4
    want = peak_signal_noise_ratio(ya[c:-c, c:-c], yb[c:-c, c:-c], data_range=255)
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None]  # noqa: E731
    got = psnr(t(b), t(a), crop_border=c, y_channel=True).item()
    assert got == pytest.approx(want, abs=1e-9)


def test_psnr_rgb_hand_computed_and_identical():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.full((1, 3, 4, 4), 0.1)
    assert psnr(b, a, y_channel=False).item() == pytest.approx(20.0)  # 10 log10(1 / 0.01)
    assert math.isinf(psnr(a, a).item())


def test_psnr_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match="crop_border"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), crop_border=2)
