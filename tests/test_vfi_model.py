"""The VFI models (inter4k.models.vfi): shapes, exact endpoints, the untrained start, warping, gradients,
the bilinear ablation, errors, bf16, MAC counting, save/load, the refinement body (the failure guard:
test_vfi_guard.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from inter4k.models import create_model, list_models
from inter4k.models.layers import BODIES
from inter4k.models.vfi import (VFISmall, backward_warp, count_macs, guided_upsample, pool_with_weights)
from inter4k.models.weights import load_model, save_model

pytestmark = pytest.mark.usefixtures("one_thread")


def perturbed(model: VFISmall, scale: float = 0.05) -> VFISmall:
    """The zero-initialised layers set to small random values, so flows, mask and residual are non-zero."""
    with torch.no_grad():
        for conv in (model.flownet.head, model.refinenet.head, model.res2):
            if conv is None:   # no full-resolution residual (refine_channels=0)
                continue
            conv.weight.normal_(0, scale)
            conv.bias.normal_(0, scale)
    return model


def pair(n=2, h=24, w=32):
    return torch.rand(n, 3, h, w), torch.rand(n, 3, h, w)


def test_registered_under_the_vfi_task():
    assert {"vfi-small", "vfi-average", "vfi-nearest"} <= set(list_models("vfi"))
    assert not {"vfi-small", "vfi-average", "vfi-nearest"} & set(list_models("sr"))
    assert create_model("vfi-small").model_name == "vfi-small"
    assert create_model("vfi-small", upsampler="bilinear").config["upsampler"] == "bilinear"


@pytest.mark.parametrize("upsampler", ["adaunpool", "bilinear"])
@pytest.mark.parametrize("size", [(24, 32), (17, 23), (5, 7), (1, 1), (30, 45)])
def test_output_shape_and_dtype_for_any_size(upsampler, size):
    m = perturbed(VFISmall(channels=8, upsampler=upsampler))
    f0, f1 = pair(2, *size)
    y = m(f0, f1, 0.3)
    assert y.shape == f0.shape and y.dtype == torch.float32 and torch.isfinite(y).all()
    y = m(f0.double(), f1.double(), torch.tensor([0.2, 0.7]))
    assert y.shape == f0.shape and y.dtype == torch.float64


@pytest.mark.parametrize("name", ["vfi-small", "vfi-average", "vfi-nearest"])
def test_t0_and_t1_return_the_input_frames_exactly(name):
    m = create_model(name)
    if isinstance(m, VFISmall):
        perturbed(m, 0.2)  # large flows: the warps alone would not give the frames back bit-exactly
    f0, f1 = pair(3, 20, 28)
    assert torch.equal(m(f0, f1, 0.0), f0)
    assert torch.equal(m(f0, f1, 1.0), f1)
    y = m(f0, f1, torch.tensor([0.0, 0.5, 1.0]))   # per sample
    assert torch.equal(y[0], f0[0]) and torch.equal(y[2], f1[2])
    if name != "vfi-nearest":  # (nearest gives frame1 at t = 0.5 by design)
        assert not torch.equal(y[1], f0[1]) and not torch.equal(y[1], f1[1])


@pytest.mark.parametrize("upsampler", ["adaunpool", "bilinear"])
def test_an_untrained_model_is_frame_averaging(upsampler):
    m = VFISmall(upsampler=upsampler)
    f0, f1 = pair(2, 26, 34)
    for t in (0.25, 0.5, 0.875):
        expected = (1 - t) * f0 + t * f1   # computed here, not by the model's code
        assert torch.allclose(m(f0, f1, t), expected, atol=1e-5)
    assert torch.allclose(create_model("vfi-average")(f0, f1, 0.25), 0.75 * f0 + 0.25 * f1, atol=1e-7)
    assert torch.equal(create_model("vfi-nearest")(f0, f1, 0.49), f0)
    assert torch.equal(create_model("vfi-nearest")(f0, f1, 0.5), f1)


def test_zero_motion_gives_back_the_frame():
    m = VFISmall()
    f = torch.rand(2, 3, 22, 30)
    for t in (0.1, 0.5, 0.9):
        assert torch.allclose(m(f, f.clone(), t), f, atol=1e-5)


def test_backward_warp_recovers_a_translated_image():
    rng = np.random.default_rng(0)
    img = rng.random((1, 3, 20, 30)).astype(np.float32)
    dx, dy = 3, -2
    # the content moved by (dx, dy): moved(y, x) = img(y - dy, x - dx)
    moved = np.roll(img, shift=(dy, dx), axis=(2, 3))
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0], flow[:, 1] = dx, dy
    back = backward_warp(torch.from_numpy(moved), flow).numpy()
    # out(y, x) = moved(y + dy, x + dx) = img(y, x) wherever (y + dy, x + dx) is inside the image and not
    # one of the rows / columns np.roll wrapped around: y in 2..19, x in 0..26
    assert np.allclose(back[..., 2:20, 0:27], img[..., 2:20, 0:27], atol=1e-6)
    assert not np.allclose(back[..., 0:2, :], img[..., 0:2, :], atol=1e-3)  # border rows: clamped, not img


def test_backward_warp_matches_scipy_bilinear_with_border_clamping():
    rng = np.random.default_rng(1)
    h, w = 13, 17
    img = rng.random((2, h, w)).astype(np.float64)
    flow = rng.normal(0, 4, (2, h, w))   # reaches outside the image: border padding
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = [np.clip(ys + flow[1], 0, h - 1), np.clip(xs + flow[0], 0, w - 1)]
    expected = np.stack([ndimage.map_coordinates(img[c], coords, order=1, mode="nearest") for c in range(2)])
    got = backward_warp(torch.from_numpy(img)[None], torch.from_numpy(flow)[None])[0].numpy()
    assert np.allclose(got, expected, atol=1e-10)
    got32 = backward_warp(torch.from_numpy(img).float()[None], torch.from_numpy(flow).float()[None])[0].numpy()
    assert np.allclose(got32, expected, atol=1e-5)


def test_guided_upsample_keeps_constants_and_with_uniform_weights_averages_the_two_nearest_cells():
    x = torch.rand(1, 3, 16, 12)
    _, w = pool_with_weights(x, 0.5)
    u = guided_upsample(torch.full((1, 2, 8, 6), -2.5), w.mean(1, keepdim=True))
    assert u.shape == (1, 2, 16, 12) and torch.allclose(u, torch.full_like(u, -2.5), atol=1e-6)
    # uniform weights: pixel j of an axis takes cells (j // 2 - 1, j // 2) for even j and (j // 2, j // 2 + 1)
    # for odd j (clamped at the borders, where the padded window's cell is the edge cell), half each
    y = torch.rand(1, 1, 4, 5, dtype=torch.float64)
    uni = torch.full((1, 1, 4, 5, 16), 1 / 16, dtype=torch.float64)
    got = guided_upsample(y, uni)
    yn = y[0, 0].numpy()

    def cells(j, n):
        a, b = (j // 2 - 1, j // 2) if j % 2 == 0 else (j // 2, j // 2 + 1)
        return [c for c in (a, b) if 0 <= c < n]

    exp = np.zeros((8, 10))
    for i in range(8):
        for j in range(10):
            exp[i, j] = np.mean([yn[a, b] for a in cells(i, 4) for b in cells(j, 5)])
    assert np.allclose(got[0, 0].numpy(), exp, atol=1e-6)


@pytest.mark.parametrize("upsampler,refine_channels", [("adaunpool", 0), ("bilinear", 0), ("adaunpool", 8)])
def test_gradients_reach_every_parameter(upsampler, refine_channels):
    m = VFISmall(channels=8, upsampler=upsampler, refine_channels=refine_channels)
    f0, f1 = pair(2, 16, 20)
    target = torch.rand(2, 3, 16, 20)
    # from the zero init the heads learn at once
    F.mse_loss(m(f0, f1, 0.5), target).backward()
    for conv in (m.flownet.head, m.refinenet.head) + ((m.res2,) if refine_channels else ()):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    # and once they are non-zero, everything upstream (including the pooling betas) gets a gradient
    m.zero_grad()
    perturbed(m)
    F.mse_loss(m(f0, f1, torch.tensor([0.3, 0.6])), target).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_the_bilinear_ablation_differs_only_in_the_upsampler():
    a = perturbed(VFISmall(upsampler="adaunpool"))
    b = VFISmall(upsampler="bilinear")
    b.load_state_dict(a.state_dict())   # same parameters: the architectures differ only in the upsampler
    f0, f1 = pair(1, 24, 32)
    ya, yb = a(f0, f1, 0.5), b(f0, f1, 0.5)
    assert torch.isfinite(yb).all() and not torch.allclose(ya, yb, atol=1e-4)


def test_bad_names_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'vfi-huge'"):
        create_model("vfi-huge")
    with pytest.raises(ValueError, match="unknown upsampler 'pixelshuffle'"):
        VFISmall(upsampler="pixelshuffle")
    with pytest.raises(ValueError, match="channels"):
        VFISmall(channels=0)
    m = VFISmall(channels=4)
    f0, f1 = pair(2, 8, 8)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        m(f0, f1, 1.5)
    with pytest.raises(ValueError, match="1 or N=2 values"):
        m(f0, f1, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="differ in shape"):
        m(f0, f1[:, :, :4], 0.5)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        m(f0[:, :2], f1[:, :2], 0.5)
    with pytest.raises(TypeError, match="floating-point"):
        m((f0 * 255).to(torch.uint8), (f1 * 255).to(torch.uint8), 0.5)


def test_bf16_forward_on_the_cpu():
    m = perturbed(VFISmall(channels=8))
    f0, f1 = pair(1, 20, 28)
    ref = m(f0, f1, 0.5)
    mb = m.to(torch.bfloat16)
    y = mb(f0.bfloat16(), f1.bfloat16(), 0.5)
    assert y.dtype == torch.bfloat16 and y.shape == f0.shape and torch.isfinite(y.float()).all()
    assert (y.float() - ref).abs().max() < 0.05
    assert torch.equal(mb(f0.bfloat16(), f1.bfloat16(), 0.0), f0.bfloat16())


def macs_that_run(m: nn.Module, h: int, w: int) -> int:
    """The multiply-adds of the Conv2d layers that one forward on a (1, 3, h, w) pair runs (forward hooks)."""
    seen = [0]

    def hook(mod, inp, out):
        seen[0] += out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]

    handles = [c.register_forward_hook(hook) for c in m.modules() if isinstance(c, nn.Conv2d)]
    with torch.no_grad():
        m(*pair(1, h, w), 0.5)
    for hd in handles:
        hd.remove()
    return seen[0]


@pytest.mark.parametrize("refine_channels", [0, 8])
def test_count_macs_matches_the_convolutions_that_actually_run(refine_channels):
    m = VFISmall(channels=8, refine_channels=refine_channels)
    h, w = 37, 50
    counted = count_macs(m, h, w)
    assert counted["conv_macs"] == macs_that_run(m, h, w)
    assert counted["params"] == sum(p.numel() for p in m.parameters())
    assert count_macs(create_model("vfi-average"), h, w) == {"conv_macs": 0, "params": 0}


def test_save_and_load_round_trip(tmp_path):
    m = perturbed(create_model("vfi-small", upsampler="bilinear", channels=8))
    path = save_model(m, tmp_path / "vfi.pt")
    back = load_model(path)
    assert isinstance(back, VFISmall) and back.model_name == "vfi-small" and back.config == m.config
    f0, f1 = pair(1, 16, 16)
    assert torch.equal(back(f0, f1, 0.4), m.eval()(f0, f1, 0.4))


# --- return_flows ------------------------------------------------------------------------------------

@pytest.mark.parametrize("upsampler", ["adaunpool", "bilinear"])
def test_return_flows_untrained_is_zero_and_the_frame_is_unchanged(upsampler):
    f0, f1 = pair(2, 26, 34)
    m = VFISmall(upsampler=upsampler)
    out, flows = m(f0, f1, 0.5, return_flows=True)
    assert flows.shape == (2, 4, 26, 34) and flows.dtype == torch.float32
    assert torch.equal(flows, torch.zeros_like(flows))
    assert torch.equal(out, m(f0, f1, 0.5))
    p = perturbed(VFISmall(upsampler=upsampler))
    t = torch.tensor([0.25, 0.75])
    out, flows = p(f0, f1, t, return_flows=True)
    assert torch.equal(out, p(f0, f1, t)) and flows.abs().max() > 1e-3
    # F_t->0 = t * f0 and F_t->1 = (1 - t) * f1: zero at t = 0 and at t = 1 respectively
    _, at0 = p(f0, f1, 0.0, return_flows=True)
    _, at1 = p(f0, f1, 1.0, return_flows=True)
    assert torch.equal(at0[:, 0:2], torch.zeros_like(at0[:, 0:2])) and at0[:, 2:4].abs().max() > 1e-3
    assert torch.equal(at1[:, 2:4], torch.zeros_like(at1[:, 2:4])) and at1[:, 0:2].abs().max() > 1e-3


def test_returned_flows_are_the_ones_the_frames_were_warped_with():
    f0, f1 = pair(2, 24, 32)
    t = torch.tensor([0.3, 0.6])
    m = perturbed(VFISmall())
    with torch.no_grad():  # no residual (the default), a blend logit of +-100: the output is one warped input alone
        for head in (m.flownet.head, m.refinenet.head):
            head.weight[4].zero_(), head.bias[4].zero_()
    for logit, frame, channels in ((100.0, f0, slice(0, 2)), (-100.0, f1, slice(2, 4))):
        with torch.no_grad():
            m.flownet.head.bias[4] = logit
        out, flows = m(f0, f1, t, return_flows=True)
        assert flows[:, channels].abs().max() > 0.05
        assert torch.allclose(out, backward_warp(frame, flows[:, channels]), atol=1e-5)


def test_returned_flows_are_cropped_like_the_output():
    m = perturbed(VFISmall())
    f0, f1 = pair(1, 21, 30)  # padded to 24 x 32 inside
    out, flows = m(f0, f1, 0.4, return_flows=True)
    assert out.shape == (1, 3, 21, 30) and flows.shape == (1, 4, 21, 30)
    # the model pads by replicate itself: the same inputs padded by hand give the uncropped flows
    big0, big1 = (F.pad(f, (0, 2, 0, 3), mode="replicate") for f in (f0, f1))
    _, full = m(big0, big1, 0.4, return_flows=True)
    assert torch.allclose(flows, full[:, :, :21, :30], atol=1e-6)


# --- body (the blocks of the refinement pass) ----------------------------------------------------------

@pytest.mark.parametrize("body", sorted(BODIES))
def test_every_body_builds_runs_and_round_trips(tmp_path, body):
    m = perturbed(create_model("vfi-small", channels=8, body=body))
    assert m.config["body"] == body and m.config["body_blocks"] == (0 if body == "plain" else 2)
    if body != "plain":
        assert any(k.startswith("refinenet.body.") for k in m.state_dict())
    f0, f1 = pair(2, 20, 28)
    out = m(f0, f1, torch.tensor([0.25, 0.5]))
    assert out.shape == (2, 3, 20, 28) and torch.isfinite(out).all()
    out.abs().mean().backward()
    assert all(p.grad is not None for p in m.refinenet.body.parameters())
    with torch.no_grad():  # the body's weights away from their initial values, so loading them is tested
        for p in m.refinenet.body.parameters():
            p.add_(0.01)
    back = load_model(save_model(m, tmp_path / f"vfi-{body}.pt"))
    assert back.config == m.config
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), m.state_dict().values()))
    assert torch.equal(back(f0, f1, 0.4), m.eval()(f0, f1, 0.4))


def test_the_default_body_keeps_the_bundled_architecture():
    keys = set(VFISmall().state_dict())
    assert not any(".body." in k for k in keys)
    assert keys == set(VFISmall(body="plain", body_blocks=0).state_dict())
    assert {"refinenet.conv1.weight", "refinenet.conv2.weight", "refinenet.head.weight"} <= keys
    two = set(VFISmall(body="plain", body_blocks=2).state_dict())
    assert two - keys == {f"refinenet.body.{i}.conv{j}.{p}" for i in (0, 1) for j in (1, 2) for p in ("weight", "bias")}


def test_count_macs_counts_the_body():
    m = VFISmall(channels=8, body="plain", body_blocks=2)
    h, w = 37, 50
    assert count_macs(m, h, w)["conv_macs"] == macs_that_run(m, h, w) > count_macs(VFISmall(channels=8), h, w)["conv_macs"]


def test_bad_body_options_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown body 'resnet'"):
        VFISmall(body="resnet")
    with pytest.raises(ValueError, match="body_blocks"):
        VFISmall(body="ds", body_blocks=-1)


def test_the_full_resolution_residual_is_optional_and_added_to_the_blend():
    torch.manual_seed(0)
    with_res = perturbed(VFISmall(channels=8, refine_channels=8))
    bare = VFISmall(channels=8)                           # refine_channels=0, the default
    assert bare.res1 is None and bare.res2 is None and bare.config["refine_channels"] == 0
    shared = {k: v for k, v in with_res.state_dict().items() if not k.startswith(("res1.", "res2."))}
    bare.load_state_dict(shared)                          # the same keys otherwise
    f0, f1 = pair(2, 24, 32)
    t = torch.tensor([0.3, 0.6])
    with torch.no_grad():
        a, b = with_res(f0, f1, t), bare(f0, f1, t)
        assert (a - b).abs().max() > 1e-3                 # the perturbed residual adds something
        with_res.res2.weight.zero_(), with_res.res2.bias.zero_()
        assert torch.allclose(with_res(f0, f1, t), bare(f0, f1, t), atol=1e-6)
    with pytest.raises(ValueError, match="refine_channels"):
        VFISmall(refine_channels=-1)
