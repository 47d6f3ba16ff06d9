"""The default SR model never does visible harm where there is nothing to add: smooth gradients, flat
areas and blurred photographs come out no worse than 0.1 dB below bicubic (PSNR-Y), with no grid."""

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from inter4k.data.datasets import bicubic_lr
from inter4k.data.images import motion_blur
from inter4k.metrics import psnr
from inter4k.metrics.grid import grid_error
from inter4k.models.registry import create_model
from inter4k.models.weights import default_sr_model, load_model


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()[None] / 255.0


def _cases() -> dict[str, torch.Tensor]:
    yy, xx = np.mgrid[0:192, 0:192].astype(np.float64)
    ramp = np.stack([40 + xx, 60 + 0.5 * yy, 200 - 0.6 * xx], -1)
    wave = 128 + 60 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    chelsea = skimage.data.chelsea()[:288, :448]        # a training photograph of the corpus
    coffee = skimage.data.coffee()[:384, :576]
    return {
        "flat": _t(np.full((192, 192, 3), (90, 140, 60), np.uint8)),
        "ramp": _t(np.round(ramp).astype(np.uint8)),
        "smooth wave": _t(np.repeat(np.round(wave).astype(np.uint8)[:, :, None], 3, 2)),
        "motion-blurred photo": _t(motion_blur(chelsea, 15, 20.0)),
        "defocused photo": _t(cv2.GaussianBlur(coffee, (0, 0), 3.0)),
    }


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {s: load_model(default_sr_model(s), scale=s) for s in (2, 4)}


# Known shortfalls of the bundled weights (none since the residual's deadzone, docs/MODELS.md#do-no-harm).
# strict: a fix makes these fail until they are moved back among the passing cases.
KNOWN_SHORTFALLS: set[tuple[str, int]] = set()


def _params():
    for scale in (2, 4):
        for case in _cases():
            marks = [pytest.mark.xfail(strict=True, reason="known shortfall, issue 13")] \
                if (case, scale) in KNOWN_SHORTFALLS else []
            yield pytest.param(scale, case, marks=marks, id=f"{case}-x{scale}")


@pytest.mark.parametrize("scale,case", list(_params()))
def test_default_model_does_no_harm(models, scale, case):
    hr = _cases()[case]
    h, w = (hr.shape[-2] // scale) * scale, (hr.shape[-1] // scale) * scale
    hr = hr[..., :h, :w]
    lr = bicubic_lr(hr, scale, quantize=True)
    bicubic = create_model("bicubic", scale=scale)
    with torch.inference_mode():
        out = models[scale](lr).clamp(0, 1)
        base = bicubic(lr).clamp(0, 1)
    p_model = float(psnr(out, hr, crop_border=scale)[0])
    p_base = float(psnr(base, hr, crop_border=scale)[0])
    if p_base > 100:  # bicubic is exact (a flat image): the model must round to the same 8-bit image
        c = scale
        assert float((out - hr)[..., c:-c, c:-c].abs().max()) < 0.5 / 255, f"{case} x{scale}"
        return
    assert p_model >= p_base - 0.1, f"{case} x{scale}: model {p_model:.2f} dB, bicubic {p_base:.2f} dB"
    g_model = float(grid_error(out, hr, scale)["max"][0])
    g_base = float(grid_error(base, hr, scale)["max"][0])
    assert g_model <= g_base + 0.25, f"{case} x{scale}: grid {g_model:.2f} vs bicubic {g_base:.2f}"
