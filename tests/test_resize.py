"""inter4k.data.resize: MATLAB-compatible bicubic imresize and the BT.601 luma.

The oracle is an independent, deliberately plain float64 loop written here from MATLAB's published
``imresize`` algorithm (``contributions()`` and ``cubic()`` in imresize.m), plus values worked out
by hand from the cubic kernel (a = -0.5): the 16 taps of the x4 antialiased downscale, the 4 taps
of the x4 downscale without antialiasing, the x2 upscale of an impulse, linear and quadratic
reproduction. OpenCV (a = -0.75) is a loose cross-check only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from inter4k.data.resize import contributions, imresize, imresize_np, output_size, rgb_to_y


# ---------------------------------------------------------------------------------------------
# the oracle: MATLAB's algorithm, one output pixel at a time, 1-based like the original
# ---------------------------------------------------------------------------------------------

def _cubic(t: float) -> float:
    a = abs(t)
    if a <= 1:
        return 1.5 * a ** 3 - 2.5 * a ** 2 + 1
    if a <= 2:
        return -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2
    return 0.0


def _resize_line(line: list[float], out_len: int, scale: float, antialias: bool) -> list[float]:
    n = len(line)
    width = 4.0
    if scale < 1 and antialias:
        def h(t):
            return scale * _cubic(scale * t)
        width = 4.0 / scale
    else:
        h = _cubic
    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = math.ceil(width) + 2
        idx = [left + k for k in range(taps)]
        w = [h(u - i) for i in idx]
        total = sum(w)
        acc = 0.0
        for i, wi in zip(idx, w):
            # symmetric extension: 1..n, n..1, 1..n, ...
            j = (i - 1) % (2 * n)
            j = j if j < n else 2 * n - 1 - j
            acc += wi / total * line[j]
        out.append(acc)
    return out


def _u8(m):
    """MATLAB's double -> uint8: saturate, round half away from zero."""
    return [[float(min(255, max(0, math.floor(v + 0.5)))) for v in r] for r in m]


def reference_imresize(img: np.ndarray, scale=None, size=None, antialias=True, uint8=False,
                       order=None) -> np.ndarray:
    """MATLAB's imresize; with uint8=True each 1-D pass returns uint8, as imresizemex does."""
    h, w = img.shape
    if scale is not None:
        sh = sw = scale
        oh, ow = math.ceil(sh * h), math.ceil(sw * w)
    else:
        oh, ow = size
        sh, sw = oh / h, ow / w
    a = img.astype(np.float64).tolist()

    def rows(m, out_len, s):
        out = [_resize_line(r, out_len, s, antialias) for r in m]
        return _u8(out) if uint8 else out

    def cols(m, out_len, s):
        t = [list(c) for c in zip(*m)]
        return [list(r) for r in zip(*rows(t, out_len, s))]

    if order is None:  # MATLAB resizes the dimension with the smaller scale first
        order = "wh" if sw < sh else "hw"
    if order == "wh":
        a = cols(rows(a, ow, sw), oh, sh)
    else:
        a = rows(cols(a, oh, sh), ow, sw)
    return np.array(a, dtype=np.float64)


CASES = [
    ((17, 23), dict(scale=0.25)),
    ((18, 24), dict(scale=1 / 3)),
    ((20, 16), dict(scale=0.5)),
    ((13, 11), dict(scale=0.37)),
    ((9, 7), dict(scale=2)),
    ((8, 6), dict(scale=3)),
    ((7, 9), dict(scale=1.7)),
    ((12, 20), dict(size=(5, 31))),  # height shrinks, width grows: width's scale is larger
    ((12, 20), dict(size=(30, 4))),  # width shrinks more: MATLAB resizes the width first
    ((16, 16), dict(scale=0.25, antialias=False)),
    ((5, 40), dict(scale=0.1)),      # a kernel 40 wide on a 5-pixel line: repeated mirroring
]


@pytest.mark.parametrize("shape,kw", CASES, ids=[f"{s[0]}x{s[1]}-{k}" for s, k in CASES])
def test_matches_the_matlab_loop_float64(shape, kw):
    rng = np.random.default_rng(sum(shape))
    img = rng.random(shape)
    ref = reference_imresize(img, **kw)
    out = imresize(torch.from_numpy(img), **kw).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_float32_close_to_float64_reference():
    rng = np.random.default_rng(1)
    img = rng.random((24, 28))
    ref = reference_imresize(img, scale=0.25)
    out = imresize(torch.from_numpy(img).float(), scale=0.25)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=2e-6)


def test_constant_image_stays_constant():
    for kw in (dict(scale=0.25), dict(scale=1 / 3), dict(scale=2), dict(size=(7, 13)), dict(scale=0.3)):
        x = torch.full((2, 3, 24, 30), 0.3717, dtype=torch.float64)
        y = imresize(x, **kw)
        torch.testing.assert_close(y, torch.full_like(y, 0.3717), rtol=0, atol=1e-14)


def test_x4_downscale_of_a_linear_ramp():
    # interior output j sits at input coordinate 4j + 1.5 (0-based); a symmetric, normalised kernel
    # reproduces a linear function exactly there
    w = 64
    ramp = torch.arange(w, dtype=torch.float64).expand(8, w)
    out = imresize(ramp, scale=0.25)
    assert out.shape == (2, 16)
    j = torch.arange(16, dtype=torch.float64)
    interior = slice(2, 14)  # the 16-tap kernel reaches 8 input pixels: 2 output pixels of border
    torch.testing.assert_close(out[0, interior], (4 * j + 1.5)[interior], rtol=0, atol=1e-12)


# The 16 taps of the x4 antialiased downscale, by hand: output j (0-based) reads inputs
# 4j-6 .. 4j+9, at distances t = 7.5, 6.5, ..., 0.5, 0.5, ..., 7.5 from its centre 4j+1.5, with
# weight cubic(t/4)/4; e.g. t = 0.5: (1.5/512 - 2.5/64 + 1)/4 = 987/4096. They sum to 4096/4096.
X4_TAPS = np.array([-7, -45, -75, -49, 93, 399, 745, 987, 987, 745, 399, 93, -49, -75, -45, -7]) / 4096


def test_x4_antialiased_downscale_is_the_16_tap_block_sum():
    assert X4_TAPS.sum() == 1.0
    rng = np.random.default_rng(4)
    img = rng.random((40, 48))
    out = imresize(torch.from_numpy(img), scale=0.25).numpy()
    assert out.shape == (10, 12)
    for j in range(2, 8):      # interior rows: all taps inside the image
        for i in range(2, 10):
            block = img[4 * j - 6: 4 * j + 10, 4 * i - 6: 4 * i + 10]
            expected = X4_TAPS @ block @ X4_TAPS
            assert out[j, i] == pytest.approx(expected, abs=1e-13)
    w, ind = contributions(48, 12, 0.25)
    np.testing.assert_allclose(w[5], X4_TAPS, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ind[5], np.arange(4 * 5 - 6, 4 * 5 + 10))


def test_x4_downscale_without_antialiasing_uses_4_taps():
    # kernel not widened: taps at distances 1.5, 0.5, 0.5, 1.5 -> -1/16, 9/16, 9/16, -1/16
    rng = np.random.default_rng(5)
    img = rng.random((1, 32))
    out = imresize(torch.from_numpy(img), scale=(1, 0.25), antialias=False).numpy()[0]
    taps = np.array([-1, 9, 9, -1]) / 16
    for j in range(1, 7):
        assert out[j] == pytest.approx(taps @ img[0, 4 * j: 4 * j + 4], abs=1e-14)


def test_symmetric_border_at_the_first_output_pixel():
    # x4, output 0: inputs -6..9, the 6 outside mirror to 5, 4, ..., 0 (half-sample symmetric)
    rng = np.random.default_rng(6)
    line = rng.random(32)
    out = imresize(torch.from_numpy(line[None, :]), scale=(1, 0.25)).numpy()[0]
    src = np.concatenate([line[5::-1], line[:10]])
    assert out[0] == pytest.approx(X4_TAPS @ src, abs=1e-14)


def test_x2_upscale_of_an_impulse_gives_the_kernel_at_quarter_offsets():
    # output pixels sit at input coordinates p -+ 0.25, p -+ 0.75, ...: cubic(0.25) = 111/128,
    # cubic(0.75) = 29/128, cubic(1.25) = -9/128, cubic(1.75) = -3/128
    line = np.zeros((1, 16))
    line[0, 8] = 1.0
    out = imresize(torch.from_numpy(line), scale=(1, 2)).numpy()[0]
    assert out.shape == (32,)
    expected = np.zeros(32)
    expected[[16, 17]] = 111 / 128
    expected[[15, 18]] = 29 / 128
    expected[[14, 19]] = -9 / 128
    expected[[13, 20]] = -3 / 128
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


def test_upscale_reproduces_a_quadratic_in_the_interior():
    # Keys' a = -0.5 kernel is exact on quadratics; output x (1-based) samples u = x/2 + 0.25
    n = 20
    i = np.arange(n, dtype=np.float64)
    out = imresize(torch.from_numpy((i ** 2)[None, :]), scale=(1, 2)).numpy()[0]
    u = np.arange(1, 2 * n + 1) / 2 + 0.25 - 1  # 0-based input coordinate
    np.testing.assert_allclose(out[4:-4], (u ** 2)[4:-4], rtol=0, atol=1e-10)


def test_output_shape_rules():
    assert output_size((216, 384), scale=1 / 3)[0] == (72, 128)
    assert output_size((7, 5), scale=0.5)[0] == (4, 3)        # ceil(3.5), ceil(2.5)
    assert output_size((5, 5), scale=1.5)[0] == (8, 8)        # ceil(7.5)
    assert output_size((2160, 3840), scale=0.25)[0] == (540, 960)
    assert output_size((10, 20), size=(None, 10)) == ((5, 10), (0.5, 0.5))
    assert output_size((10, 20), size=(30, None)) == ((30, 60), (3.0, 3.0))
    assert imresize(torch.rand(2, 3, 7, 5), scale=0.5).shape == (2, 3, 4, 3)
    assert imresize(torch.rand(3, 10, 12), size=(4, 20)).shape == (3, 4, 20)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.rand(4, 4), scale=2, size=(8, 8))
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.rand(4, 4))
    with pytest.raises(ValueError, match="positive"):
        imresize(torch.rand(4, 4), scale=0)
    with pytest.raises(TypeError, match="floating-point"):
        imresize(torch.zeros(4, 4, dtype=torch.uint8), scale=2)


def test_batched_dtypes_and_identity():
    x = torch.rand(4, 3, 24, 32, dtype=torch.float64)
    y = imresize(x, scale=0.25)
    assert y.shape == (4, 3, 6, 8)
    for k in range(4):
        torch.testing.assert_close(imresize(x[k], scale=0.25), y[k], rtol=0, atol=1e-14)
    for dtype, tol in ((torch.float32, 1e-6), (torch.float16, 2e-3), (torch.bfloat16, 1e-2)):
        z = imresize(x.to(dtype), scale=0.25)
        assert z.dtype == dtype
        torch.testing.assert_close(z.double(), y, rtol=0, atol=tol)
    same = imresize(x, scale=1)
    torch.testing.assert_close(same, x, rtol=0, atol=0)
    assert same.data_ptr() != x.data_ptr()


def test_numpy_wrapper_is_channel_last_and_rounds_uint8_after_each_pass():
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    out = imresize(img, scale=0.5)
    assert out.dtype == np.uint8 and out.shape == (10, 12, 3)
    ref = np.stack([reference_imresize(img[..., c].astype(np.float64), scale=0.5, uint8=True) for c in range(3)], -1)
    np.testing.assert_array_equal(out, ref.astype(np.uint8))
    f = imresize_np(img.astype(np.float32) / 255, scale=2)
    assert f.dtype == np.float32 and f.shape == (40, 48, 3)
    g = imresize_np(img[..., 0].astype(np.float64), scale=0.5)
    np.testing.assert_allclose(g, reference_imresize(img[..., 0].astype(np.float64), scale=0.5), atol=1e-12)


@pytest.mark.parametrize("size", [(30, 4), (4, 30), (6, 5)])
def test_uint8_pass_order_is_matlabs(size):
    # with uint8 rounding between the passes the order matters: MATLAB does the smaller scale first
    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, size=(12, 20), dtype=np.uint8)
    out = imresize_np(img, size=size)
    ref = reference_imresize(img.astype(np.float64), size=size, uint8=True)
    np.testing.assert_array_equal(out, ref.astype(np.uint8))
    sh, sw = size[0] / 12, size[1] / 20
    other = reference_imresize(img.astype(np.float64), size=size, uint8=True, order="hw" if sw < sh else "wh")
    assert not np.array_equal(ref, other)  # the test can tell the orders apart


def _keys(t: float, a: float) -> float:
    t = abs(t)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t <= 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def _x2_matrix_replicate(n: int, a: float) -> np.ndarray:
    """x2 upscale as OpenCV does it: u = (x + 0.5) / 2 - 0.5 (0-based), 4 taps, replicated border."""
    m = np.zeros((2 * n, n))
    for x in range(2 * n):
        u = (x + 0.5) / 2 - 0.5
        for i in range(math.floor(u) - 1, math.floor(u) + 3):
            m[x, min(max(i, 0), n - 1)] += _keys(u - i, a)
    return m


def test_upscale_close_to_opencv_inter_cubic_away_from_borders():
    # OpenCV maps pixels as MATLAB does (half-pixel centres) but uses a = -0.75 and replicates the
    # border. So: (1) the same 4-tap resampler with a = -0.75 reproduces cv2.resize exactly, which
    # pins down the shared mapping; (2) with a = -0.5 it reproduces ours away from the borders;
    # (3) ours and OpenCV's differ a little (about 1/255 on average on a detailed photo).
    import skimage.data

    img = cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA).astype(np.float64) / 255
    ours = imresize_np(img, scale=2)
    cv = cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC)

    def sep(m):
        return np.einsum("pw,owc->opc", m, np.einsum("oh,hwc->owc", m, img))

    np.testing.assert_allclose(sep(_x2_matrix_replicate(96, -0.75)), cv, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sep(_x2_matrix_replicate(96, -0.5))[4:-4, 4:-4], ours[4:-4, 4:-4], rtol=0, atol=1e-12)
    d = np.abs(ours - cv)[4:-4, 4:-4]
    assert 1e-3 < d.mean() < 1e-2, d.mean()
    assert d.max() < 0.1, d.max()


def test_rgb_to_y_matches_matlab_rgb2ycbcr():
    from skimage.color import rgb2ycbcr  # uses MATLAB's BT.601 limited-range matrix

    rng = np.random.default_rng(8)
    img = rng.random((6, 5, 3))
    y = rgb_to_y(torch.from_numpy(img).permute(2, 0, 1))
    assert y.shape == (1, 6, 5)
    np.testing.assert_allclose(y[0].numpy() * 255, rgb2ycbcr(img)[..., 0], rtol=0, atol=1e-10)
    assert float(rgb_to_y(torch.ones(1, 3, 1, 1))) == pytest.approx(235 / 255)
    assert float(rgb_to_y(torch.zeros(3, 1, 1))) == pytest.approx(16 / 255)
    ny = rgb_to_y(img)  # numpy: channels last
    assert ny.shape == (6, 5, 1)
    np.testing.assert_allclose(ny[..., 0], y[0].numpy(), atol=1e-12)
    u8 = (img * 255).round().astype(np.uint8)
    np.testing.assert_allclose(rgb_to_y(u8)[..., 0] * 255, rgb2ycbcr(u8)[..., 0], atol=1e-10)
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(torch.rand(4, 5, 6))
