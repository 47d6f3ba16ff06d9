"""AdaPool / AdaUnPool on CUDA: the key comparisons of test_ops.py, against the CPU float64 reference.

Every test here is marked ``cuda`` and skips without a GPU (see conftest.py). The compiled CUDA
kernels are built with ``--use_fast_math``; __expf and __fdividef lose a few ulps for the arguments
seen here (max-subtracted exponents of N(0, 1) data), far inside the float32 tolerance below.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import pytest
import torch

import adaunpool as au

try:  # the helpers of test_ops.py (same folder; pytest's default import mode puts it on sys.path)
    import test_ops as T
except ImportError:  # e.g. --import-mode=importlib
    _spec = importlib.util.spec_from_file_location("_adaunpool_test_ops", pathlib.Path(__file__).with_name("test_ops.py"))
    T = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(T)

pytestmark = pytest.mark.cuda

POOL, UNPOOL = T.POOL, T.UNPOOL
DSC = T.DSC
# float32 on the GPU vs the float64 reference: as on the CPU (test_ops.F32), with 2x room for fast-math.
CUDA_F32 = dict(rtol=2e-5, atol=2e-6)
CUDA_F32_GRAD = dict(rtol=2e-4, atol=2e-5)
LOWP_RTOL = T.LOWP_RTOL  # one rounding of a float32 result: see test_ops.py for the measurement
DEV = "cuda"


@pytest.fixture
def cuda_kernels(compiled_backend):
    """The compiled ops with their CUDA kernels (fails when they were not built, see conftest)."""
    from adaunpool._loader import backend_info

    info = backend_info()
    assert info["cuda_kernels"], f"the compiled library has no CUDA kernels: {info}"
    return info


def test_backend_has_cuda_kernels():
    info = au.backend_info()
    assert info["cuda_available"]
    if os.environ.get("ADAUNPOOL_BACKEND", "").strip().lower() != "reference":
        assert info["backend"] == "compiled" and info["cuda_kernels"], info


def _ref_grads(x, kernel, stride, beta, dsc, gy, gw):
    """float64 CPU reference outputs and gradients (x and, if a tensor, beta)."""
    x64 = x.detach().cpu().double().requires_grad_()
    inputs = [x64]
    b64 = beta
    if isinstance(beta, torch.Tensor):
        b64 = beta.detach().cpu().double().requires_grad_()
        inputs.append(b64)
    y, w = T.ref_adapool(x64, kernel, stride, b64, dsc, return_weights=True)
    grads = torch.autograd.grad([y, w], inputs, [gy.cpu().double(), gw.cpu().double()])
    return y.detach(), w.detach(), grads


@pytest.mark.parametrize("beta_kind", ["float", "channel", "full"])
@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", T.POOL_CASES)
def test_cuda_adapool_fp32_matches_reference(dims, shape, kernel, stride, dsc, beta_kind):
    k, s = T._ks(dims, kernel, stride)
    y_shape = tuple(shape[:2]) + T.out_size(shape[2:], k, s)
    x = torch.randn(shape, device=DEV, requires_grad=True)
    beta = T.make_beta(beta_kind, y_shape, device=DEV)
    inputs = [x]
    if isinstance(beta, torch.Tensor):
        beta.requires_grad_()
        inputs.append(beta)
    y, w = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    assert y.device == w.device == x.device
    gy, gw = torch.randn_like(y), torch.randn_like(w)
    grads = torch.autograd.grad([y, w], inputs, [gy, gw])
    y_r, w_r, grads_r = _ref_grads(x, kernel, stride, beta, dsc, gy, gw)
    torch.testing.assert_close(y.detach().cpu().double(), y_r, **CUDA_F32)
    torch.testing.assert_close(w.detach().cpu().double(), w_r, **CUDA_F32)
    for a, b in zip(grads, grads_r):
        torch.testing.assert_close(a.cpu().double(), b, **CUDA_F32_GRAD)
    y_only = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc)
    torch.testing.assert_close(y_only, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("dims,shape,kernel,stride", [T.POOL_CASES[1], T.POOL_CASES[3], T.POOL_CASES[4], T.POOL_CASES[10]])
def test_cuda_low_precision_matches_reference(dims, shape, kernel, stride, dtype, dsc):
    """fp16/bf16 storage: the reference on the same rounded values, up to one output rounding."""
    rtol = LOWP_RTOL[dtype]
    scale = 4.0
    x = (torch.randn(shape, device=DEV) * scale).to(dtype).requires_grad_()
    beta = torch.rand(1, shape[1], *([1] * dims), device=DEV)
    y, w = POOL[dims](x, kernel, stride, beta=beta, dsc=dsc, return_weights=True)
    assert y.dtype == w.dtype == dtype
    gy, gw = torch.randn(y.shape, device=DEV).to(dtype), torch.randn(w.shape, device=DEV).to(dtype)
    gx, = torch.autograd.grad([y, w], [x], [gy, gw])
    assert gx.dtype == dtype
    x64 = x.detach().cpu().double().requires_grad_()
    y_r, w_r = T.ref_adapool(x64, kernel, stride, beta.cpu(), dsc, return_weights=True)
    gx_r, = torch.autograd.grad([y_r, w_r], [x64], [gy.cpu().double(), gw.cpu().double()])
    torch.testing.assert_close(y.detach().cpu().double(), y_r.detach(), rtol=rtol, atol=2e-5 * scale)
    torch.testing.assert_close(w.detach().cpu().double(), w_r.detach(), rtol=rtol, atol=2e-6)
    torch.testing.assert_close(gx.cpu().double(), gx_r, rtol=rtol, atol=2e-4 * gx_r.abs().max().item())
    # unpool in the storage dtype
    yd, wd = y.detach(), w.detach()
    for mode in ("mean", "sum"):
        u = UNPOOL[dims](yd, wd, kernel, stride, mode=mode)
        assert u.dtype == dtype
        u_r = T.ref_adaunpool(yd.cpu(), wd.cpu(), kernel, stride, mode)
        torch.testing.assert_close(u.cpu().double(), u_r, rtol=rtol, atol=2e-5 * scale)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=["fp16", "bf16", "fp32"])
def test_cuda_large_values(dtype, dsc):
    scale = 1e4 if dtype == torch.float32 else 60.0
    x = ((torch.rand(2, 3, 9, 9, device=DEV) * 0.2 + 0.8) * scale * torch.sign(torch.randn(2, 3, 9, 9, device=DEV))).to(dtype)
    x.requires_grad_()
    y, w = au.adapool2d(x, 3, 2, dsc=dsc, return_weights=True)
    assert torch.isfinite(y).all() and torch.isfinite(w).all()
    gx, = torch.autograd.grad(y.float().sum(), x)
    assert torch.isfinite(gx).all()
    y_r = T.ref_adapool(x.detach().cpu(), 3, 2, 0.5, dsc)
    rtol = LOWP_RTOL.get(dtype, 1e-5)
    torch.testing.assert_close(y.detach().cpu().double(), y_r, rtol=rtol, atol=1e-5 * scale)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_cuda_zero_windows_and_empty_batch(dims):
    x = torch.zeros((2, 3) + (4,) * dims, device=DEV, requires_grad=True)
    for dsc in DSC:
        y, w = POOL[dims](x, 2, dsc=dsc, return_weights=True)
        assert (y == 0).all()
        torch.testing.assert_close(w, torch.full_like(w, 1 / 2 ** dims))
        g, = torch.autograd.grad(y.sum() + w.square().sum(), x)
        assert torch.isfinite(g).all()
    x0 = torch.randn((0, 3) + (6,) * dims, device=DEV, requires_grad=True)
    y0, w0 = POOL[dims](x0, 3, 2, return_weights=True)
    assert y0.shape == (0, 3) + (2,) * dims
    UNPOOL[dims](y0, w0, 3, 2, output_size=(6,) * dims).sum().backward()
    assert x0.grad.shape == x0.shape


@pytest.mark.parametrize("wch", ["C", "1"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("dims,shape,kernel,stride", T.UNPOOL_CASES)
def test_cuda_adaunpool_matches_reference(dims, shape, kernel, stride, mode, wch):
    """Batch > 1 (the original release raced every (n, c) onto batch 0's weights) and overlaps."""
    k, s = T._ks(dims, kernel, stride)
    y, w = T._unpool_inputs(dims, (4,) + tuple(shape[1:]), k, s, wch)
    y, w = y.to(DEV).requires_grad_(), w.to(DEV).requires_grad_()
    u = UNPOOL[dims](y, w, kernel, stride, mode=mode)
    gu = torch.randn_like(u)
    gy, gw = torch.autograd.grad(u, [y, w], gu)
    y64, w64 = y.detach().cpu().double().requires_grad_(), w.detach().cpu().double().requires_grad_()
    u_r = T.ref_adaunpool(y64, w64, kernel, stride, mode)
    gy_r, gw_r = torch.autograd.grad(u_r, [y64, w64], gu.cpu().double())
    torch.testing.assert_close(u.detach().cpu().double(), u_r.detach(), **CUDA_F32)
    torch.testing.assert_close(gy.cpu().double(), gy_r, **CUDA_F32_GRAD)
    torch.testing.assert_close(gw.cpu().double(), gw_r, **CUDA_F32_GRAD)
    # each batch element on its own gives the same
    for n in range(4):
        un = UNPOOL[dims](y[n:n + 1].detach(), w[n:n + 1].detach(), kernel, stride, mode=mode)
        torch.testing.assert_close(un, u[n:n + 1].detach(), rtol=1e-6, atol=1e-6)


def test_cuda_matches_cpu_kernels():
    x = torch.randn(3, 5, 17, 19)
    beta = torch.rand(1, 5, 1, 1)
    for dsc in DSC:
        yc, wc = au.adapool2d(x, 3, 2, beta=beta, dsc=dsc, return_weights=True)
        yg, wg = au.adapool2d(x.to(DEV), 3, 2, beta=beta.to(DEV), dsc=dsc, return_weights=True)
        torch.testing.assert_close(yg.cpu(), yc, **CUDA_F32)
        torch.testing.assert_close(wg.cpu(), wc, **CUDA_F32)
        torch.testing.assert_close(au.adaunpool2d(yg, wg, 3, 2).cpu(), au.adaunpool2d(yc, wc, 3, 2), **CUDA_F32)


@pytest.mark.parametrize("dsc", DSC)
@pytest.mark.parametrize("dims,shape,kernel,stride", T.GRAD_CASES)
def test_cuda_gradcheck_adapool(dims, shape, kernel, stride, dsc):
    x = torch.randn(shape, dtype=torch.float64, device=DEV, requires_grad=True)
    T._gradcheck(lambda x: POOL[dims](x, kernel, stride, beta=0.4, dsc=dsc, return_weights=True), (x,))
    b = torch.rand(1, shape[1], *([1] * dims), dtype=torch.float64, device=DEV, requires_grad=True)
    T._gradcheck(lambda x, b: POOL[dims](x, kernel, stride, beta=b, dsc=dsc), (x, b))


@pytest.mark.parametrize("wch", ["C", "1"])
@pytest.mark.parametrize("mode", ["mean", "sum"])
@pytest.mark.parametrize("dims,shape,kernel,stride", T.GRAD_CASES)
def test_cuda_gradcheck_adaunpool(dims, shape, kernel, stride, mode, wch):
    k, s = T._ks(dims, kernel, stride)
    y, w = T._unpool_inputs(dims, shape, k, s, wch, torch.float64)
    y, w = y.to(DEV).requires_grad_(), w.to(DEV).requires_grad_()
    T._gradcheck(lambda y, w: UNPOOL[dims](y, w, kernel, stride, mode=mode), (y, w))


def test_cuda_gradcheck_guided_chain():
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, device=DEV, requires_grad=True)
    guide = torch.randn(1, 1, 5, 6, dtype=torch.float64, device=DEV, requires_grad=True)

    def chain(x, guide):
        _, w = au.adapool2d(guide, 3, 2, return_weights=True)
        return au.adaunpool2d(au.adapool2d(x, 3, 2), w, 3, 2, output_size=(5, 6))

    T._gradcheck(chain, (x, guide))


# ------------------------------------------------------------------------------------ opcheck
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16], ids=["f32", "f64", "f16"])
@pytest.mark.parametrize("dsc", [0, 1])
@pytest.mark.parametrize("return_weights", [True, False], ids=["w", "no-w"])
def test_cuda_opcheck_adapool(cuda_kernels, return_weights, dsc, dtype):
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    x = torch.randn(2, 3, 1, 7, 8, dtype=dtype, device=DEV, requires_grad=True)
    beta = torch.rand(1, 3, 1, 1, 1, dtype=acc, device=DEV, requires_grad=True).expand(2, 3, 1, 3, 3)
    ops = torch.ops.adaunpool
    torch.library.opcheck(ops.adapool_forward.default, (x, [1, 3, 3], [1, 2, 2], beta, dsc, return_weights))
    gy = torch.randn(2, 3, 1, 3, 3, dtype=dtype, device=DEV)
    gw = torch.randn(2, 3, 1, 3, 3, 9, dtype=dtype, device=DEV) if return_weights else None
    torch.library.opcheck(ops.adapool_backward.default, (gy, gw, x.detach(), [1, 3, 3], [1, 2, 2], beta.detach(), dsc))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=["f32", "f64", "bf16"])
@pytest.mark.parametrize("wch", [3, 1])
@pytest.mark.parametrize("mode", [0, 1])
def test_cuda_opcheck_adaunpool(cuda_kernels, mode, wch, dtype):
    y = torch.randn(2, 3, 1, 3, 3, dtype=dtype, device=DEV, requires_grad=True)
    w = torch.rand(2, wch, 1, 3, 3, 9, dtype=dtype, device=DEV, requires_grad=True)
    ops = torch.ops.adaunpool
    torch.library.opcheck(ops.adaunpool_forward.default, (y, w, [1, 3, 3], [1, 2, 2], mode, [1, 8, 8]))
    gu = torch.randn(2, 3, 1, 8, 8, dtype=dtype, device=DEV)
    torch.library.opcheck(ops.adaunpool_backward.default, (gu, y.detach(), w.detach(), [1, 3, 3], [1, 2, 2], mode, [1, 8, 8]))


# ------------------------------------------------------------------------ layout and streams
@pytest.mark.parametrize("layout", ["transposed", "sliced", "channels_last"])
@pytest.mark.parametrize("dims", [2, 3])
def test_cuda_noncontiguous_inputs(dims, layout):
    x = torch.randn((2, 5) + (9,) * dims, device=DEV)
    xv = T._permuted(x, layout)
    assert xv.device == x.device
    assert torch.equal(xv, x) and not xv.is_contiguous()
    xa, xb = x.clone().requires_grad_(), xv.detach().requires_grad_()
    ya, wa = POOL[dims](xa, 3, 2, return_weights=True)
    yb, wb = POOL[dims](xb, 3, 2, return_weights=True)
    torch.testing.assert_close(yb, ya, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(wb, wa, rtol=1e-6, atol=1e-6)
    gy, gw = torch.randn_like(ya), torch.randn_like(wa)
    ga, = torch.autograd.grad([ya, wa], [xa], [gy, gw])
    gb, = torch.autograd.grad([yb, wb], [xb], [gy.transpose(-1, -2).contiguous().transpose(-1, -2), gw])
    torch.testing.assert_close(gb, ga, rtol=1e-5, atol=1e-6)
    w1 = wa.detach()[:, :1]
    torch.testing.assert_close(UNPOOL[dims](ya.detach().transpose(-1, -2).contiguous().transpose(-1, -2), w1.expand_as(wa), 3, 2),
                               UNPOOL[dims](ya.detach(), w1.expand_as(wa).contiguous(), 3, 2), rtol=1e-6, atol=1e-6)


def test_cuda_respects_current_stream():
    """Kernels run on the current stream: queued behind a long kernel that writes their input."""
    x_true = torch.randn(4, 16, 64, 64, device=DEV)
    expected_y, expected_w = au.adapool2d(x_true, 3, 2, return_weights=True)
    expected_u = au.adaunpool2d(expected_y, expected_w, 3, 2, output_size=(64, 64))
    torch.cuda.synchronize()
    x = torch.zeros_like(x_true)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        torch.cuda._sleep(200_000_000)   # ~0.1 s of spinning on s before x gets its values
        x.copy_(x_true)
        xg = x.requires_grad_()
        y, w = au.adapool2d(xg, 3, 2, return_weights=True)
        u = au.adaunpool2d(y, w, 3, 2, output_size=(64, 64))
        gx, = torch.autograd.grad(u.sum(), xg)
    s.synchronize()
    torch.testing.assert_close(y.detach(), expected_y)
    torch.testing.assert_close(w.detach(), expected_w)
    torch.testing.assert_close(u.detach(), expected_u)
    x_ref = x_true.clone().requires_grad_()
    yr, wr = au.adapool2d(x_ref, 3, 2, return_weights=True)
    gx_ref, = torch.autograd.grad(au.adaunpool2d(yr, wr, 3, 2, output_size=(64, 64)).sum(), x_ref)
    torch.cuda.synchronize()
    torch.testing.assert_close(gx, gx_ref)


def test_cuda_device_mismatch_raises():
    x = torch.randn(1, 3, 8, 8, device=DEV)
    with pytest.raises(ValueError, match="beta"):
        au.adapool2d(x, 2, beta=torch.rand(1, 3, 1, 1))
    y, w = au.adapool2d(x, 2, return_weights=True)
    with pytest.raises(ValueError, match=r"\bw\b"):
        au.adaunpool2d(y, w.cpu(), 2)


def test_cuda_torch_compile_fullgraph():
    torch._dynamo.reset()
    compiled = torch.compile(T._pool_unpool, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, 3, 9, 10, device=DEV)
    beta = torch.rand(1, 3, 1, 1, device=DEV)
    r = [torch.randn(o.shape, device=DEV) for o in T._pool_unpool(x, beta)]
    res = []
    for fn in (T._pool_unpool, compiled):
        xg, bg = x.clone().requires_grad_(), beta.clone().requires_grad_()
        out = fn(xg, bg)
        res.append(list(out) + list(torch.autograd.grad(sum((o * ri).sum() for o, ri in zip(out, r)), [xg, bg])))
    for a, b in zip(res[1], res[0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------- a 4K frame
FRAME = (1, 64, 2160, 3840)


def test_cuda_4k_fp16_matches_chunked():
    """1x64x2160x3840 fp16 (530M elements): the whole frame equals the frame pooled in row bands.

    A band's windows use only its own rows, so any indexing that goes wrong far into the tensor
    (offsets past 2^31 bytes) shows up as a difference from the small, band-sized calls.
    """
    if torch.cuda.get_device_properties(0).total_memory < 16 * 2**30:
        pytest.skip("needs 16 GiB of GPU memory")
    torch.manual_seed(0)
    x = torch.randn(*FRAME, device=DEV, dtype=torch.float16)
    for k, s in ((2, 2), (3, 2)):
        y, w = au.adapool2d(x, k, s, return_weights=True)
        oh = y.shape[2]
        assert y.shape == (1, 64, (FRAME[2] - k) // s + 1, (FRAME[3] - k) // s + 1) and torch.isfinite(y).all()
        band = 135  # output rows per band
        for r0 in range(0, oh, band):
            r1 = min(r0 + band, oh)
            xb = x[:, :, r0 * s:(r1 - 1) * s + k]
            yb, wb = au.adapool2d(xb, k, s, return_weights=True)
            # the same maths on the same values: any index error would be O(1), far above this
            torch.testing.assert_close(yb, y[:, :, r0:r1], rtol=1e-3, atol=1e-3)
            torch.testing.assert_close(wb, w[:, :, r0:r1], rtol=1e-3, atol=1e-3)
        u = au.adaunpool2d(y, w, k, s, output_size=FRAME[2:])
        assert u.shape == x.shape
        # the last 3 x 8 windows (the far end of the tensor) against the float64 reference
        ow = y.shape[3]
        r0, c0 = oh - 3, ow - 8
        corner = x[:, :, r0 * s:(oh - 1) * s + k, c0 * s:(ow - 1) * s + k]
        y_r, w_r = T.ref_adapool(corner.cpu(), k, s, 0.5, "channel", return_weights=True)
        torch.testing.assert_close(y[:, :, r0:, c0:].cpu().double(), y_r, rtol=LOWP_RTOL[torch.float16], atol=1e-4)
        torch.testing.assert_close(w[:, :, r0:, c0:].cpu().double(), w_r, rtol=LOWP_RTOL[torch.float16], atol=1e-5)
        # and the unpooled corner against unpooling the corner alone
        torch.testing.assert_close(u[:, :, r0 * s:(oh - 1) * s + k, c0 * s:(ow - 1) * s + k][:, :, s:, s:].cpu().double(),
                                   T.ref_adaunpool(y[:, :, r0:, c0:].cpu(), w[:, :, r0:, c0:].cpu(), k, s)[:, :, s:, s:],
                                   rtol=LOWP_RTOL[torch.float16], atol=1e-3)
        del y, w, u
        torch.cuda.empty_cache()
