"""DenseShortcut, DSBlock / DSStage (DS and DS2) and to_ds_stage (inter4k.models.layers)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inter4k.models.layers import (NORMS, ChannelNorm, DenseShortcut, DSBlock, DSStage, ResBlock, make_body,
                                   make_norm, to_ds_stage)

torch.set_num_threads(1)


def norm_ref(x, eps=1e-6):
    """Each pixel's C-vector to zero mean, unit (biased) variance."""
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def test_dense_shortcut_is_the_weighted_normalised_sum():
    ds = DenseShortcut(6, 3)
    assert ds.weight.shape == (3, 6)
    assert torch.equal(ds.weight, torch.tensor([[0.0] * 6, [0.0] * 6, [1.0] * 6]))   # starts at the last input
    with torch.no_grad():
        ds.weight.normal_()
    feats = [torch.randn(2, 6, 5, 4) * (i + 1) + i for i in range(3)]
    want = sum(ds.weight[i].view(1, 6, 1, 1) * norm_ref(f) for i, f in enumerate(feats))
    torch.testing.assert_close(ds(feats), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", NORMS)
def test_dense_shortcut_norms_have_no_affine_and_run(norm):
    ds = DenseShortcut(4, 2, norm=norm)
    assert sum(p.numel() for p in ds.parameters()) == 8     # only the shortcut weights
    assert ds([torch.randn(3, 4, 6, 6), torch.randn(3, 4, 6, 6)]).shape == (3, 4, 6, 6)


def test_dense_shortcut_bad_input():
    ds = DenseShortcut(4, 2)
    with pytest.raises(ValueError, match="expected a list of 2 features, got 1"):
        ds([torch.randn(1, 4, 3, 3)])
    with pytest.raises(ValueError, match=r"feature 1 must be \(N, 4, H, W\)"):
        ds([torch.randn(1, 4, 3, 3), torch.randn(1, 5, 3, 3)])
    with pytest.raises(ValueError, match="unknown norm 'bn'"):
        DenseShortcut(4, 2, norm="bn")
    with pytest.raises(ValueError, match="num_inputs must be an int >= 1"):
        DenseShortcut(4, 0)


def test_channel_norm_is_local_and_batch_free():
    """The default N looks at one pixel of one sample: tiles, batches, train and eval all agree."""
    n = ChannelNorm()
    x = torch.randn(3, 8, 10, 10) * 5 + 2
    y = n(x)
    torch.testing.assert_close(y, norm_ref(x))
    torch.testing.assert_close(n(x[1:2, :, 3:7, 2:9]), y[1:2, :, 3:7, 2:9])
    assert isinstance(make_norm("group", 12), nn.GroupNorm) and make_norm("group", 12).num_groups == 6


@pytest.mark.parametrize("kind", ["ds", "ds2"])
def test_ds_stage_follows_the_formula(kind):
    """x_l = F_l(x_{l-1}) + sum_{i<l} w_{l,i} N(x_i), with DS2's F_l = conv2(h) + v N(h), h = ReLU(conv1(x))."""
    stage = DSStage.build(5, 3, kind)
    with torch.no_grad():
        for p in stage.parameters():
            p.normal_(0, 0.3)
    x0 = torch.randn(2, 5, 7, 6)
    feats = [x0]
    for b in stage.blocks:
        x = feats[-1]
        h = torch.relu(b.conv1(x))
        r = b.conv2(h)
        if kind == "ds2":
            r = r + b.inner.weight[0].view(1, 5, 1, 1) * norm_ref(h)
        s = sum(b.shortcut.weight[i].view(1, 5, 1, 1) * norm_ref(f) for i, f in enumerate(feats))
        feats.append(r + s)
    torch.testing.assert_close(stage(x0), feats[-1], rtol=1e-4, atol=1e-5)


def test_ds2_starts_as_ds():
    ds, ds2 = DSStage.build(4, 2, "ds"), DSStage.build(4, 2, "ds2")
    ds2.load_state_dict(ds.state_dict(), strict=False)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(ds2(x), ds(x))


def test_ds_stage_sample_does_not_depend_on_the_batch():
    stage = DSStage.build(4, 2, "ds2").train()
    x = torch.randn(4, 4, 6, 6)
    torch.testing.assert_close(stage(x)[1:2], stage(x[1:2]), rtol=1e-5, atol=1e-6)


def test_ds_stage_gradients_reach_every_parameter():
    stage = DSStage.build(4, 3, "ds2")
    stage(torch.randn(2, 4, 6, 6)).square().sum().backward()
    for name, p in stage.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_ds_block_and_stage_bad_arguments():
    with pytest.raises(ValueError, match="kind must be 'ds' or 'ds2'"):
        DSBlock(4, 1, "dense")
    with pytest.raises(ValueError, match="cannot take a branch of its own"):
        DSBlock(4, 1, "ds2", nn.Identity())
    with pytest.raises(ValueError, match="block 2 must be a DSBlock with index=2"):
        DSStage([DSBlock(4, 1), DSBlock(4, 1)], 4)
    with pytest.raises(ValueError, match=r"expected \(N, 4, H, W\)"):
        DSStage.build(4, 1)(torch.randn(1, 3, 4, 4))
    x = torch.randn(1, 4, 3, 3)
    assert torch.equal(DSStage.build(4, 0)(x), x)


class AddOne(nn.Module):
    """A residual block that is not a ResBlock: x + F(x) with F = conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)


def test_to_ds_stage_reuses_the_blocks():
    res = ResBlock(4, res_scale=0.5)
    other = AddOne()
    stage = to_ds_stage([res, other], 4)
    assert stage.blocks[0].conv1 is res.conv1 and stage.blocks[0].conv2 is res.conv2
    assert stage.blocks[0].res_scale == 0.5 and stage.blocks[1].branch.block is other
    x0 = torch.randn(2, 4, 6, 6)
    x1 = res(x0) - x0 + norm_ref(x0)                    # the shortcut starts at the last input, normalised
    x2 = other.conv(x1) + norm_ref(x1)
    torch.testing.assert_close(stage(x0), x2, rtol=1e-5, atol=1e-5)


def test_ds_state_dict_round_trip(tmp_path):
    src, dst = make_body("ds2", 4, 2, norm="batch"), make_body("ds2", 4, 2, norm="batch")
    src.train()(torch.randn(3, 4, 5, 5))                 # moves the running statistics
    torch.save(src.state_dict(), tmp_path / "ds.pt")
    dst.load_state_dict(torch.load(tmp_path / "ds.pt", weights_only=True))
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(dst.eval()(x), src.eval()(x), rtol=0, atol=0)


def test_ds_stage_torch_compile_fullgraph():
    torch._dynamo.reset()
    stage = DSStage.build(4, 2, "ds2")
    x = torch.randn(2, 4, 6, 5)
    compiled = torch.compile(stage, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), stage(x), rtol=1e-5, atol=1e-6)
