"""make_body and the multiply-add counter (inter4k.models.layers)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inter4k.models.layers import BODIES, InceptionConv2d, ResBlock, count_macs, default_dilations, macs_per_pixel, make_body

torch.set_num_threads(1)


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_body_keeps_the_shape_and_learns(kind):
    body = make_body(kind, 8, 2)
    x = torch.randn(2, 8, 9, 7)
    y = body(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert all(p.grad is not None for p in body.parameters())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in body.modules())


def test_plain_and_ic_bodies_are_resblocks():
    plain = make_body("plain", 8, 3, res_scale=0.2)
    assert [type(b) for b in plain] == [ResBlock] * 3 and plain[0].res_scale == 0.2
    ic = make_body("ic", 8, 2)
    assert [type(m) for m in (ic[0].conv1, ic[0].conv2, ic[1].conv1)] == [InceptionConv2d] * 3
    assert ic[1].conv2.dilations == default_dilations(8, 2)
    assert make_body("ic", 8, 1, max_dilation=3)[0].conv1.dilations == default_dilations(8, 3)
    assert make_body("ic", 4, 1, dilations=(2, 3))[0].conv2.dilations == [(2, 3)] * 4


def test_make_body_bad_arguments():
    with pytest.raises(ValueError, match="unknown kind 'dense'; known: plain, ds, ds2, ic"):
        make_body("dense", 8, 2)
    with pytest.raises(ValueError, match="kind 'plain' takes res_scale; got norm"):
        make_body("plain", 8, 2, norm="layer")
    with pytest.raises(ValueError, match="blocks must be an int >= 0"):
        make_body("ds", 8, -1)
    with pytest.raises(ValueError, match="unknown norm 'bn'"):
        make_body("ds", 8, 2, norm="bn")


@pytest.mark.parametrize("c,b", [(8, 3), (16, 1)])
def test_macs_per_pixel_matches_the_formula(c, b):
    convs = b * 2 * 9 * c * c
    assert macs_per_pixel(make_body("plain", c, b), c) == convs
    assert macs_per_pixel(make_body("ic", c, b), c) == convs
    # DS: block l's shortcut weighs l features (l * C) and the stage normalises each x_i once (C)
    ds = convs + sum(l * c for l in range(1, b + 1)) + b * c
    assert macs_per_pixel(make_body("ds", c, b), c) == ds
    # DS2: plus each block's inner shortcut (C) and its normalisation (C)
    assert macs_per_pixel(make_body("ds2", c, b), c) == ds + b * 2 * c


def test_count_macs_linear_and_strided_conv():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    assert count_macs(net, torch.randn(2, 3, 8, 8)) == 2 * (4 * 4 * 4 * 3 * 9 + 10 * 64)
