"""LowResSRNet (sr-lr-small / sr-lr-large): starts at bicubic, computes at LR, output stages, the grid metric."""

import pytest
import torch
import torch.nn.functional as F

from inter4k.metrics.grid import grid_error
from inter4k.models import create_model
from inter4k.models.layers import macs_per_pixel
from inter4k.models.lowres_sr import (AdaUnPoolOutput, LowResSRNet, PixelShuffleOutput,
                                      window_size)
from inter4k.models.upsamplers import bicubic_upsample


@pytest.mark.parametrize("name", ["sr-lr-small", "sr-lr-large", "sr-lr-plain"])
@pytest.mark.parametrize("upsampler", ["adaunpool", "pixelshuffle"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_untrained_model_is_exact_bicubic(name, upsampler, scale):
    torch.manual_seed(0)
    m = create_model(name, scale=scale, upsampler=upsampler)
    x = torch.rand(2, 3, 9, 11)
    y = m(x)
    assert y.shape == (2, 3, 9 * scale, 11 * scale)
    torch.testing.assert_close(y, bicubic_upsample(x, scale), rtol=0, atol=1e-6)
    assert m.model_name == name and LowResSRNet(**m.config).config == m.config


def test_adaunpool_output_is_a_convex_blend_of_overlapping_predictions():
    torch.manual_seed(0)
    out = AdaUnPoolOutput(4, scale=2, out_channels=1)
    k = window_size(2)
    assert k == 4 and out.pad == 1
    with torch.no_grad():
        out.values.bias.fill_(0.25)          # every window predicts 0.25 everywhere
        out.logits.weight.normal_()           # with content-dependent weights
    f = torch.randn(1, 4, 6, 5)
    y = out(f)
    torch.testing.assert_close(y, torch.full_like(y, 0.25))  # a constant stays constant (normalised)
    # one value per window position: output pixel = weighted mean of the windows covering it (brute force)
    with torch.no_grad():
        out.values.weight.normal_()
    y = out(f)
    vals = out.values(f).reshape(1, 1, k, k, 6, 5)
    g = 8 * torch.tanh(out.logits(f) / 8)
    w = torch.exp(g).reshape(1, k, k, 6, 5)
    num = torch.zeros(12 + 2, 10 + 2)
    den = torch.zeros(12 + 2, 10 + 2)
    for i in range(6):
        for j in range(5):
            num[2 * i:2 * i + k, 2 * j:2 * j + k] += w[0, :, :, i, j] * vals[0, 0, :, :, i, j]
            den[2 * i:2 * i + k, 2 * j:2 * j + k] += w[0, :, :, i, j]
    ref = (num / den)[1:-1, 1:-1]
    torch.testing.assert_close(y[0, 0], ref, rtol=1e-5, atol=1e-6)


def test_pixelshuffle_output_and_odd_scale_window():
    assert window_size(3) == 9 and window_size(4) == 8
    m = PixelShuffleOutput(8, 3)
    assert m(torch.randn(1, 8, 4, 4)).shape == (1, 3, 12, 12)
    assert AdaUnPoolOutput(8, 3)(torch.randn(1, 8, 4, 5)).shape == (1, 3, 12, 15)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    m = create_model("sr-lr-small", scale=4)
    for p in m.parameters():  # leave the zero start, else the output stage blocks the body's gradient
        torch.nn.init.normal_(p, std=0.05)
    x = torch.rand(1, 3, 8, 8)
    (m(x) - bicubic_upsample(x, 4) - 0.1).abs().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_nearly_all_compute_is_on_the_lr_grid():
    m = create_model("sr-lr-small", scale=4)
    macs = macs_per_pixel(m, 3)  # per LR input pixel
    # every conv runs on the LR grid: the count per LR pixel does not depend on the scale's HR size
    assert macs == pytest.approx(sum(p.numel() for n, p in m.named_parameters() if n.endswith("weight")), rel=0.01)
    large = create_model("sr-lr-large", scale=4)
    assert macs_per_pixel(large, 3) > 3 * macs


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown upsampler 'nope'"):
        LowResSRNet(upsampler="nope")
    with pytest.raises(ValueError, match="scale must be an int >= 2"):
        LowResSRNet(scale=1)
    with pytest.raises(ValueError, match=r"expected \(N, 3, H, W\)"):
        LowResSRNet()(torch.rand(1, 1, 4, 4))


# --- the grid metric --------------------------------------------------------------------------------

def test_grid_error_finds_a_periodic_pattern_and_ignores_noise():
    ref = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    dots = ref.clone()
    dots[..., 64:, 64:][..., ::4, ::4] += 0.08  # a dot grid in one quarter only
    g = grid_error(dots, ref, 4)
    assert g["max"][0] > 3.0                      # the worst tile shows it
    assert g["mean"][0] < g["max"][0] / 3        # 1 of 4 tiles
    noise = (ref + 0.02 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert grid_error(noise, ref, 4)["max"][0] < 0.6  # random error averages out of the phase means
    shifted = ref + 0.05                           # a flat offset is no grid
    assert grid_error(shifted.clamp(0, 1), ref, 4)["max"][0] < 1e-5


def test_grid_error_of_bicubic_and_pixel_shuffle_with_phase_bias():
    hr = F.interpolate(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)), size=(128, 128),
                       mode="bilinear", align_corners=False)
    lr = F.avg_pool2d(hr, 4)
    up = bicubic_upsample(lr, 4).clamp(0, 1)
    biased = up.clone()
    biased[..., 1::4, 2::4] += 0.03              # one sub-pixel phase off: what an independent phase does
    assert grid_error(biased, hr, 4)["max"][0] > grid_error(up, hr, 4)["max"][0] + 1.0


def test_grid_error_checks_its_arguments():
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ValueError, match="period must be an int >= 2"):
        grid_error(x, x, 1)
    with pytest.raises(ValueError, match="holds no 64x64 tile"):
        grid_error(x, x, 4)


def test_plain_baseline_is_the_chain_it_claims():
    m = create_model("sr-lr-plain", scale=4)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    assert len(convs) == 10 and m.fuse is None             # head, eight body convs, the output conv
    assert sum(p.numel() for p in m.parameters()) == 188_832
    with pytest.raises(ValueError, match="unknown body"):
        LowResSRNet(body="dense")


@pytest.mark.parametrize("body", ["plain", "ds", "ds2", "ic"])
def test_every_layer_body_starts_at_bicubic_and_trains(body):
    torch.manual_seed(0)
    m = LowResSRNet(scale=2, channels=8, blocks=2, body=body)
    x = torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(m(x), bicubic_upsample(x, 2), rtol=0, atol=1e-6)
    (m(x) - 0.5).abs().mean().backward()
    assert m.out.values.weight.grad.abs().sum() > 0
