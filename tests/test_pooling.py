"""adaunpool.pooling: SPP, global, NetVLAD and bilinear pooling heads, checked against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import adaunpool as au
from adaunpool.pooling import BilinearPool2d, GlobalAvgPool2d, GlobalMaxPool2d, NetVLAD, SpatialPyramidPool2d


# ------------------------------------------------------------------------------------------ shapes

@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 5, 13, 17), (3, 2, 4, 9), (1, 1, 1, 1)])
@pytest.mark.parametrize("mode", ["max", "avg", "ada"])
def test_spp_output_length(shape, mode, one_thread):
    levels = (1, 2, 4)
    y = SpatialPyramidPool2d(levels, mode=mode)(torch.rand(shape))
    assert y.shape == (shape[0], shape[1] * (1 + 4 + 16))
    assert torch.isfinite(y).all()
    assert SpatialPyramidPool2d(levels).output_features(shape[1]) == y.shape[1]


@pytest.mark.parametrize("keepdim", [False, True])
def test_global_pool_shapes(keepdim):
    x = torch.rand(2, 3, 5, 7)
    want = (2, 3, 1, 1) if keepdim else (2, 3)
    assert GlobalAvgPool2d(keepdim)(x).shape == want
    assert GlobalMaxPool2d(keepdim)(x).shape == want


@pytest.mark.parametrize("shape", [(2, 16, 7, 5), (1, 16, 1, 1), (3, 16, 4, 4)])
def test_netvlad_and_bilinear_shapes(shape, one_thread):
    x = torch.randn(shape)
    assert NetVLAD(num_clusters=6, dim=16, alpha=5.0)(x).shape == (shape[0], 6 * 16)
    assert BilinearPool2d()(x).shape == (shape[0], 16 * 16)
    y = torch.randn(shape[0], 3, *shape[2:])
    assert BilinearPool2d()(x, y).shape == (shape[0], 16 * 3)


# ------------------------------------------------------------------------------------ known values

def test_global_pools_equal_numpy():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    a = x.numpy()
    np.testing.assert_allclose(GlobalAvgPool2d()(x).numpy(), a.mean(axis=(2, 3)), rtol=1e-12)
    np.testing.assert_array_equal(GlobalMaxPool2d()(x).numpy(), a.max(axis=(2, 3)))


@pytest.mark.parametrize("mode, glob", [("max", GlobalMaxPool2d()), ("avg", GlobalAvgPool2d())])
def test_spp_level_1_is_the_global_pool(mode, glob):
    x = torch.randn(2, 4, 6, 9)
    torch.testing.assert_close(SpatialPyramidPool2d((1,), mode=mode)(x), glob(x))


def test_spp_ada_level_1_is_adapool_over_the_whole_map(one_thread):
    x = torch.rand(2, 3, 6, 5)
    want = au.adapool2d(x, (6, 5), beta=0.3, dsc="element").flatten(1)
    torch.testing.assert_close(SpatialPyramidPool2d((1,), mode="ada", beta=0.3, dsc="element")(x), want)


def _bins(size, n):
    # He et al. / PyTorch adaptive bins, written out independently of adaunpool.pooling
    return [(int(math.floor(i * size / n)), int(math.ceil((i + 1) * size / n))) for i in range(n)]


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_spp_bins_on_an_uneven_map_match_numpy(mode):
    x = torch.randn(1, 2, 5, 7, dtype=torch.float64)
    a = x.numpy()
    reduce = np.max if mode == "max" else np.mean
    want = [a.max(axis=(2, 3)) if mode == "max" else a.mean(axis=(2, 3))]
    for level in (2, 3):
        grid = np.stack([np.stack([reduce(a[:, :, r0:r1, c0:c1], axis=(2, 3)) for c0, c1 in _bins(7, level)], -1)
                         for r0, r1 in _bins(5, level)], -2)  # (N, C, l, l)
        want.append(grid.reshape(1, -1))
    got = SpatialPyramidPool2d((1, 2, 3), mode=mode)(x).numpy()
    np.testing.assert_allclose(got, np.concatenate(want, axis=1), rtol=1e-12)


def test_spp_ada_bins_are_adapool_of_each_bin(one_thread):
    x = torch.rand(1, 3, 7, 6, dtype=torch.float64)
    got = SpatialPyramidPool2d((2,), mode="ada", beta=0.6)(x).view(1, 3, 2, 2)
    for i, (r0, r1) in enumerate(_bins(7, 2)):
        for j, (c0, c1) in enumerate(_bins(6, 2)):
            window = x[:, :, r0:r1, c0:c1]
            want = au.adapool2d(window, window.shape[2:], beta=0.6)[..., 0, 0]
            torch.testing.assert_close(got[..., i, j], want)


def test_bilinear_of_a_constant_map_by_hand():
    c = [2.0, -1.0, 0.5]
    x = torch.tensor(c, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 4, 6).contiguous()
    # B = c c^T; signed sqrt: sign(c_i c_j) sqrt(|c_i| |c_j|); its L2 norm is sum_i |c_i| = 3.5
    want = [math.copysign(math.sqrt(abs(a * b)), a * b) / 3.5 for a in c for b in c]
    got = BilinearPool2d(eps=0.0)(x)[0].tolist()
    assert got == pytest.approx(want, abs=1e-12)
    assert BilinearPool2d()(x)[0].tolist() == pytest.approx(want, abs=1e-6)  # default eps 1e-12


def test_bilinear_two_streams_match_numpy():
    x, y = torch.randn(2, 3, 4, 5, dtype=torch.float64), torch.randn(2, 2, 4, 5, dtype=torch.float64)
    a, b = x.numpy().reshape(2, 3, -1), y.numpy().reshape(2, 2, -1)
    gram = np.einsum("nci,ndi->ncd", a, b) / 20
    z = np.sign(gram) * np.sqrt(np.abs(gram))
    z = z.reshape(2, -1) / np.linalg.norm(z.reshape(2, -1), axis=1, keepdims=True)
    np.testing.assert_allclose(BilinearPool2d(eps=0.0)(x, y).numpy(), z, rtol=1e-10)


def _netvlad_numpy(x, conv_w, conv_b, centroids, normalize_input):
    """NetVLAD written out with loops over samples, clusters and positions."""
    n, d, h, w = x.shape
    out = []
    for s in range(n):
        desc = x[s].reshape(d, -1).T  # (HW, D)
        if normalize_input:
            desc = desc / np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
        logits = desc @ conv_w.T + conv_b
        logits -= logits.max(axis=1, keepdims=True)
        assign = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # (HW, K)
        vlad = np.zeros_like(centroids)
        for k in range(len(centroids)):
            for i in range(len(desc)):
                vlad[k] += assign[i, k] * (desc[i] - centroids[k])
            vlad[k] /= max(np.linalg.norm(vlad[k]), 1e-12)
        v = vlad.reshape(-1)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.stack(out)


@pytest.mark.parametrize("normalize_input", [True, False])
def test_netvlad_matches_a_loop_and_rows_are_unit_norm(normalize_input, one_thread):
    vlad = NetVLAD(num_clusters=4, dim=5, alpha=3.0, normalize_input=normalize_input).double()
    x = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    got = vlad(x).detach()
    want = _netvlad_numpy(x.numpy(), vlad.conv.weight.detach().numpy()[:, :, 0, 0], vlad.conv.bias.detach().numpy(),
                          vlad.centroids.detach().numpy(), normalize_input)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(2, dtype=torch.float64))
    # intra-normalised: every non-empty cluster block has the same norm 1 / sqrt(K)
    np.testing.assert_allclose(got.view(2, 4, 5).norm(dim=2).numpy(), 0.5, rtol=1e-9)


def test_netvlad_initial_assignment_is_soft_nearest_centroid():
    vlad = NetVLAD(num_clusters=3, dim=4, alpha=7.0, normalize_input=False).double()
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    logits = vlad.conv(x).flatten(2)[0].T  # (HW, K)
    desc = x.flatten(2)[0].T
    dist = torch.cdist(desc, vlad.centroids.detach()) ** 2
    torch.testing.assert_close(torch.softmax(logits, 1), torch.softmax(-7.0 * dist, 1))


def test_netvlad_set_centroids_rederives_the_conv():
    vlad = NetVLAD(num_clusters=2, dim=3, alpha=2.0)
    c = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    vlad.set_centroids(c)
    torch.testing.assert_close(vlad.conv.weight[:, :, 0, 0], 4.0 * c)
    torch.testing.assert_close(vlad.conv.bias, torch.tensor([-2.0, -8.0]))
    with pytest.raises(ValueError, match=r"centroids must be a tensor of shape \(2, 3\)"):
        vlad.set_centroids(torch.zeros(3, 2))


# -------------------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("mode", ["max", "avg", "ada"])
def test_spp_gradcheck(mode, one_thread):
    x = torch.rand(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)  # random: no ties for max
    assert torch.autograd.gradcheck(SpatialPyramidPool2d((1, 2), mode=mode), (x,))


def test_global_pools_gradcheck():
    x = torch.rand(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(GlobalAvgPool2d(), (x,))
    assert torch.autograd.gradcheck(GlobalMaxPool2d(keepdim=True), (x,))


def test_netvlad_gradcheck(one_thread):
    vlad = NetVLAD(num_clusters=3, dim=4, alpha=2.0).double()
    x = torch.randn(2, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(vlad, (x,))
    # the parameters get gradients too
    vlad(x).sum().backward()
    assert vlad.centroids.grad is not None and vlad.conv.weight.grad is not None


def test_bilinear_gradcheck(one_thread):
    x = torch.randn(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BilinearPool2d(), (x,))
    assert torch.autograd.gradcheck(BilinearPool2d(), (x, y))


# -------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("module", [SpatialPyramidPool2d(), GlobalAvgPool2d(), GlobalMaxPool2d(), BilinearPool2d(),
                                    NetVLAD(num_clusters=2, dim=3)])
def test_wrong_rank_and_dtype(module):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        module(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        module(torch.rand(1, 3, 4, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        module(torch.ones(1, 3, 4, 4, dtype=torch.int64))


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels, expected 8"):
        NetVLAD(num_clusters=2, dim=8)(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match="levels"):
        SpatialPyramidPool2d(levels=(1, 0))
    with pytest.raises(ValueError, match="levels"):
        SpatialPyramidPool2d(levels=())
    with pytest.raises(ValueError, match="mode"):
        SpatialPyramidPool2d(mode="median")
    with pytest.raises(ValueError, match="beta"):
        SpatialPyramidPool2d(mode="ada", beta=1.5)
    with pytest.raises(ValueError, match="alpha"):
        NetVLAD(num_clusters=2, dim=3, alpha=0.0)
    with pytest.raises(ValueError, match="num_clusters"):
        NetVLAD(num_clusters=0, dim=3)
    with pytest.raises(ValueError, match="must match x"):
        BilinearPool2d()(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))


def test_exported_as_a_submodule():
    assert au.pooling.NetVLAD is NetVLAD
