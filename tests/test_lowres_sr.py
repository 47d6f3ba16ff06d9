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


@pytest.mark.parametrize("body", ["plain", "ds", "ds2", "ic", "supernet"])
def test_every_layer_body_starts_at_bicubic_and_trains(body):
    torch.manual_seed(0)
    m = LowResSRNet(scale=2, channels=8, blocks=2, body=body)
    x = torch.rand(1, 3, 6, 6)
    torch.testing.assert_close(m(x), bicubic_upsample(x, 2), rtol=0, atol=1e-6)
    (m(x) - 0.5).abs().mean().backward()
    assert m.out.values.weight.grad.abs().sum() > 0


def test_edo_searched_body_rebuilds_from_its_config_and_reaches_as_far_as_its_dilations():
    """The ablation's path: a supernet body is searched with EDO, and the patterns (as JSON gives them
    back: lists) build an "ic" body whose config rebuilds it and whose tiling overlap covers the dilations."""
    import json

    from inter4k.models.layers import InceptionConv2d, edo_convert

    torch.manual_seed(0)
    sup = LowResSRNet(scale=2, channels=8, blocks=2, body="supernet", body_options={"max_dilation": 3})
    assert [c.kernel_size for c in sup.body.modules() if isinstance(c, torch.nn.Conv2d)] == [(7, 7)] * 4
    assert sup.receptive_radius == 1 + 2 * 3 * 2 + 2
    for c in sup.body.modules():
        if isinstance(c, torch.nn.Conv2d):
            with torch.no_grad():                      # plant (3, 1) everywhere: only those taps non-zero
                mask = torch.zeros_like(c.weight)
                mask[..., 0::3, 2:5] = 1
                c.weight.mul_(mask)
    _, found = edo_convert(sup, [torch.rand(2, 3, 12, 12)], 3)
    patterns = json.loads(json.dumps({k.removeprefix("body."): v for k, v in found.items()}))
    assert set(patterns) == {"0.conv1", "0.conv2", "1.conv1", "1.conv2"}
    assert all(tuple(p) == (3, 1) for pairs in patterns.values() for p in pairs)
    ic = LowResSRNet(scale=2, channels=8, blocks=2, body="ic", body_options={"dilations": patterns})
    assert all(m.dilations == [(3, 1)] * 8 for m in ic.modules() if isinstance(m, InceptionConv2d))
    again = LowResSRNet(**ic.config)
    again.load_state_dict(ic.state_dict())
    assert ic.receptive_radius == 1 + 2 * 3 * 2 + 2
    with pytest.raises(ValueError, match="'chain' body takes no body_options"):
        LowResSRNet(body="chain", body_options={"max_dilation": 2})
    with pytest.raises(TypeError, match="body_options must be a dict"):
        LowResSRNet(body_options=[("max_dilation", 2)])


def test_deadzone_returns_bicubic_for_small_residuals_in_eval_mode_only():
    torch.manual_seed(0)
    m = LowResSRNet(scale=2, channels=8, blocks=1, deadzone=0.5)
    assert m.config["deadzone"] == 0.5 and LowResSRNet(**m.config).config == m.config
    assert "deadzone" not in LowResSRNet(scale=2).config          # off: old configs still compare equal
    with torch.no_grad():
        m.out.values.bias.fill_(0.3 / 255)                        # a residual of 0.3 levels everywhere
    x = torch.rand(1, 3, 6, 6)
    base = bicubic_upsample(x, 2)
    m.eval()
    torch.testing.assert_close(m(x), base, rtol=0, atol=1e-7)     # under the threshold: exactly bicubic
    with torch.no_grad():
        m.out.values.bias.fill_(-3.5 / 255)                       # 3.5 levels: moved by 0.5 toward 0
    torch.testing.assert_close(m(x) - base, torch.full_like(base, -3.0 / 255), rtol=0, atol=1e-6)
    m.train()                                                     # training never thresholds
    torch.testing.assert_close(m(x) - base, torch.full_like(base, -3.5 / 255), rtol=0, atol=1e-6)
    for bad in (-1, 255, True, "1"):
        with pytest.raises(ValueError, match="deadzone must be"):
            LowResSRNet(deadzone=bad)
