"""AdaPool / AdaUnPool operators on the CPU: the maths of docs/OPS.md and the public API of README.md#the-ops-api.

Everything is checked against ``adaunpool.reference`` called directly in float64 (the oracle), and
the oracle itself is checked against hand-computed values and naive loop implementations. With the
compiled backend (the default here, see conftest.py) these compare the C++ kernels with the oracle;
with ``ADAUNPOOL_BACKEND=reference`` they only exercise the test logic, and the tests that need the
compiled ops skip.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import adaunpool as au
from adaunpool import reference

POOL = {1: au.adapool1d, 2: au.adapool2d, 3: au.adapool3d}
UNPOOL = {1: au.adaunpool1d, 2: au.adaunpool2d, 3: au.adaunpool3d}
EMPOOL = {1: au.empool1d, 2: au.empool2d, 3: au.empool3d}
EDSCWPOOL = {1: au.edscwpool1d, 2: au.edscwpool2d, 3: au.edscwpool3d}
AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
EPS = 1e-8

# ----------------------------------------------------------------------------------- tolerances
# float32 kernels vs the float64 reference, inputs ~ N(0, 1): the maths runs in float32, so a few
# float32 ulps (1.2e-7) of the largest term of a window sum.
F32 = dict(rtol=1e-5, atol=1e-6)
# Gradients in float32: the backward sums more terms (and differences such as x_i - y), so allow 10x.
F32_GRAD = dict(rtol=1e-4, atol=1e-5)
# float64 kernels vs the float64 reference: only summation order differs.
F64 = dict(rtol=1e-10, atol=1e-12)
# float16 / bfloat16 storage vs float32 *on the same (already rounded) input*: the maths runs in
# float32 whatever the storage dtype (docs/OPS.md#precision), so the only error left is one
# rounding of the output, i.e. half an ulp: 2^-11 = 4.9e-4 (fp16) and 2^-8 = 3.9e-3 (bf16) relative. The reference fed
# fp16/bf16 measures 4.85e-4 and 3.89e-3 (y, 4x16x32x32, k=3 s=2, |x| up to 60). We allow 2 half-ulps;
# the atol term only covers float32 summation noise around outputs near 0.
LOWP_RTOL = {torch.float16: 1e-3, torch.bfloat16: 8e-3}
# fp16/bf16 vs float32 on the *unrounded* input (what a user sees end to end): rounding x moves y by
# about its sensitivity times an input ulp; measured with the reference: max |err| / max |x| =
# 2.5e-4 (fp16) and 2.3e-3 (bf16). We allow 4x that, as an absolute error scaled by max |x|.
LOWP_E2E = {torch.float16: 1e-3, torch.bfloat16: 8e-3}


# ---------------------------------------------------------------------------------------- helpers
def _k(v, dims):
    return (v,) * dims if isinstance(v, int) else tuple(v)


def _pad3(t):
    return [1] * (3 - len(t)) + list(t)


def _to5d(t, dims):
    """Insert singleton spatial dims after (N, C) so that (N, C, *sp[, K]) becomes 5-D (+K)."""
    for _ in range(3 - dims):
        t = t.unsqueeze(2)
    return t


def _from5d(t, dims):
    for _ in range(3 - dims):
        t = t.squeeze(2)
    return t


def out_size(spatial, kernel, stride):
    return tuple((x - k) // s + 1 for x, k, s in zip(spatial, kernel, stride))


def ref_adapool(x, kernel_size, stride=None, beta=0.5, dsc="channel", return_weights=False,
                dtype=torch.float64):
    """The oracle: reference.adapool on a float64 copy (differentiable), in the user's layout."""
    dims = x.dim() - 2
    k = _k(kernel_size, dims)
    s = k if stride is None else _k(stride, dims)
    y_shape = tuple(x.shape[:2]) + out_size(x.shape[2:], k, s)
    if isinstance(beta, torch.Tensor):
        b = torch.broadcast_to(beta.to(dtype), y_shape)
    else:
        b = torch.full(y_shape, float(beta), dtype=dtype, device=x.device)
    y, w = reference.adapool(_to5d(x.to(dtype), dims), _pad3(k), _pad3(s), _to5d(b, dims), dsc, True)
    y, w = _from5d(y, dims), _from5d(w, dims)
    return (y, w) if return_weights else y


def ref_adaunpool(y, w, kernel_size, stride=None, mode="mean", output_size=None, dtype=torch.float64):
    dims = y.dim() - 2
    k = _k(kernel_size, dims)
    s = k if stride is None else _k(stride, dims)
    if output_size is None:
        output_size = tuple((o - 1) * sv + kv for o, sv, kv in zip(y.shape[2:], s, k))
    u = reference.adaunpool(_to5d(y.to(dtype), dims), _to5d(w.to(dtype), dims), _pad3(k), _pad3(s),
                            _pad3(tuple(output_size)), mode)
    return _from5d(u, dims)


def make_beta(kind, y_shape, dtype=torch.float32, device="cpu"):
    """A beta of the given kind for an output of shape y_shape (values inside (0, 1))."""
    n, c, *out = y_shape
    ones = [1] * len(out)
    if kind == "float":
        return 0.3
    if kind == "tensor0d":
        return torch.tensor(0.7, dtype=dtype, device=device)
    if kind == "channel":
        return torch.rand(1, c, *ones, dtype=dtype, device=device)
    if kind == "location":
        return torch.rand(1, 1, *out, dtype=dtype, device=device)
    if kind == "full":
        return torch.rand(n, c, *out, dtype=dtype, device=device)
    raise AssertionError(kind)


def naive_adapool2d(x, k, s, beta, dsc):
    """docs/OPS.md written out window by window with slicing (no unfold): checks the oracle's indexing."""
    x = x.double()
    n, c, h, wd = x.shape
    (kh, kw), (sh, sw) = k, s
    oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
    beta = torch.broadcast_to(torch.as_tensor(beta, dtype=torch.float64), (n, c, oh, ow))
    y = torch.zeros(n, c, oh, ow, dtype=torch.float64)
    W = torch.zeros(n, c, oh, ow, kh * kw, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            X = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, kh * kw)
            e = torch.exp(X - X.amax(-1, keepdim=True))
            wm = e / e.sum(-1, keepdim=True)
            m = X.mean(-1, keepdim=True)
            if dsc == "element":
                d = 2 * (X * m).abs() / (X * X + m * m + EPS)
            else:
                d = 2 * (X * m).sum(1, keepdim=True).abs() / ((X * X).sum(1, keepdim=True) + (m * m).sum(1, keepdim=True) + EPS)
                d = d.expand(n, c, kh * kw)
            wdsc = torch.exp(d) / torch.exp(d).sum(-1, keepdim=True)
            b = beta[:, :, i, j, None]
            Wij = b * wdsc + (1 - b) * wm
            W[:, :, i, j] = Wij
            y[:, :, i, j] = (Wij * X).sum(-1)
    return y, W


def naive_adaunpool2d(y, w, k, s, mode, size):
    y, w = y.double(), w.double()
    n, c, oh, ow = y.shape
    (kh, kw), (sh, sw) = k, s
    u = torch.zeros(n, c, *size, dtype=torch.float64)
    count = torch.zeros(*size, dtype=torch.float64)
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    u[:, :, i * sh + a, j * sw + b] += w[:, :, i, j, a * kw + b] * y[:, :, i, j]
                    count[i * sh + a, j * sw + b] += 1
    if mode == "mean":
        u = torch.where(count > 0, kh * kw * u / count.clamp(min=1), torch.zeros_like(u))
    return u


# ------------------------------------------------------------------------------------------ cases
# (dims, x shape, kernel, stride)
POOL_CASES = [
    pytest.param(1, (2, 3, 11), 2, None, id="1d-k2"),
    pytest.param(1, (2, 3, 12), 3, 2, id="1d-k3s2"),
    pytest.param(2, (2, 3, 8, 9), 2, None, id="2d-k2"),
    pytest.param(2, (2, 3, 9, 9), 3, 2, id="2d-k3s2"),
    pytest.param(2, (2, 3, 7, 8), (2, 3), (2, 1), id="2d-k23s21"),
    pytest.param(2, (3, 4, 10, 7), (3, 2), (1, 2), id="2d-k32s12"),
    pytest.param(2, (2, 1, 6, 7), 2, None, id="2d-C1"),
    pytest.param(2, (2, 64, 6, 6), 2, None, id="2d-C64"),
    pytest.param(2, (1, 64, 7, 7), 3, 2, id="2d-C64-k3s2"),
    pytest.param(3, (2, 3, 4, 6, 5), 2, None, id="3d-k2"),
    pytest.param(3, (1, 2, 5, 5, 5), 3, 2, id="3d-k3s2"),
    pytest.param(3, (2, 3, 4, 5, 6), (1, 2, 3), (1, 2, 2), id="3d-k123s122"),
]
# (dims, pooled-from x shape, kernel, stride)
UNPOOL_CASES = [
    pytest.param(1, (2, 3, 11), 3, 2, id="1d-k3s2"),
    pytest.param(2, (2, 3, 8, 8), 2, None, id="2d-k2"),
    pytest.param(2, (2, 3, 9, 9), 3, 2, id="2d-k3s2"),
    pytest.param(2, (3, 2, 7, 8), (2, 3), (2, 1), id="2d-k23s21"),
    pytest.param(2, (2, 64, 6, 6), 2, None, id="2d-C64"),
    pytest.param(3, (2, 2, 4, 6, 4), 2, None, id="3d-k2"),
    pytest.param(3, (2, 3, 5, 5, 5), 3, 2, id="3d-k3s2"),
]
DSC = ["channel", "element"]
BETA_KINDS = ["float", "tensor0d", "channel", "location", "full"]


def _ks(dims, kernel, stride):
    k = _k(kernel, dims)
    return k, (k if stride is None else _k(stride, dims))


# ====================================================================================== forward
@pytest.mark.parametrize("beta_kind", BETA_KINDS)
@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", POOL_CASES)
def test_adapool_forward_matches_reference(dims, shape, kernel, stride, dsc, beta_kind):
    k, s = _ks(dims, kernel, stride)
    x = torch.randn(shape)
    y_shape = tuple(shape[:2]) + out_size(shape[2:], k, s)
    beta = make_beta(beta_kind, y_shape)
    K = math.prod(k)

    y, w = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    y_only = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc)
    y_ref, w_ref = ref_adapool(x, kernel, stride, beta, dsc, return_weights=True)

    assert y.shape == y_shape and y.dtype == torch.float32
    assert w.shape == y_shape + (K,) and w.dtype == torch.float32
    torch.testing.assert_close(y.double(), y_ref, **F32)
    torch.testing.assert_close(w.double(), w_ref, **F32)
    torch.testing.assert_close(y_only, y, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(w.sum(-1), torch.ones(y_shape), rtol=0, atol=1e-6)
    assert (w >= 0).all()


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", POOL_CASES[::2])
def test_adapool_forward_float64(dims, shape, kernel, stride, dsc):
    k, s = _ks(dims, kernel, stride)
    x = torch.randn(shape, dtype=torch.float64)
    beta = make_beta("channel", tuple(shape[:2]) + out_size(shape[2:], k, s), torch.float64)
    y, w = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    y_ref, w_ref = ref_adapool(x, kernel, stride, beta, dsc, return_weights=True)
    assert y.dtype == w.dtype == torch.float64
    torch.testing.assert_close(y, y_ref, **F64)
    torch.testing.assert_close(w, w_ref, **F64)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("k,s", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (2, 1)), ((3, 2), (1, 2))])
def test_oracle_matches_naive_loops(k, s, dsc):
    """The float64 oracle (unfold-based) agrees with window-by-window slicing, item order included."""
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64)
    beta = torch.rand(2, 3, 1, 1, dtype=torch.float64)
    y_ref, w_ref = ref_adapool(x, k, s, beta, dsc, return_weights=True)
    y_nv, w_nv = naive_adapool2d(x, k, s, beta, dsc)
    torch.testing.assert_close(y_ref, y_nv, **F64)
    torch.testing.assert_close(w_ref, w_nv, **F64)
    y, w = au.adapool2d(x.float(), k, s, beta=beta.float(), dsc=dsc, return_weights=True)
    torch.testing.assert_close(y.double(), y_nv, **F32)
    torch.testing.assert_close(w.double(), w_nv, **F32)


def _softmax(v):
    e = [math.exp(a - max(v)) for a in v]
    return [a / sum(e) for a in e]


def test_oracle_hand_computed_window():
    """eM and eDSCW (both modes) for one 2x2 window with two channels, by hand with math.exp."""
    a = [1.0, 2.0, 3.0, -1.0]   # channel 0, items in row-major order
    b = [0.5, 0.0, -2.0, 1.5]   # channel 1
    x = torch.tensor([[[[a[0], a[1]], [a[2], a[3]]], [[b[0], b[1]], [b[2], b[3]]]]], dtype=torch.float64)
    beta = 0.3

    wm = [_softmax(a), _softmax(b)]
    ym = [sum(w_ * v for w_, v in zip(wm[c], ch)) for c, ch in enumerate((a, b))]
    ma, mb = sum(a) / 4, sum(b) / 4
    # element mode: one d per (item, channel)
    de = [[2 * abs(v * m) / (v * v + m * m + EPS) for v in ch] for ch, m in ((a, ma), (b, mb))]
    wde = [_softmax(de[0]), _softmax(de[1])]
    # channel mode: one d per item, shared by both channels
    dc = [2 * abs(a[i] * ma + b[i] * mb) / (a[i] ** 2 + b[i] ** 2 + ma ** 2 + mb ** 2 + EPS) for i in range(4)]
    wdc = _softmax(dc)
    assert all(0 <= d <= 1 for d in dc + de[0] + de[1])

    for dsc, wd in (("element", wde), ("channel", [wdc, wdc])):
        W = [[beta * wd[c][i] + (1 - beta) * wm[c][i] for i in range(4)] for c in range(2)]
        y_exp = torch.tensor([sum(W[c][i] * ch[i] for i in range(4)) for c, ch in enumerate((a, b))],
                             dtype=torch.float64).view(1, 2, 1, 1)
        W_exp = torch.tensor(W, dtype=torch.float64).view(1, 2, 1, 1, 4)
        y_ref, w_ref = ref_adapool(x, 2, None, beta, dsc, return_weights=True)
        torch.testing.assert_close(y_ref, y_exp, **F64)
        torch.testing.assert_close(w_ref, W_exp, **F64)
        y, w = au.adapool2d(x, 2, beta=beta, dsc=dsc, return_weights=True)
        torch.testing.assert_close(y, y_exp, **F64)
        torch.testing.assert_close(w, W_exp, **F64)
        # beta 0 / 1 are exactly eM / eDSCW
        yd = torch.tensor([sum(wd[c][i] * ch[i] for i in range(4)) for c, ch in enumerate((a, b))], dtype=torch.float64)
        torch.testing.assert_close(au.edscwpool2d(x, 2, dsc=dsc).flatten(), yd, **F64)
    torch.testing.assert_close(au.empool2d(x, 2).flatten(), torch.tensor(ym, dtype=torch.float64), **F64)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_em_and_edscw_are_adapool_at_beta_0_and_1(dims, dsc):
    x = torch.randn((2, 3) + (6,) * dims)
    torch.testing.assert_close(EMPOOL[dims](x, 2), POOL[dims](x, 2, beta=0.0, dsc=dsc), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(EDSCWPOOL[dims](x, 2, dsc=dsc), POOL[dims](x, 2, beta=1.0, dsc=dsc), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(EMPOOL[dims](x, 3, 2).double(), ref_adapool(x, 3, 2, 0.0, dsc), **F32)
    torch.testing.assert_close(EDSCWPOOL[dims](x, 3, 2, dsc=dsc).double(), ref_adapool(x, 3, 2, 1.0, dsc), **F32)
    # eM is SoftPool: a softmax-weighted mean per channel, independent of dsc and of the other channels
    xs = torch.randn((2, 1) + (4,) * dims, dtype=torch.float64)
    win = xs.reshape(2, -1)
    sm = (torch.softmax(win, -1) * win).sum(-1)
    torch.testing.assert_close(EMPOOL[dims](xs, 4).flatten(), sm, **F64)


# -------------------------------------------------------------------------------------- unpool
def _unpool_inputs(dims, shape, k, s, wch, dtype=torch.float32):
    n, c = shape[:2]
    out = out_size(shape[2:], k, s)
    y = torch.randn((n, c) + out, dtype=dtype)
    w = torch.rand((n, c if wch == "C" else 1) + out + (math.prod(k),), dtype=dtype)
    return y, w


@pytest.mark.parametrize("bigger", [False, True], ids=["natural", "bigger"])
@pytest.mark.parametrize("wch", ["C", "1"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("dims,shape,kernel,stride", UNPOOL_CASES)
def test_adaunpool_forward_matches_reference(dims, shape, kernel, stride, mode, wch, bigger):
    k, s = _ks(dims, kernel, stride)
    y, w = _unpool_inputs(dims, shape, k, s, wch)
    natural = tuple((o - 1) * sv + kv for o, sv, kv in zip(y.shape[2:], s, k))
    size = tuple(nv + sv - 1 for nv, sv in zip(natural, s)) if bigger else None
    if bigger and size == natural:
        pytest.skip("stride 1 everywhere: no larger output_size pools back to y")
    u = UNPOOL[dims](y, w, kernel, stride, mode=mode, output_size=size)
    u_ref = ref_adaunpool(y, w, kernel, stride, mode, size)
    assert u.shape == tuple(shape[:2]) + (size or natural) and u.dtype == torch.float32
    torch.testing.assert_close(u.double(), u_ref, **F32)
    if bigger:
        # positions no window covers are exactly 0
        covered = torch.zeros(size, dtype=torch.bool)
        covered[tuple(slice(0, nv) for nv in natural)] = True
        assert (u[..., ~covered] == 0).all()
        # and the covered part equals unpooling to the natural size
        u_nat = UNPOOL[dims](y, w, kernel, stride, mode=mode)
        torch.testing.assert_close(u[(...,) + tuple(slice(0, nv) for nv in natural)], u_nat, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("k,s,size", [((2, 2), (2, 2), (8, 8)), ((3, 3), (2, 2), (10, 10)),
                                      ((2, 3), (2, 1), (8, 8)), ((3, 2), (1, 2), (7, 9))])
def test_unpool_oracle_matches_naive_loops(k, s, size, mode):
    oh, ow = out_size(size, k, s)
    y = torch.randn(2, 3, oh, ow, dtype=torch.float64)
    w = torch.rand(2, 3, oh, ow, k[0] * k[1], dtype=torch.float64)
    expected = naive_adaunpool2d(y, w, k, s, mode, size)
    torch.testing.assert_close(ref_adaunpool(y, w, k, s, mode, size), expected, **F64)
    torch.testing.assert_close(au.adaunpool2d(y, w, k, s, mode=mode, output_size=size), expected, **F64)
    w1 = w[:, :1]
    torch.testing.assert_close(au.adaunpool2d(y, w1, k, s, mode=mode, output_size=size),
                               naive_adaunpool2d(y, w1.expand_as(w), k, s, mode, size), **F64)


@pytest.mark.parametrize("guide", [False, True], ids=["self", "guide-C1"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unpool_stride_eq_kernel_pools_back(dims, guide):
    """stride == kernel: mean mode gives avg_pool(u) == y exactly, sum mode gives avg_pool(u) * K == y."""
    k = 2 if dims == 3 else 3
    K = k ** dims
    x = torch.randn((2, 4) + (6,) * dims)
    y, w = POOL[dims](x, k, return_weights=True)
    if guide:
        _, w = POOL[dims](torch.randn((2, 1) + (6,) * dims), k, return_weights=True)
    u_mean = UNPOOL[dims](y, w, k)
    u_sum = UNPOOL[dims](y, w, k, mode="sum")
    torch.testing.assert_close(AVGPOOL[dims](u_mean, k), y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(AVGPOOL[dims](u_sum, k) * K, y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(u_sum * K, u_mean, rtol=1e-5, atol=1e-6)


def test_unpool_weight_dtype_is_cast_to_y():
    y, w = _unpool_inputs(2, (2, 3, 6, 6), (2, 2), (2, 2), "C")
    torch.testing.assert_close(au.adaunpool2d(y, w.double(), 2), au.adaunpool2d(y, w, 2))


# ================================================================================= edge values
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_all_zero_input_gives_the_average(dims, dsc, beta):
    x = torch.zeros((2, 3) + (4,) * dims, requires_grad=True)
    y, w = POOL[dims](x, 2, beta=beta, dsc=dsc, return_weights=True)
    assert torch.isfinite(y).all() and torch.isfinite(w).all()
    assert (y == 0).all()
    torch.testing.assert_close(w, torch.full_like(w, 1 / 2 ** dims))
    (y.sum() + (w * torch.randn_like(w)).sum()).backward()
    assert torch.isfinite(x.grad).all()
    x64 = x.detach().double().requires_grad_()
    y_ref, w_ref = ref_adapool(x64, 2, None, beta, dsc, return_weights=True)
    torch.testing.assert_close(y.detach().double(), y_ref.detach(), **F32)


@pytest.mark.parametrize("dsc", DSC)
def test_one_zero_window_among_random(dsc):
    x = torch.randn(2, 3, 6, 6)
    x[:, :, 2:4, 0:2] = 0  # window (1, 0) of a k=2 pooling
    x.requires_grad_()
    y, w = au.adapool2d(x, 2, dsc=dsc, return_weights=True)
    assert (y[:, :, 1, 0] == 0).all()
    torch.testing.assert_close(w[:, :, 1, 0], torch.full((2, 3, 4), 0.25))
    gy, gw = torch.randn_like(y), torch.randn_like(w)
    gx, = torch.autograd.grad([y, w], [x], [gy, gw])
    assert torch.isfinite(gx).all()
    x64 = x.detach().double().requires_grad_()
    y_ref, w_ref = ref_adapool(x64, 2, None, 0.5, dsc, return_weights=True)
    gx_ref, = torch.autograd.grad([y_ref, w_ref], [x64], [gy.double(), gw.double()])
    torch.testing.assert_close(y.detach().double(), y_ref.detach(), **F32)
    torch.testing.assert_close(gx.double(), gx_ref, **F32_GRAD)


def test_single_nonzero_in_channel_mode():
    """Window with one nonzero item in one channel: m = (3/4, 0, 0); only item 0 has d > 0."""
    x = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    x[0, 0, 0, 0] = 3.0
    beta = 0.6
    d0 = 2 * abs(3.0 * 0.75) / (9.0 + 0.75 ** 2 + EPS)
    wd = _softmax([d0, 0.0, 0.0, 0.0])
    wm0 = _softmax([3.0, 0.0, 0.0, 0.0])
    y0 = 3.0 * (beta * wd[0] + (1 - beta) * wm0[0])
    for dtype in (torch.float64, torch.float32):
        xd = x.to(dtype).requires_grad_()
        y, w = au.adapool2d(xd, 2, beta=beta, dsc="channel", return_weights=True)
        assert torch.isfinite(y).all() and torch.isfinite(w).all()
        tol = F64 if dtype == torch.float64 else F32
        torch.testing.assert_close(y.double().flatten(), torch.tensor([y0, 0.0, 0.0], dtype=torch.float64), **tol)
        # the zero channels see the same dsc weights mixed with uniform eM weights
        w_exp = torch.tensor([beta * wd[i] + (1 - beta) * 0.25 for i in range(4)], dtype=torch.float64)
        torch.testing.assert_close(w[0, 1, 0, 0].double(), w_exp, **tol)
        g, = torch.autograd.grad(y.sum() + w.square().sum(), xd)
        assert torch.isfinite(g).all()
        x64 = x.clone().requires_grad_()
        y_r, w_r = ref_adapool(x64, 2, None, beta, "channel", return_weights=True)
        g_ref, = torch.autograd.grad(y_r.sum() + w_r.square().sum(), x64)
        torch.testing.assert_close(g.double(), g_ref, **(F64 if dtype == torch.float64 else F32_GRAD))


@pytest.mark.parametrize("dsc", DSC)
def test_large_values_fp32(dsc):
    """|x| ~ 1e4: exp would overflow float32 above 88 without the max subtraction."""
    scale = 1e4
    x = (torch.randn(2, 3, 9, 9) * scale).requires_grad_()
    y, w = au.adapool2d(x, 3, 2, dsc=dsc, return_weights=True)
    assert torch.isfinite(y).all() and torch.isfinite(w).all()
    y_ref, w_ref = ref_adapool(x.detach(), 3, 2, 0.5, dsc, return_weights=True)
    torch.testing.assert_close(y.detach().double(), y_ref, rtol=1e-5, atol=1e-6 * scale)
    torch.testing.assert_close(w.detach().double(), w_ref, rtol=1e-5, atol=1e-5)
    gx, = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(gx).all()
    # also an all-large window: constant 1e4 everywhere gives exactly 1e4 with uniform weights
    c = torch.full((1, 2, 4, 4), scale)
    yc, wc = au.adapool2d(c, 2, dsc=dsc, return_weights=True)
    torch.testing.assert_close(yc, torch.full_like(yc, scale))
    torch.testing.assert_close(wc, torch.full_like(wc, 0.25))


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_large_values_low_precision(dtype, dsc):
    """|x| up to 60 in fp16/bf16: exp(60) overflows fp16 (> 11 does without max subtraction)."""
    x = ((torch.rand(2, 3, 8, 8) * 10 + 50) * torch.sign(torch.randn(2, 3, 8, 8))).to(dtype)
    x[0, 0] = 60.0
    xg = x.clone().requires_grad_()
    y, w = au.adapool2d(xg, 2, dsc=dsc, return_weights=True)
    assert y.dtype == w.dtype == dtype
    assert torch.isfinite(y).all() and torch.isfinite(w).all()
    y_ref, w_ref = ref_adapool(x, 2, None, 0.5, dsc, return_weights=True)
    rtol = LOWP_RTOL[dtype]
    torch.testing.assert_close(y.detach().double(), y_ref, rtol=rtol, atol=1e-5 * 60)
    torch.testing.assert_close(w.detach().double(), w_ref, rtol=rtol, atol=rtol / 2)
    assert (y[0, 0] == 60).all()
    gx, = torch.autograd.grad(y.float().sum(), xg)
    assert gx.dtype == dtype and torch.isfinite(gx).all()


def _permuted(x, layout):
    """A non-contiguous (or channels-last) tensor equal to x."""
    dims = x.dim() - 2
    if layout == "transposed":  # channels last in memory through a permuted view
        perm = [0] + list(range(2, x.dim())) + [1]
        return x.permute(*perm).contiguous().permute(0, x.dim() - 1, *range(1, x.dim() - 1))
    if layout == "sliced":  # every other channel of a wider tensor, spatial offset by one
        big = torch.zeros((x.shape[0], 2 * x.shape[1]) + tuple(v + 1 for v in x.shape[2:]), dtype=x.dtype, device=x.device)
        view = big[(slice(None), slice(None, None, 2)) + (slice(1, None),) * dims]
        view.copy_(x)
        return view
    if layout == "channels_last":
        fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
        return x.contiguous(memory_format=fmt)
    raise AssertionError(layout)


@pytest.mark.parametrize(
    "dims,layout",
    [(d, lay) for d in (1, 2, 3) for lay in ("transposed", "sliced", "channels_last") if (d, lay) != (1, "channels_last")],
)  # 3-D tensors (1-d pooling) have no channels_last format
def test_noncontiguous_inputs(dims, layout):
    x = torch.randn((2, 3) + (7,) * dims)
    xv = _permuted(x, layout)
    assert torch.equal(xv, x) and not xv.is_contiguous()
    beta = torch.rand(1, 3, *([1] * dims))
    xa, xb = x.clone().requires_grad_(), xv.detach().requires_grad_()
    ya, wa = POOL[dims](xa, 3, 2, beta=beta, return_weights=True)
    yb, wb = POOL[dims](xb, 3, 2, beta=beta, return_weights=True)
    torch.testing.assert_close(yb, ya, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(wb, wa, rtol=1e-6, atol=1e-7)
    gy, gw = torch.randn_like(ya), torch.randn_like(wa)
    ga, = torch.autograd.grad([ya, wa], [xa], [gy, gw])
    # a non-contiguous upstream gradient too
    gyv = _permuted(gy, "sliced" if layout != "channels_last" else layout)
    gb, = torch.autograd.grad([yb, wb], [xb], [gyv, gw])
    torch.testing.assert_close(gb, ga, rtol=1e-5, atol=1e-6)
    # unpool: non-contiguous y, and w shared over channels through a stride-0 expand
    y, w = ya.detach(), wa.detach()
    w1 = w[:, :1]
    ua = UNPOOL[dims](y, w1.expand_as(w).contiguous(), 3, 2)
    ub = UNPOOL[dims](_permuted(y, layout), w1.expand_as(w), 3, 2)
    torch.testing.assert_close(ub, ua, rtol=1e-6, atol=1e-7)
    yv = _permuted(y, "transposed").requires_grad_()
    wv = w.transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()  # K dim strided
    assert not wv.is_contiguous()
    y_c, w_c = y.clone().requires_grad_(), w.clone().requires_grad_()
    gu = torch.randn_like(ua)
    g_c = torch.autograd.grad(UNPOOL[dims](y_c, w_c, 3, 2), [y_c, w_c], gu)
    g_v = torch.autograd.grad(UNPOOL[dims](yv, wv, 3, 2), [yv, wv], _permuted(gu, "sliced"))
    for a, b in zip(g_v, g_c):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_empty_batch(dims):
    x = torch.randn((0, 3) + (6,) * dims, requires_grad=True)
    beta = torch.rand(1, 3, *([1] * dims), requires_grad=True)
    y, w = POOL[dims](x, 3, 2, beta=beta, return_weights=True)
    assert y.shape == (0, 3) + (2,) * dims and w.shape == y.shape + (3 ** dims,)
    u = UNPOOL[dims](y, w, 3, 2, output_size=(6,) * dims)
    assert u.shape == x.shape
    (y.sum() + w.sum() + u.sum()).backward()
    assert x.grad.shape == x.shape and beta.grad.shape == beta.shape
    assert (beta.grad == 0).all()
    y0 = torch.randn((0, 3) + (2,) * dims, requires_grad=True)
    w0 = torch.rand((0, 1) + (2,) * dims + (3 ** dims,), requires_grad=True)
    UNPOOL[dims](y0, w0, 3, 2, mode="sum").sum().backward()
    assert y0.grad.shape == y0.shape and w0.grad.shape == w0.shape


# ===================================================================================== dtypes
@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", [POOL_CASES[1], POOL_CASES[3], POOL_CASES[4], POOL_CASES[10]])
def test_fp32_vs_fp64(dims, shape, kernel, stride, dsc):
    x64 = torch.randn(shape, dtype=torch.float64)
    x32 = x64.float()
    y32, w32 = POOL[dims](x32, kernel, stride, dsc=dsc, return_weights=True)
    y64, w64 = POOL[dims](x64, kernel, stride, dsc=dsc, return_weights=True)
    torch.testing.assert_close(y32.double(), y64, **F32)
    torch.testing.assert_close(w32.double(), w64, **F32)
    u32 = UNPOOL[dims](y32, w32, kernel, stride)
    u64 = UNPOOL[dims](y32.double(), w32.double(), kernel, stride)
    torch.testing.assert_close(u32.double(), u64, **F32)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("dims,shape,kernel,stride", [POOL_CASES[1], POOL_CASES[3], POOL_CASES[4], POOL_CASES[10]])
def test_low_precision_vs_fp32(dims, shape, kernel, stride, dtype, dsc):
    rtol = LOWP_RTOL[dtype]
    scale = 4.0
    x = torch.randn(shape) * scale
    xl = x.to(dtype)
    xr = xl.float()  # the same, already rounded, input in float32
    beta = torch.rand(1, shape[1], *([1] * dims))
    xlg, xrg = xl.clone().requires_grad_(), xr.clone().requires_grad_()
    yl, wl = POOL[dims](xlg, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    yr, wr = POOL[dims](xrg, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    assert yl.dtype == wl.dtype == dtype
    torch.testing.assert_close(yl.float(), yr, rtol=rtol, atol=1e-5 * scale)
    torch.testing.assert_close(wl.float(), wr, rtol=rtol, atol=1e-6)
    # end to end against float32 on the unrounded input
    y32 = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc)
    torch.testing.assert_close(yl.float(), y32, rtol=0, atol=LOWP_E2E[dtype] * x.abs().max().item())
    # backward: grad_y and grad_w in the storage dtype, maths in float32
    gy, gw = torch.randn(yl.shape).to(dtype), torch.randn(wl.shape).to(dtype)
    gl, = torch.autograd.grad([yl, wl], [xlg], [gy, gw])
    gr, = torch.autograd.grad([yr, wr], [xrg], [gy.float(), gw.float()])
    assert gl.dtype == dtype
    torch.testing.assert_close(gl.float(), gr, rtol=rtol, atol=1e-4 * gr.abs().max().item())
    # unpool in the storage dtype vs float32 on the same values
    yd, wd = yl.detach(), wl.detach()
    for mode in ("mean", "sum"):
        ul = UNPOOL[dims](yd, wd, kernel, stride, mode=mode)
        ur = UNPOOL[dims](yd.float(), wd.float(), kernel, stride, mode=mode)
        assert ul.dtype == dtype
        torch.testing.assert_close(ul.float(), ur, rtol=rtol, atol=1e-5 * scale)
        ydg, wdg = yd.clone().requires_grad_(), wd.clone().requires_grad_()
        yfg, wfg = yd.float().requires_grad_(), wd.float().requires_grad_()
        gu = torch.randn(ul.shape).to(dtype)
        g_l = torch.autograd.grad(UNPOOL[dims](ydg, wdg, kernel, stride, mode=mode), [ydg, wdg], gu)
        g_r = torch.autograd.grad(UNPOOL[dims](yfg, wfg, kernel, stride, mode=mode), [yfg, wfg], gu.float())
        for a, b in zip(g_l, g_r):
            assert a.dtype == dtype
            torch.testing.assert_close(a.float(), b, rtol=rtol, atol=1e-4 * b.abs().max().item())


# ================================================================================== gradients
@pytest.mark.parametrize("beta_kind", ["float", "tensor0d", "channel", "location", "full"])
@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", [POOL_CASES[1], POOL_CASES[3], POOL_CASES[4], POOL_CASES[10]])
def test_backward_fp32_matches_reference(dims, shape, kernel, stride, dsc, beta_kind):
    k, s = _ks(dims, kernel, stride)
    y_shape = tuple(shape[:2]) + out_size(shape[2:], k, s)
    x = torch.randn(shape, requires_grad=True)
    beta = make_beta(beta_kind, y_shape)
    inputs = [x]
    if isinstance(beta, torch.Tensor):
        beta.requires_grad_()
        inputs.append(beta)
    gy = torch.randn(y_shape)
    gw = torch.randn(y_shape + (math.prod(k),))
    y, w = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    grads = torch.autograd.grad([y, w], inputs, [gy, gw])
    y_only = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc)
    grads_y = torch.autograd.grad(y_only, inputs, gy)

    x64 = x.detach().double().requires_grad_()
    ref_inputs = [x64]
    b64 = beta
    if isinstance(beta, torch.Tensor):
        b64 = beta.detach().double().requires_grad_()
        ref_inputs.append(b64)
    y_r, w_r = ref_adapool(x64, kernel, stride, b64, dsc, return_weights=True)
    grads_r = torch.autograd.grad([y_r, w_r], ref_inputs, [gy.double(), gw.double()], retain_graph=True)
    grads_yr = torch.autograd.grad(y_r, ref_inputs, gy.double())
    for a, b in zip(grads + grads_y, grads_r + grads_yr):
        assert a.shape == b.shape and a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, **F32_GRAD)


@pytest.mark.parametrize("wch", ["C", "1"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("dims,shape,kernel,stride", [UNPOOL_CASES[0], UNPOOL_CASES[2], UNPOOL_CASES[3], UNPOOL_CASES[6]])
def test_unpool_backward_fp32_matches_reference(dims, shape, kernel, stride, mode, wch):
    k, s = _ks(dims, kernel, stride)
    y, w = _unpool_inputs(dims, shape, k, s, wch)
    y.requires_grad_()
    w.requires_grad_()
    u = UNPOOL[dims](y, w, kernel, stride, mode=mode)
    gu = torch.randn_like(u)
    grads = torch.autograd.grad(u, [y, w], gu)
    y64, w64 = y.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    grads_r = torch.autograd.grad(ref_adaunpool(y64, w64, kernel, stride, mode), [y64, w64], gu.double())
    for a, b in zip(grads, grads_r):
        assert a.shape == b.shape and a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, **F32_GRAD)


def _gradcheck(fn, inputs):
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# (dims, shape, kernel, stride) small enough for gradcheck
GRAD_CASES = [
    pytest.param(2, (2, 3, 5, 6), 2, None, id="2d-k2"),
    pytest.param(2, (2, 3, 5, 6), 3, 2, id="2d-k3s2"),
    pytest.param(1, (2, 3, 7), 3, 2, id="1d-k3s2"),
    pytest.param(3, (1, 2, 3, 4, 5), (2, 2, 3), (1, 2, 2), id="3d"),
]


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", GRAD_CASES)
def test_gradcheck_adapool_x(dims, shape, kernel, stride, dsc):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    _gradcheck(lambda x: POOL[dims](x, kernel, stride, beta=0.4, dsc=dsc), (x,))
    # gradient through the returned weights as well (y and w are both outputs)
    if dims != 3:
        _gradcheck(lambda x: POOL[dims](x, kernel, stride, beta=0.4, dsc=dsc, return_weights=True), (x,))


@pytest.mark.parametrize("beta_kind", ["tensor0d", "channel", "location"])
@pytest.mark.parametrize("dsc", DSC)
def test_gradcheck_adapool_beta(dsc, beta_kind):
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    beta = make_beta(beta_kind, (2, 3, 2, 2), torch.float64).requires_grad_()
    _gradcheck(lambda x, b: au.adapool2d(x, 3, 2, beta=b, dsc=dsc, return_weights=True), (x, beta))


def test_gradcheck_return_weights_loss():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    r = torch.randn(2, 3, 2, 2, 9, dtype=torch.float64)

    def loss(x):
        y, w = au.adapool2d(x, 3, 2, return_weights=True)
        return y.sum() + (w * r).sum()

    _gradcheck(loss, (x,))


@pytest.mark.parametrize("wch", ["C", "1"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize(
    "dims,shape,kernel,stride,bigger",
    [pytest.param(*c.values, False, id=c.id) for c in GRAD_CASES]
    + [pytest.param(*c.values, True, id=c.id + "-bigger") for c in GRAD_CASES if c.values[0] == 2],
)  # an output_size larger than natural is checked in 2-d
def test_gradcheck_adaunpool(dims, shape, kernel, stride, mode, wch, bigger):
    k, s = _ks(dims, kernel, stride)
    y, w = _unpool_inputs(dims, shape, k, s, wch, torch.float64)
    y.requires_grad_()
    w.requires_grad_()
    size = tuple(v + sv - 1 for v, sv in zip(((o - 1) * sv + kv for o, sv, kv in zip(y.shape[2:], s, k)), s)) if bigger else None
    _gradcheck(lambda y, w: UNPOOL[dims](y, w, kernel, stride, mode=mode, output_size=size), (y, w))


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_gradcheck_pool_unpool_with_guide(mode, dsc):
    """Weights from a guiding tensor: the gradient reaches both x and the guide."""
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    guide = torch.randn(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)

    def chain(x, guide):
        _, w = au.adapool2d(guide, 3, 2, beta=0.5, dsc=dsc, return_weights=True)
        y = au.adapool2d(x, 3, 2, beta=0.5, dsc=dsc)
        return au.adaunpool2d(y, w, 3, 2, mode=mode, output_size=(5, 6))

    _gradcheck(chain, (x, guide))
    gx, gg = torch.autograd.grad(chain(x, guide).square().sum(), [x, guide])
    assert gg.abs().sum() > 0 and gx.abs().sum() > 0


# ------------------------------------------------ the gradient formulas of docs/OPS.md#gradients
def _spec_grads(X, G):
    """dL/dX of L = sum_c G_c y_c for one window X (C, K), from the formulas of docs/OPS.md#gradients.

    Returns (eM, element, channel, yD_element, yD_channel, yM) gradients/values, float64.
    """
    C, K = X.shape
    # eM: dy_c/dx_{k,c} = wM_k (1 + x_k - yM)
    wM = torch.softmax(X, -1)
    yM = (wM * X).sum(-1, keepdim=True)
    gM = G[:, None] * wM * (1 + X - yM)
    # element: dy/dx_k = wD_k + g_k a_k + (1/K) sum_i g_i b_i, per channel
    m = X.mean(-1, keepdim=True)
    q = X * X + m * m + EPS
    d = 2 * (X * m).abs() / q
    wD = torch.softmax(d, -1)
    yDe = (wD * X).sum(-1, keepdim=True)
    g = wD * (X - yDe)
    sg = torch.sign(X * m)
    a = (2 * sg * m - 2 * d * X) / q
    b = (2 * sg * X - 2 * d * m) / q
    gE = G[:, None] * (wD + g * a + (g * b).sum(-1, keepdim=True) / K)
    # channel: vectors over C
    mc = X.mean(-1)                                  # (C,)
    s = (X * mc[:, None]).sum(0)                     # (K,)
    qc = (X * X).sum(0) + (mc * mc).sum() + EPS      # (K,)
    dc = 2 * s.abs() / qc
    wc = torch.softmax(dc, -1)
    yDc = (X * wc).sum(-1)                           # (C,)
    h = (G[:, None] * X).sum(0)                      # (K,)
    r = wc * (h - (wc * h).sum())
    ac = (2 * torch.sign(s) * mc[:, None] - 2 * dc * X) / qc
    bc = (2 * torch.sign(s) * X - 2 * dc * mc[:, None]) / qc
    gC = G[:, None] * wc + r * ac + (r * bc).sum(-1, keepdim=True) / K
    return gM, gE, gC, yDe.squeeze(-1), yDc, yM.squeeze(-1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_spec_gradient_formulas(dtype):
    """The closed-form gradients of docs/OPS.md#gradients equal the op's autograd (one 2x3 window, C = 3)."""
    tol = F64 if dtype == torch.float64 else F32_GRAD
    X = torch.randn(3, 6, dtype=torch.float64)
    G = torch.randn(3, dtype=torch.float64)
    gM, gE, gC, yDe, yDc, yM = _spec_grads(X, G)
    x = X.view(1, 3, 2, 3).to(dtype).requires_grad_()
    Gv = G.view(1, 3, 1, 1).to(dtype)

    def grad_of(y):
        return torch.autograd.grad(y, x, Gv)[0].view(3, 6).double()

    torch.testing.assert_close(grad_of(au.empool2d(x, (2, 3))), gM, **tol)
    torch.testing.assert_close(grad_of(au.edscwpool2d(x, (2, 3), dsc="element")), gE, **tol)
    torch.testing.assert_close(grad_of(au.edscwpool2d(x, (2, 3), dsc="channel")), gC, **tol)
    beta = 0.35
    for dsc, gD, yD in (("element", gE, yDe), ("channel", gC, yDc)):
        torch.testing.assert_close(grad_of(au.adapool2d(x, (2, 3), beta=beta, dsc=dsc)),
                                   beta * gD + (1 - beta) * gM, **tol)
        # fusion: dy/dbeta = yD - yM, per channel
        b = torch.full((1, 3, 1, 1), beta, dtype=dtype, requires_grad=True)
        y = au.adapool2d(x, (2, 3), beta=b, dsc=dsc)
        gb, = torch.autograd.grad(y, b, torch.ones_like(y))
        torch.testing.assert_close(gb.flatten().double(), yD - yM, **tol)


# ==================================================================== compiled ops (opcheck)
def _ops():
    return torch.ops.adaunpool


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("dsc", [0, 1])
@pytest.mark.parametrize("return_weights", [True, False], ids=["w", "no-w"])
def test_opcheck_adapool_forward(compiled_backend, return_weights, dsc, dtype):
    x = torch.randn(2, 3, 1, 7, 8, dtype=dtype, requires_grad=True)
    b = torch.rand(1, 3, 1, 1, 1, dtype=dtype, requires_grad=True)
    beta = b.expand(2, 3, 1, 3, 3)  # y of a k=3, s=2 pooling: (2, 3, 1, 3, 3)
    torch.library.opcheck(_ops().adapool_forward.default, (x, [1, 3, 3], [1, 2, 2], beta, dsc, return_weights))


@pytest.mark.parametrize("dsc", [0, 1])
def test_opcheck_adapool_forward_3d_full_beta(compiled_backend, dsc):
    x = torch.randn(1, 2, 4, 5, 5, requires_grad=True)
    beta = torch.rand(1, 2, 2, 2, 2, requires_grad=True)
    torch.library.opcheck(_ops().adapool_forward.default, (x, [2, 3, 3], [2, 2, 2], beta, dsc, True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("dsc", [0, 1])
@pytest.mark.parametrize("with_grad_w", [True, False], ids=["gw", "no-gw"])
def test_opcheck_adapool_backward(compiled_backend, with_grad_w, dsc, dtype):
    x = torch.randn(2, 3, 1, 7, 8, dtype=dtype)
    beta = torch.rand(1, 3, 1, 1, 1, dtype=dtype).expand(2, 3, 1, 3, 3)
    gy = torch.randn(2, 3, 1, 3, 3, dtype=dtype)
    gw = torch.randn(2, 3, 1, 3, 3, 9, dtype=dtype) if with_grad_w else None
    torch.library.opcheck(_ops().adapool_backward.default, (gy, gw, x, [1, 3, 3], [1, 2, 2], beta, dsc))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("wch", [3, 1])
@pytest.mark.parametrize("mode", [0, 1])
def test_opcheck_adaunpool_forward(compiled_backend, mode, wch, dtype):
    y = torch.randn(2, 3, 1, 3, 3, dtype=dtype, requires_grad=True)
    w = torch.rand(2, wch, 1, 3, 3, 9, dtype=dtype, requires_grad=True)
    torch.library.opcheck(_ops().adaunpool_forward.default, (y, w, [1, 3, 3], [1, 2, 2], mode, [1, 8, 8]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("wch", [3, 1])
@pytest.mark.parametrize("mode", [0, 1])
def test_opcheck_adaunpool_backward(compiled_backend, mode, wch, dtype):
    gu = torch.randn(2, 3, 1, 8, 8, dtype=dtype)
    y = torch.randn(2, 3, 1, 3, 3, dtype=dtype)
    w = torch.rand(2, wch, 1, 3, 3, 9, dtype=dtype)
    torch.library.opcheck(_ops().adaunpool_backward.default, (gu, y, w, [1, 3, 3], [1, 2, 2], mode, [1, 8, 8]))


def test_compiled_ops_contract(compiled_backend):
    """Shapes and dtypes the four ops return, called directly on canonical 5-D tensors."""
    ops = _ops()
    x = torch.randn(2, 3, 1, 7, 8)
    beta = torch.full((1, 1, 1, 1, 1), 0.5).expand(2, 3, 1, 3, 3)
    y, w = ops.adapool_forward(x, [1, 3, 3], [1, 2, 2], beta, 1, False)
    assert y.shape == (2, 3, 1, 3, 3) and w.numel() == 0
    y, w = ops.adapool_forward(x, [1, 3, 3], [1, 2, 2], beta, 1, True)
    assert y.shape == (2, 3, 1, 3, 3) and w.shape == (2, 3, 1, 3, 3, 9) and w.dtype == x.dtype
    gx, gb = ops.adapool_backward(torch.ones_like(y), None, x, [1, 3, 3], [1, 2, 2], beta, 1)
    assert gx.shape == x.shape and gb.shape == y.shape and gb.dtype == torch.float32
    y_ref, w_ref = reference.adapool(x.double(), [1, 3, 3], [1, 2, 2], beta.double(), "channel", True)
    torch.testing.assert_close(y.double(), y_ref, **F32)
    torch.testing.assert_close(w.double(), w_ref, **F32)
    # half-precision x with a float32 beta
    yh, wh = ops.adapool_forward(x.half(), [1, 3, 3], [1, 2, 2], beta, 0, True)
    assert yh.dtype == wh.dtype == torch.float16
    for wch in (3, 1):
        wu = w[:, :wch].contiguous()
        u = ops.adaunpool_forward(y, wu, [1, 3, 3], [1, 2, 2], 0, [1, 8, 8])
        assert u.shape == (2, 3, 1, 8, 8)
        gy, gw = ops.adaunpool_backward(torch.ones_like(u), y, wu, [1, 3, 3], [1, 2, 2], 0, [1, 8, 8])
        assert gy.shape == y.shape and gw.shape == wu.shape


def test_compiled_path_is_used(compiled_backend, monkeypatch):
    """With the compiled backend, the public functions never fall through to the reference."""
    def boom(*args, **kwargs):
        raise AssertionError("reference called although the compiled backend is active")

    monkeypatch.setattr(reference, "adapool", boom)
    monkeypatch.setattr(reference, "adaunpool", boom)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    y, w = au.adapool2d(x, 2, return_weights=True)
    au.adaunpool2d(y, w, 2).sum().backward()
    au.adapool1d(torch.randn(1, 2, 6), 2)
    au.adapool3d(torch.randn(1, 2, 4, 4, 4), 2)


@pytest.mark.parametrize("case", ["kernel-rank", "kernel-too-big", "stride-0", "beta-shape", "w-K", "size"])
def test_compiled_ops_reject_bad_arguments(compiled_backend, case):
    """The raw ops check their arguments (an error, never a crash or an out-of-bounds write)."""
    ops = _ops()
    x = torch.randn(2, 3, 1, 7, 8)
    beta = torch.full((2, 3, 1, 3, 3), 0.5)
    y = torch.randn(2, 3, 1, 3, 3)
    w = torch.rand(2, 3, 1, 3, 3, 9)
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        if case == "kernel-rank":
            ops.adapool_forward(x, [3, 3], [2, 2], beta, 1, True)
        elif case == "kernel-too-big":
            ops.adapool_forward(x, [1, 9, 3], [1, 2, 2], beta, 1, True)
        elif case == "stride-0":
            ops.adapool_forward(x, [1, 3, 3], [1, 0, 2], beta, 1, True)
        elif case == "beta-shape":
            ops.adapool_forward(x, [1, 3, 3], [1, 2, 2], torch.full((2, 3, 1, 2, 2), 0.5), 1, True)
        elif case == "w-K":
            ops.adaunpool_forward(y, w[..., :4].contiguous(), [1, 3, 3], [1, 2, 2], 0, [1, 8, 8])
        elif case == "size":
            ops.adaunpool_forward(y, w, [1, 3, 3], [1, 2, 2], 0, [1, 20, 20])


# ============================================================================= torch.compile
def _pool_unpool(x, beta):
    y, w = au.adapool2d(x, 3, 2, beta=beta, return_weights=True)
    u = au.adaunpool2d(y, w, 3, 2, output_size=x.shape[2:])
    return u, y, w


def _compare_compiled(compiled, x, beta):
    r = [torch.randn(o.shape) for o in _pool_unpool(x, beta)]
    outs = []
    for fn in (_pool_unpool, compiled):
        xg, bg = x.clone().requires_grad_(), beta.clone().requires_grad_()
        res = fn(xg, bg)
        loss = sum((o * ri).sum() for o, ri in zip(res, r))
        outs.append((res, torch.autograd.grad(loss, [xg, bg])))
    (e_res, e_grad), (c_res, c_grad) = outs
    for a, b in zip(c_res + c_grad, e_res + e_grad):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_torch_compile_fullgraph_aot_eager(dynamic):
    torch._dynamo.reset()
    compiled = torch.compile(_pool_unpool, fullgraph=True, backend="aot_eager", dynamic=dynamic)
    _compare_compiled(compiled, torch.randn(2, 3, 9, 10), torch.rand(1, 3, 1, 1))
    # a second shape: recompiles (static) or reuses the symbolic graph (dynamic)
    _compare_compiled(compiled, torch.randn(1, 3, 11, 9), torch.rand(1, 3, 1, 1))


def test_torch_compile_fullgraph_inductor():
    torch._dynamo.reset()
    compiled = torch.compile(_pool_unpool, fullgraph=True)
    _compare_compiled(compiled, torch.randn(2, 3, 9, 10), torch.rand(1, 3, 1, 1))


# =============================================================================== bad input
def _x(*shape, dtype=torch.float32):
    return torch.randn(*shape).to(dtype)


BAD_POOL = [
    pytest.param(lambda: au.adapool2d(_x(3, 8, 8), 2), ValueError, r"x must be 4-D \(N, C, H, W\)", id="rank-2d"),
    pytest.param(lambda: au.adapool1d(_x(1, 3, 8, 8), 2), ValueError, r"x must be 3-D \(N, C, L\)", id="rank-1d"),
    pytest.param(lambda: au.adapool3d(_x(1, 3, 8, 8), 2), ValueError, r"x must be 5-D \(N, C, D, H, W\)", id="rank-3d"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 3, 8), 4), ValueError, "kernel_size", id="kernel-too-big"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), (2, 2, 2)), ValueError, "kernel_size", id="kernel-len"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 0), ValueError, "kernel_size", id="kernel-0"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, 0), ValueError, "stride", id="stride-0"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, (1, -1)), ValueError, "stride", id="stride-neg"),
    pytest.param(lambda: au.adapool2d(torch.ones(1, 3, 8, 8, dtype=torch.int64), 2), TypeError, "floating", id="int-dtype"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, beta=1.5), ValueError, "beta", id="beta-1.5"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, beta=-0.1), ValueError, "beta", id="beta-neg"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, beta=torch.rand(1, 5, 1, 1)), ValueError, "beta", id="beta-shape"),
    pytest.param(lambda: au.adapool2d(_x(2, 3, 8, 8), 2, beta=torch.rand(3, 3, 4, 4)), ValueError, "beta", id="beta-batch"),
    pytest.param(lambda: au.adapool2d(_x(1, 3, 8, 8), 2, dsc="foo"), ValueError, "dsc", id="dsc"),
    pytest.param(lambda: au.edscwpool2d(_x(1, 3, 8, 8), 2, dsc="foo"), ValueError, "dsc", id="edscw-dsc"),
]


@pytest.mark.parametrize("call,exc,match", BAD_POOL)
def test_bad_pool_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _yw(c=3, wc=None, K=4, out=(4, 4)):
    return torch.randn(2, c, *out), torch.rand(2, c if wc is None else wc, *out, K)


BAD_UNPOOL = [
    pytest.param(lambda: au.adaunpool2d(*_yw(), 2, mode="foo"), ValueError, "mode", id="mode"),
    pytest.param(lambda: au.adaunpool2d(*_yw(K=9), 2), ValueError, r"\bw\b", id="w-K"),
    pytest.param(lambda: au.adaunpool2d(*_yw(wc=2), 2), ValueError, r"\bw\b", id="w-channels"),
    pytest.param(lambda: au.adaunpool2d(_yw()[0], _yw(out=(4, 3))[1], 2), ValueError, r"\bw\b", id="w-spatial"),
    pytest.param(lambda: au.adaunpool2d(_yw()[0], torch.rand(1, 3, 4, 4, 4), 2), ValueError, r"\bw\b", id="w-batch"),
    pytest.param(lambda: au.adaunpool2d(_yw()[0], torch.rand(2, 3, 4, 4), 2), ValueError, r"\bw\b", id="w-rank"),
    pytest.param(lambda: au.adaunpool2d(torch.randn(3, 4, 4), _yw()[1], 2), ValueError, r"y must be 4-D", id="y-rank"),
    pytest.param(lambda: au.adaunpool2d(*_yw(), 2, output_size=(10, 8)), ValueError, "output_size", id="size-big"),
    pytest.param(lambda: au.adaunpool2d(*_yw(), 2, output_size=(7, 8)), ValueError, "output_size", id="size-small"),
    pytest.param(lambda: au.adaunpool2d(*_yw(), 2, output_size=(8,)), ValueError, "output_size", id="size-len"),
    pytest.param(lambda: au.adaunpool2d(torch.ones(2, 3, 4, 4, dtype=torch.int32), _yw()[1], 2), TypeError, "floating", id="y-int"),
    pytest.param(lambda: au.adaunpool2d(_yw()[0], torch.ones(2, 3, 4, 4, 4, dtype=torch.int64), 2), TypeError, "floating", id="w-int"),
    pytest.param(lambda: au.adaunpool2d(*_yw(), 2, stride=0), ValueError, "stride", id="stride-0"),
]


@pytest.mark.parametrize("call,exc,match", BAD_UNPOOL)
def test_bad_unpool_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_output_size_accepts_full_shape():
    y, w = _yw()
    torch.testing.assert_close(au.adaunpool2d(y, w, 2, output_size=(2, 3, 9, 9)),
                               au.adaunpool2d(y, w, 2, output_size=(9, 9)))


def test_backend_info():
    info = au.backend_info()
    assert isinstance(info, dict)
    assert info["backend"] in ("compiled", "reference")
    import os
    if os.environ.get("ADAUNPOOL_BACKEND", "").strip().lower() != "reference":
        assert info["backend"] == "compiled", info


def test_double_backward_raises_clearly():
    if au.backend_info()["backend"] != "compiled":
        pytest.skip("double backward is supported by the reference backend")
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(au.adapool2d(x, 2).sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        g.sum().backward()
    y = torch.randn(1, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 2, 2, 4, dtype=torch.float64)
    (gy,) = torch.autograd.grad(au.adaunpool2d(y, w, 2).pow(2).sum(), y, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        gy.sum().backward()
