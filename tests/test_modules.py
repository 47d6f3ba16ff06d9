"""nn.Modules, AdaUnPoolUpsample and replace_pooling (on top of the functional ops)."""

from __future__ import annotations

import io
import math
import warnings

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import adaunpool as au
import adaunpool.functional as F

DIMS = (1, 2, 3)
SPATIAL = {1: (9,), 2: (7, 9), 3: (5, 6, 7)}
ADAPOOL = {1: au.AdaPool1d, 2: au.AdaPool2d, 3: au.AdaPool3d}
EDSCW = {1: au.EDSCWPool1d, 2: au.EDSCWPool2d, 3: au.EDSCWPool3d}
EM = {1: au.EMPool1d, 2: au.EMPool2d, 3: au.EMPool3d}
UNPOOL = {1: au.AdaUnPool1d, 2: au.AdaUnPool2d, 3: au.AdaUnPool3d}
F_ADAPOOL = {1: F.adapool1d, 2: F.adapool2d, 3: F.adapool3d}
F_EDSCW = {1: F.edscwpool1d, 2: F.edscwpool2d, 3: F.edscwpool3d}
F_EM = {1: F.empool1d, 2: F.empool2d, 3: F.empool3d}
F_UNPOOL = {1: F.adaunpool1d, 2: F.adaunpool2d, 3: F.adaunpool3d}
MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}

EXACT = dict(rtol=0, atol=0)


def _x(dims, n=2, c=3, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, c) + SPATIAL[dims], generator=gen, dtype=dtype)


def _out(dims, k, s):
    return tuple((v - k) // s + 1 for v in SPATIAL[dims])


def _randomise(module, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 2)
    return module


def _beta_specs(dims, c, k, s):
    return {"scalar": dict(beta="scalar"), "channel": dict(beta="channel", channels=c),
            "location": dict(beta=_out(dims, k, s))}


# ------------------------------------------------------------------------------------------ shapes

@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("k,s", [(2, None), (3, 2), (2, 1)])
def test_shapes(dims, k, s):
    x = _x(dims, dtype=torch.float32)
    out = (2, 3) + _out(dims, k, k if s is None else s)
    for cls in (ADAPOOL[dims], EDSCW[dims], EM[dims]):
        assert cls(k, s)(x).shape == out
    y, w = ADAPOOL[dims](k, s, return_weights=True)(x)
    assert y.shape == out and w.shape == out + (k ** dims,)
    torch.testing.assert_close(w.sum(-1), torch.ones(out))
    u = UNPOOL[dims](k, s)(y, w, output_size=x.shape[2:])
    assert u.shape == x.shape


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("spec", ["scalar", "channel", "location"])
def test_beta_shapes(dims, spec):
    m = ADAPOOL[dims](2, **_beta_specs(dims, 3, 2, 2)[spec])
    expected = {"scalar": (), "channel": (1, 3) + (1,) * dims, "location": (1, 1) + _out(dims, 2, 2)}[spec]
    assert m.beta_logit.shape == expected
    assert m.beta.shape == expected
    torch.testing.assert_close(m.beta, torch.full(expected, 0.5))
    assert ADAPOOL[dims](2, beta_init=0.2).beta.item() == pytest.approx(0.2, abs=1e-6)


# ------------------------------------------------------------------------------ module == functional

@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("spec", ["scalar", "channel", "location"])
@pytest.mark.parametrize("dsc", ["channel", "element"])
def test_adapool_module_matches_functional(dims, spec, dsc):
    k, s = 3, 2
    x = _x(dims)
    m = _randomise(ADAPOOL[dims](k, s, dsc=dsc, return_weights=True, **_beta_specs(dims, 3, k, s)[spec]).double())
    beta = torch.sigmoid(m.beta_logit.detach())
    assert not torch.allclose(beta, torch.full_like(beta, 0.5))  # the test would not notice a fixed beta
    y, w = m(x)
    y_ref, w_ref = F_ADAPOOL[dims](x, k, s, beta=beta, dsc=dsc, return_weights=True)
    torch.testing.assert_close(y, y_ref, **EXACT)
    torch.testing.assert_close(w, w_ref, **EXACT)


@pytest.mark.parametrize("dims", DIMS)
def test_adapool_module_float_beta(dims):
    x = _x(dims)
    m = ADAPOOL[dims](2, beta_init=0.3, dsc="element").double()
    torch.testing.assert_close(m(x), F_ADAPOOL[dims](x, 2, beta=0.3, dsc="element"))


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("k,s", [(2, None), (3, 2)])
def test_parameter_free_modules_match_functional(dims, k, s):
    x = _x(dims)
    for dsc in ("channel", "element"):
        torch.testing.assert_close(EDSCW[dims](k, s, dsc=dsc)(x), F_EDSCW[dims](x, k, s, dsc=dsc), **EXACT)
    torch.testing.assert_close(EM[dims](k, s)(x), F_EM[dims](x, k, s), **EXACT)
    y, w = F_ADAPOOL[dims](x, k, s, beta=0.4, return_weights=True)
    for mode in ("mean", "sum"):
        for ww in (w, w.mean(1, keepdim=True)):  # C channels, or one shared
            got = UNPOOL[dims](k, s, mode=mode)(y, ww, output_size=x.shape[2:])
            torch.testing.assert_close(got, F_UNPOOL[dims](y, ww, k, s, mode=mode, output_size=x.shape[2:]),
                                       **EXACT)


def test_adaunpool2d_module_round_trip():
    x = _x(2, c=4)
    y, w = au.AdaPool2d(2, return_weights=True).double()(x)
    u = au.AdaUnPool2d(2)(y, w)
    torch.testing.assert_close(u, au.adaunpool2d(y, w, 2), **EXACT)
    torch.testing.assert_close(TF.avg_pool2d(u, 2), y)  # "mean" keeps the pooled values
    assert u.shape == (2, 4, 6, 8)
    assert au.AdaUnPool2d(2)(y, w, output_size=(7, 9)).shape == (2, 4, 7, 9)


# ---------------------------------------------------------------------------------------- beta

@pytest.mark.parametrize("spec", ["scalar", "channel", "location"])
def test_beta_stays_in_unit_interval(spec):
    x = _x(2, dtype=torch.float32)
    for sign in (1.0, -1.0):  # push beta down, then (a fresh module) up
        m = au.AdaPool2d(2, **_beta_specs(2, 3, 2, 2)[spec])
        opt = torch.optim.SGD(m.parameters(), lr=1e6)
        for _ in range(3):
            opt.zero_grad()
            (sign * (m(x) - F.empool2d(x, 2)).sum() + sign * 1e3 * m.beta.sum()).backward()
            opt.step()
            b = m.beta
            assert torch.isfinite(m.beta_logit).all()
            assert (b >= 0).all() and (b <= 1).all()
            assert torch.isfinite(m(x)).all()
        # the steps were large enough to push beta to the bound they aim at
        assert (b < 1e-3).all() if sign > 0 else (b > 1 - 1e-3).all()


@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("spec", ["scalar", "channel", "location"])
def test_gradient_reaches_beta_logit(dims, spec):
    x = _x(dims)
    m = _randomise(ADAPOOL[dims](2, **_beta_specs(dims, 3, 2, 2)[spec]).double())
    gen = torch.Generator().manual_seed(5)
    g_out = torch.randn((2, 3) + _out(dims, 2, 2), generator=gen, dtype=torch.float64)
    (m(x) * g_out).sum().backward()
    grad = m.beta_logit.grad
    assert grad is not None and grad.shape == m.beta_logit.shape
    assert (grad != 0).all()
    # chain rule by hand: dL/dlogit = (dL/dbeta summed over broadcast dims) * beta * (1 - beta)
    b = torch.sigmoid(m.beta_logit.detach()).requires_grad_()
    (F_ADAPOOL[dims](x, 2, beta=b) * g_out).sum().backward()
    torch.testing.assert_close(grad, b.grad * b.detach() * (1 - b.detach()))


def test_per_location_beta_size_mismatch():
    m = au.AdaPool2d(2, beta=(3, 4))
    assert m(torch.randn(1, 2, 6, 8)).shape == (1, 2, 3, 4)
    with pytest.raises(ValueError, match=r"output location.*\(3, 4\).*\(5, 5\)"):
        m(torch.randn(1, 2, 10, 10))
    with pytest.raises(ValueError, match="output location"):
        au.AdaPool1d(3, stride=1, beta=(5,))(torch.randn(1, 2, 8))


def test_constructor_errors():
    with pytest.raises(ValueError, match="channels"):
        au.AdaPool2d(2, beta="channel")
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="beta_init"):
            au.AdaPool2d(2, beta_init=bad)
    for bad in ("location", (4,), (4, 4, 4), (0, 4), 4.0):
        with pytest.raises(ValueError, match="beta"):
            au.AdaPool2d(2, beta=bad)
    with pytest.raises(ValueError, match="dsc"):
        au.AdaPool2d(2, dsc="vector")
    with pytest.raises(ValueError, match="dsc"):
        au.EDSCWPool2d(2, dsc="vector")
    with pytest.raises(ValueError, match="mode"):
        au.AdaUnPool2d(2, mode="max")
    with pytest.raises(ValueError, match="kernel_size"):
        au.AdaPool2d(0)
    with pytest.raises(ValueError, match="stride"):
        au.EMPool3d(2, stride=(1, 0, 1))


def test_channel_count_checked():
    m = au.AdaPool2d(2, beta="channel", channels=3)
    with pytest.raises(ValueError, match="3 channels"):
        m(torch.randn(1, 4, 4, 4))


def test_repr():
    r = repr(au.AdaPool2d((2, 3), stride=1, beta="channel", channels=8, dsc="element"))
    assert "kernel_size=(2, 3)" in r and "stride=1" in r and "beta='channel'" in r and "channels=8" in r
    assert "dsc='element'" in r
    assert "mode='sum'" in repr(au.AdaUnPool3d(2, mode="sum"))


@pytest.mark.parametrize("spec", ["scalar", "channel", "location"])
def test_adapool_state_dict_round_trip(spec):
    kwargs = _beta_specs(2, 3, 2, 2)[spec]
    m = _randomise(au.AdaPool2d(2, **kwargs))
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    fresh = au.AdaPool2d(2, **kwargs)
    x = _x(2, dtype=torch.float32)
    assert not torch.equal(fresh(x), m(x))
    fresh.load_state_dict(torch.load(buf))
    torch.testing.assert_close(fresh(x), m(x), **EXACT)


def test_lazy_adapool():
    m = au.LazyAdaPool2d(2, beta_init=0.25)
    y = m(torch.randn(1, 5, 4, 4))
    assert y.shape == (1, 5, 2, 2) and type(m) is au.AdaPool2d and m.channels == 5
    assert m.beta_logit.shape == (1, 5, 1, 1)
    torch.testing.assert_close(m.beta, torch.full((1, 5, 1, 1), 0.25))
    with pytest.raises(ValueError, match="5 channels"):
        m(torch.randn(1, 6, 4, 4))
    lazy = au.LazyAdaPool2d(2)  # loading a state dict materialises it too
    lazy.load_state_dict(_randomise(m).state_dict())
    torch.testing.assert_close(lazy(torch.ones(1, 5, 4, 4)), m(torch.ones(1, 5, 4, 4)), **EXACT)
    assert type(lazy) is au.AdaPool2d and lazy.channels == 5


# ---------------------------------------------------------------------------------------- upsample

@pytest.mark.parametrize("scale", [2, 3, 4, 5])
def test_upsample_shapes_and_backward(scale):
    torch.manual_seed(0)
    up = au.AdaUnPoolUpsample(6, scale)
    x = torch.randn(2, 6, 5, 7, requires_grad=True)
    u = up(x)
    assert u.shape == (2, 6, 5 * scale, 7 * scale)
    w = up.weights(x)
    assert w.shape == (2, 1, 5, 7, scale * scale)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 1, 5, 7))
    _, w_guide = up.pool(up.guide(x))  # the mean of the g guide channels' weights
    assert w_guide.shape == (2, 4, 5, 7, scale * scale)
    torch.testing.assert_close(w, w_guide.mean(1, keepdim=True), **EXACT)
    (u * torch.randn_like(u)).sum().backward()
    names = [n for n, _ in up.named_parameters()]
    assert set(names) == {"guide.0.weight", "guide.0.bias", "pool.beta_logit", "refine.weight", "refine.bias"}
    for name, p in up.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_upsample_init_is_close_to_nearest():
    torch.manual_seed(0)
    for scale in (2, 4):
        up = au.AdaUnPoolUpsample(16, scale)
        x = torch.randn(2, 16, 6, 6)
        nearest = TF.interpolate(x, scale_factor=scale, mode="nearest")
        w = up.weights(x)
        assert (w - 1 / scale ** 2).abs().max() < 0.2 / scale ** 2  # near uniform
        assert (w.std(-1) > 0).all()                                # but not exactly: symmetry is broken
        assert (up(x) - nearest).norm() / nearest.norm() < 0.05


def test_upsample_mean_mode_keeps_lr_values():
    torch.manual_seed(0)
    up = _randomise(au.AdaUnPoolUpsample(4, 3, refine=False).double())
    x = torch.randn(1, 4, 5, 5, dtype=torch.float64)
    u = up(x)
    assert not torch.allclose(u, TF.interpolate(x, scale_factor=3, mode="nearest"))
    torch.testing.assert_close(TF.avg_pool2d(u, 3), x)


def test_upsample_arguments():
    for bad in (1, 0, 2.5, True, "2"):
        with pytest.raises(ValueError, match="scale"):
            au.AdaUnPoolUpsample(8, bad)
    with pytest.raises(ValueError, match="channels"):
        au.AdaUnPoolUpsample(0, 2)
    with pytest.raises(ValueError, match="guide_channels"):
        au.AdaUnPoolUpsample(8, 2, guide_channels=0)
    with pytest.raises(ValueError, match="beta_init"):
        au.AdaUnPoolUpsample(8, 2, beta_init=1.0)
    with pytest.raises(ValueError, match=r"\(N, 8, H, W\)"):
        au.AdaUnPoolUpsample(8, 2)(torch.randn(1, 4, 5, 5))
    up = au.AdaUnPoolUpsample(8, 2, guide_channels=2, beta_init=0.8, dsc="element", refine=False)
    assert up.refine is None and up.pool.dsc == "element"
    assert up.beta.item() == pytest.approx(0.8, abs=1e-6)
    assert up.guide[0].out_channels == 2 * 4


def test_upsample_parameter_count():
    c, s, g = 64, 4, 4
    n = sum(p.numel() for p in au.AdaUnPoolUpsample(c, s).parameters())
    assert n == (9 * c * g * s * s + g * s * s) + 1 + (9 * c * c + c) == 73857
    assert sum(p.numel() for p in au.AdaUnPoolUpsample(c, s, refine=False).parameters()) == 36929


def _fit(up, x, target, steps=200, lr=1e-2):
    opt = torch.optim.Adam(up.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = TF.mse_loss(up(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    return losses


def test_upsample_learns_bilinear():
    torch.manual_seed(0)
    up = au.AdaUnPoolUpsample(8, 2)
    x = torch.randn(2, 8, 12, 12)
    target = TF.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    losses = _fit(up, x, target)
    assert losses[-1] < 0.1 * losses[0]


def test_upsample_guide_alone_learns_window_shapes():
    # refine=False: only the guide and beta can act; the target spreads every LR value with fixed,
    # far from uniform weights, which nearest-neighbour (the initial state) cannot produce.
    torch.manual_seed(0)
    up = au.AdaUnPoolUpsample(8, 2, refine=False)
    x = torch.randn(2, 8, 12, 12)
    w = torch.tensor([0.7, 0.1, 0.1, 0.1]).expand(2, 1, 12, 12, 4)
    target = au.adaunpool2d(x, w, 2)
    beta0 = up.beta.item()
    losses = _fit(up, x, target)
    assert losses[-1] < 0.2 * losses[0]
    assert up.beta.item() != beta0


def test_upsample_state_dict_round_trip():
    torch.manual_seed(0)
    up = _randomise(au.AdaUnPoolUpsample(4, 2))
    fresh = au.AdaUnPoolUpsample(4, 2)
    x = torch.randn(1, 4, 5, 5)
    fresh.load_state_dict(up.state_dict())
    torch.testing.assert_close(fresh(x), up(x), **EXACT)


# --------------------------------------------------------------------------------- replace_pooling

class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.head = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


@pytest.mark.parametrize("beta", ["scalar", "channel"])
def test_replace_pooling_small_cnn(beta):
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(4, 3, 16, 16)
    labels = torch.randint(0, 10, (4,))
    shape = model(x).shape
    out, names = au.replace_pooling(model, beta=beta, example_input=x, return_names=True)
    assert out is model
    assert names == ["features.2", "features.5"]
    assert isinstance(model.features[2], au.AdaPool2d) and isinstance(model.features[5], au.AdaPool2d)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in model.modules())
    assert model.features[2].kernel_size == (2, 2) and model.features[2].stride == (2, 2)
    expected = {"scalar": [(), ()], "channel": [(1, 8, 1, 1), (1, 16, 1, 1)]}[beta]
    assert [tuple(model.features[i].beta_logit.shape) for i in (2, 5)] == expected
    assert model(x).shape == shape
    # one training step moves every parameter, the betas included
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = TF.cross_entropy(model(x), labels)
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n
    opt.step()
    for n, p in model.named_parameters():
        assert not torch.equal(p, before[n]), n
    assert math.isfinite(TF.cross_entropy(model(x), labels).item())


def test_replace_pooling_not_inplace_and_nested_shared():
    pool = nn.MaxPool2d(2)
    inner = nn.Sequential(nn.Conv2d(2, 2, 1), pool)
    model = nn.Sequential(inner, nn.Sequential(pool, nn.Identity()), nn.AvgPool1d(2))
    copy_, names = au.replace_pooling(model, inplace=False, return_names=True)
    assert isinstance(model[0][1], nn.MaxPool2d)  # the original is untouched
    assert names == ["0.1", "1.0", "2"]
    assert copy_[0][1] is copy_[1][0] and isinstance(copy_[0][1], au.AdaPool2d)  # sharing is kept
    assert isinstance(copy_[2], au.AdaPool1d)
    only2d = au.replace_pooling(model, types=(nn.MaxPool2d,), inplace=False)
    assert isinstance(only2d[2], nn.AvgPool1d) and isinstance(only2d[0][1], au.AdaPool2d)
    assert isinstance(au.replace_pooling(nn.MaxPool3d(2)), au.AdaPool3d)  # the model is a pooling layer


def test_replace_pooling_keeps_device_and_dtype():
    model = au.replace_pooling(nn.Sequential(nn.Conv2d(2, 2, 1), nn.MaxPool2d(2)).double())
    assert model[1].beta_logit.dtype == torch.float64
    assert model(torch.randn(1, 2, 4, 4, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("dims", DIMS)
def test_replace_pooling_padding_and_ceil_mode_shapes(dims):
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for size in (5, 6, 7):
        x = torch.randn((1, 2) + (size,) * dims, generator=gen)
        for k, s, p in [(2, 2, 0), (2, 2, 1), (3, 2, 1), (3, 3, 1), (3, 1, 1), (2, 3, 0)]:
            for ceil in (False, True):
                for cls in (MAXPOOL[dims], AVGPOOL[dims]):
                    layer = cls(k, s, p, ceil_mode=ceil)
                    new = au.replace_pooling(layer)
                    assert (not p and not ceil) == isinstance(new, ADAPOOL[dims])
                    assert new(x).shape == layer(x).shape, (cls, size, k, s, p, ceil)
                    checked += 1
    assert checked == 72


def test_replace_pooling_padding_values():
    # Limits in which adaPool reduces to the layer it replaced check the padding values:
    # beta -> 0 and large inputs turn eM into max; tiny inputs make the weights uniform (an average).
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, generator=gen, dtype=torch.float64)
    for layer in (nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool2d(2, ceil_mode=True)):
        new = au.replace_pooling(layer).double()
        with torch.no_grad():
            new[1].beta_logit.fill_(-60.0)
        a = 1e4
        torch.testing.assert_close(new(a * x) / a, layer(x), rtol=0, atol=1e-4)
    for layer in (nn.AvgPool2d(3, 2, 1), nn.AvgPool2d(2, 2, 1)):
        new = au.replace_pooling(layer).double()
        assert new[0].pad_mode == "constant"
        eps = 1e-7
        torch.testing.assert_close(new(eps * x) / eps, layer(x), rtol=0, atol=1e-5)
    assert au.replace_pooling(nn.AvgPool2d(3, 2, 1, count_include_pad=False))[0].pad_mode == "replicate"


def test_replace_pooling_errors():
    with pytest.raises(ValueError, match=r"replace_pooling: 0 \(MaxPool2d.*has dilation=2"):
        au.replace_pooling(nn.Sequential(nn.MaxPool2d(3, dilation=2)))
    with pytest.raises(ValueError, match=r"replace_pooling: 0 \(MaxPool2d.*return_indices=True"):
        au.replace_pooling(nn.Sequential(nn.MaxPool2d(2, return_indices=True)))
    with pytest.raises(ValueError, match="divisor_override"):
        au.replace_pooling(nn.Sequential(nn.AvgPool2d(2, divisor_override=3)))
    with pytest.raises(ValueError, match="types"):
        au.replace_pooling(nn.Sequential(nn.AdaptiveAvgPool2d(1)), types=(nn.AdaptiveAvgPool2d,))
    with pytest.raises(ValueError, match="beta"):
        au.replace_pooling(nn.Sequential(nn.MaxPool2d(2)), beta=(4, 4))
    with pytest.warns(UserWarning, match="nothing was replaced"):
        au.replace_pooling(nn.Sequential(nn.Conv2d(1, 1, 1)))
    # the error names the layer
    model = nn.Sequential(nn.Sequential(nn.Identity(), nn.MaxPool1d(2, dilation=2)))
    with pytest.raises(ValueError, match=r"0\.1"):
        au.replace_pooling(model)


def test_replace_pooling_channel_state_dict_round_trip():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    model = au.replace_pooling(SmallCNN(), beta="channel", example_input=x)
    _randomise(model.features[2])
    fresh = au.replace_pooling(SmallCNN(), beta="channel")  # still lazy: materialised by the load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh(x), model(x), **EXACT)
    assert type(fresh.features[2]) is au.AdaPool2d and fresh.features[2].channels == 8


def test_replace_pooling_example_input_keeps_batchnorm_stats():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.MaxPool2d(2))
    au.replace_pooling(model, beta="channel", example_input=torch.randn(2, 1, 8, 8))
    assert model.training and model[1].training
    assert model[1].num_batches_tracked.item() == 0
    assert model[2].beta_logit.shape == (1, 4, 1, 1)
