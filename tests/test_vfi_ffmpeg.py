"""``vfi-ffmpeg``: FFmpeg's minterpolate through PyAV's filter graph, as a VFI baseline.

The frame it returns is checked to be the motion-compensated one (not a copy of an input, not a blend)
on a translating pattern whose true in-between frames are known exactly, and t is checked to reach
the filter (t = 1/4 and 3/4 land near their own true frames)."""

from __future__ import annotations

import av
import av.filter
import cv2
import numpy as np
import pytest
import torch

from inter4k.models.resolver import resolve
from inter4k.metrics import psnr
from inter4k.models import VFI_BASELINES, create_model, list_models
from inter4k.models.vfi_ffmpeg import ALPHA_MAX, VFIFFmpeg, minterpolate_pair, quantised_time

pytestmark = pytest.mark.usefixtures("one_thread")

SHIFT = 8  # pixels (x) between the two inputs of the moving pattern
INNER = 24  # columns left out at each side for the interior measurement


def moving_pattern(h: int = 96, w: int = 128, seed: int = 0):
    """``frame(s)``: (1, 3, h, w) float32 crops of one smooth random texture, shifted right by s pixels
    (s an integer: the true frame at t is ``frame(t * SHIFT)`` exactly, nothing invented at borders)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random(((h + 4 * SHIFT) // 6 + 2, (w + 4 * SHIFT) // 6 + 2, 3)).astype(np.float32)
    big = np.clip(cv2.resize(coarse, (w + 4 * SHIFT, h + 4 * SHIFT), interpolation=cv2.INTER_CUBIC), 0, 1)
    big = np.round(big * 255) / 255

    def frame(s: int) -> torch.Tensor:
        crop = big[SHIFT:SHIFT + h, 2 * SHIFT - s:2 * SHIFT - s + w]  # content moves right by s
        return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]

    return frame


def test_this_pyav_build_has_minterpolate_and_the_model_is_registered_as_a_baseline():
    assert "minterpolate" in av.filter.filters_available
    assert "vfi-ffmpeg" in list_models("vfi") and "vfi-ffmpeg" in VFI_BASELINES
    net, label = resolve("vfi-ffmpeg", "vfi", warn=pytest.fail)  # no weights, no warning
    assert isinstance(net, VFIFFmpeg) and label == "vfi-ffmpeg"


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (31, 45), (40, 33), (64, 96)])
def test_shape_dtype_and_device_of_any_size(size):
    h, w = size
    model = create_model("vfi-ffmpeg")
    f0, f1 = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
    out = model(f0, f1, torch.tensor([0.5, 0.25]))
    assert out.shape == (2, 3, h, w) and out.dtype == torch.float32 and out.device == f0.device
    assert torch.isfinite(out).all()
    out64 = model(f0.double(), f1.double(), 0.5)
    assert out64.dtype == torch.float64 and out64.shape == (2, 3, h, w)


def test_exact_endpoints_per_sample_and_t_nearer_than_half_a_step_to_an_end():
    model = VFIFFmpeg()
    f0, f1 = torch.rand(3, 3, 40, 48, dtype=torch.float64), torch.rand(3, 3, 40, 48, dtype=torch.float64)
    out = model(f0, f1, torch.tensor([0.0, 1.0, 0.5]))
    assert torch.equal(out[0], f0[0]) and torch.equal(out[1], f1[1])
    assert not torch.equal(out[2], f0[2]) and not torch.equal(out[2], f1[2])
    near = model(f0, f1, torch.tensor([0.4 / ALPHA_MAX, 1 - 0.4 / ALPHA_MAX, 0.6 / ALPHA_MAX]))
    assert torch.equal(near[0], f0[0]) and torch.equal(near[1], f1[1])  # rounded to alpha 0 / 1024
    assert not torch.equal(near[2], f0[2])                                # rounded to alpha 1


def test_a_moving_pattern_gives_the_motion_compensated_frame_not_a_copy_or_a_blend():
    frame = moving_pattern()
    f0, f1, truth = frame(0), frame(SHIFT), frame(SHIFT // 2)
    out = VFIFFmpeg()(f0, f1, 0.5).clamp(0, 1)
    inner = (..., slice(None), slice(INNER, -INNER))  # the blocks at the left / right edges, where content
    for where in ((...,), inner):                      # enters and leaves, are minterpolate's weak spot
        ffmpeg = float(psnr(out[where], truth[where]))
        average = float(psnr(((f0 + f1) / 2)[where], truth[where]))
        copies = max(float(psnr(f0[where], truth[where])), float(psnr(f1[where], truth[where])))
        assert average < 25 and copies < 25  # the pattern makes both far from the true frame
        assert ffmpeg > max(average, copies) + (4 if where == (...,) else 12), where  # it follows the motion
    assert float((out - f0).abs().mean()) > 0.02 and float((out - f1).abs().mean()) > 0.02


def test_t_reaches_the_filter_a_quarter_and_three_quarters_land_on_their_own_frames():
    frame = moving_pattern(seed=1)
    f0, f1 = frame(0), frame(SHIFT)
    model = VFIFFmpeg()
    for t, own, other in ((0.25, SHIFT // 4, 3 * SHIFT // 4), (0.75, 3 * SHIFT // 4, SHIFT // 4)):
        out = model(f0, f1, t).clamp(0, 1)
        assert float(psnr(out, frame(own))) > float(psnr(out, frame(other))) + 3, t


def test_t_is_rounded_to_the_nearest_1024th():
    assert [quantised_time(t) for t in (0.5, 1 / 3, 0.25, 1 - 1e-4)] == [512, 341, 256, 1024]
    frame = moving_pattern(64, 64, seed=2)
    f0, f1 = frame(0), frame(SHIFT)
    model = VFIFFmpeg()
    third = model(f0, f1, 1 / 3)
    assert torch.equal(third, model(f0, f1, 341 / ALPHA_MAX))
    assert not torch.equal(third, model(f0, f1, 343 / ALPHA_MAX))


def test_minterpolate_pair_refuses_endpoints_and_small_frames():
    y = np.zeros((3, 32, 32), np.uint8)
    for bad in (0, ALPHA_MAX, -3):
        with pytest.raises(ValueError, match="alpha"):
            minterpolate_pair(y, y, bad)
    with pytest.raises(ValueError, match="at least 32x32"):
        minterpolate_pair(y[:, :16], y[:, :16], 512)
    assert minterpolate_pair(y, y, 512).shape == (3, 32, 32)


def test_bad_inputs_and_training_is_refused():
    model = VFIFFmpeg()
    with pytest.raises(ValueError, match="t must lie in"):
        model(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), 1.5)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), 0.5)
    from inter4k.train.distributed import DistInfo
    from inter4k.train.vfi import VFITrainConfig, VFITrainer

    with pytest.raises(ValueError, match="no trainable parameters"):
        VFITrainer(VFITrainConfig(model="vfi-ffmpeg", data="synthetic"), DistInfo(), None).build_model()
