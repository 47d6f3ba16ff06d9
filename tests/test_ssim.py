"""inter4k.metrics.ssim against scikit-image, a cv2 transcription of BasicSR's formula, and closed forms."""

import cv2
import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import structural_similarity

from inter4k.metrics import ssim

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
# Float64 throughout; the only differences between implementations are the order of the filter sums
# (scipy's separable 1-D passes, OpenCV's 2-D window, our shifted sums). Local moments are ~1e4..1e5 on
# the 0..255 scale, so var = E[x^2] - mu^2 carries an absolute error ~1e-11, divided by >= C2 = 58.5:
# SSIM values agree to ~1e-13. 1e-10 leaves margin yet catches any convention change (window, constants,
# border handling), each of which moves SSIM by >= 1e-4 on these images.
TOL = 1e-10


def _pair(h=40, w=52, noise=0.08, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random((h, w, 3))
    # Smooth the reference a little so the pair has structure SSIM can see, then add noise.
    a = cv2.GaussianBlur(a, (5, 5), 1.0)
    b = np.clip(a + rng.normal(0, noise, a.shape), 0, 1)
    return a, b


def _t(x):
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]


def _basicsr_ssim_plane(img, img2):
    """BasicSR's ``_ssim`` (basicsr/metrics/psnr_ssim.py), transcribed: 2-D 11x11 window, 'valid' rim cut."""
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())
    mu1 = cv2.filter2D(img, -1, window)[5:-5, 5:-5]
    mu2 = cv2.filter2D(img2, -1, window)[5:-5, 5:-5]
    mu1_sq, mu2_sq, mu1_mu2 = mu1**2, mu2**2, mu1 * mu2
    sigma1_sq = cv2.filter2D(img**2, -1, window)[5:-5, 5:-5] - mu1_sq
    sigma2_sq = cv2.filter2D(img2**2, -1, window)[5:-5, 5:-5] - mu2_sq
    sigma12 = cv2.filter2D(img * img2, -1, window)[5:-5, 5:-5] - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + C1) * (2 * sigma12 + C2)) / ((mu1_sq + mu2_sq + C1) * (sigma1_sq + sigma2_sq + C2))
    return ssim_map.mean()


@pytest.mark.parametrize("crop", [0, 4])
def test_ssim_y_matches_scikit_image(one_thread, crop):
    a, b = _pair()
    ya, yb = rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0]  # MATLAB's Y on 0..255, independent of rgb_to_y
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    # skimage filters the whole plane with 'reflect' padding, then averages its SSIM map without a
    # 5-pixel rim (pad = (win_size - 1) // 2): the interior never sees the padding, so averaging the
    # interior of its full map is exactly our 'valid' region. Its own mean must agree as well.
    mssim, smap = structural_similarity(
        yb, ya, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, full=True
    )
    interior = smap[5:-5, 5:-5].mean()
    got = ssim(_t(b), _t(a), crop_border=crop).item()
    assert got == pytest.approx(interior, abs=TOL)
    assert got == pytest.approx(mssim, abs=TOL)
    assert 0.3 < got < 0.99  # a real, imperfect match: the comparison above is not between trivial values


def test_ssim_rgb_matches_scikit_image_channel_mean(one_thread):
    a, b = _pair(seed=1)
    # skimage with channel_axis averages per-channel SSIMs: the same RGB convention as BasicSR's.
    want = structural_similarity(
        b * 255, a * 255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
        channel_axis=-1,
    )
    assert ssim(_t(b), _t(a), y_channel=False).item() == pytest.approx(want, abs=TOL)


@pytest.mark.parametrize("y_channel", [True, False])
def test_ssim_matches_basicsr_formula_with_cv2(one_thread, y_channel):
    a, b = _pair(h=37, w=45, seed=2)
    c = 3
    a, b = a[c:-c, c:-c] * 255, b[c:-c, c:-c] * 255
    if y_channel:
        # MATLAB's Y coefficients written out (as BasicSR's bgr2ycbcr, here on RGB order).
        coeffs = np.array([65.481, 128.553, 24.966])
        planes = [(16 + (a / 255) @ coeffs, 16 + (b / 255) @ coeffs)]
    else:
        planes = [(a[..., i], b[..., i]) for i in range(3)]
    want = np.mean([_basicsr_ssim_plane(pb, pa) for pa, pb in planes])
    got = ssim(_t(b / 255).clone(), _t(a / 255).clone(), y_channel=y_channel).item()
    # The crop was applied above on the numpy side; the same crop through crop_border must agree too.
    a_full, b_full = _pair(h=37, w=45, seed=2)
    got_cropped = ssim(_t(b_full), _t(a_full), crop_border=c, y_channel=y_channel).item()
    assert got == pytest.approx(want, abs=TOL)
    assert got_cropped == pytest.approx(want, abs=TOL)


def test_ssim_constant_images_hand_computed():
    # Constant planes: no variance or covariance, so SSIM = (2xy + C1) / (x^2 + y^2 + C1) per plane.
    x_rgb, y_rgb = (0.2, 0.5, 0.9), (0.3, 0.5, 0.6)
    pred = torch.tensor(x_rgb, dtype=torch.float64).view(3, 1, 1).expand(3, 16, 20)
    ref = torch.tensor(y_rgb, dtype=torch.float64).view(3, 1, 1).expand(3, 16, 20)
    lum = lambda x, y: (2 * x * y + C1) / (x * x + y * y + C1)  # noqa: E731
    want_rgb = np.mean([lum(255 * x, 255 * y) for x, y in zip(x_rgb, y_rgb)])
    luma = lambda c: 16 + 65.481 * c[0] + 128.553 * c[1] + 24.966 * c[2]  # noqa: E731
    want_y = lum(luma(x_rgb), luma(y_rgb))
    assert ssim(pred, ref, y_channel=False).item() == pytest.approx(want_rgb, rel=1e-12)
    assert ssim(pred, ref).item() == pytest.approx(want_y, rel=1e-12)
    assert ssim(pred, ref).shape == (1,)


def test_ssim_shifted_ramp_hand_computed(one_thread):
    # A horizontal ramp v_j = 255 (a + s j): a normalised symmetric window reproduces a linear function,
    # so mu_j = v_j, and the windowed variance is (255 s)^2 m2 with m2 = sum_k w_k (k - 5)^2.
    # Shifting the ramp one pixel (= adding s) leaves variance and covariance equal, so the structure
    # term is 1 and SSIM is the mean luminance term; a contrast change (slope t) brings in m2.
    h, w, a0, s = 14, 30, 0.1, 0.02
    j = np.arange(w + 1)
    ramp = a0 + s * j  # one column wider, to cut both the ramp and its one-pixel shift from it
    img = torch.from_numpy(np.broadcast_to(ramp[:w], (3, h, w)).copy())
    shifted = torch.from_numpy(np.broadcast_to(ramp[1:], (3, h, w)).copy())
    mu_x, mu_y = 255 * ramp[5 : w - 5], 255 * ramp[6 : w - 4]  # the 'valid' columns 5 .. w-6
    want_shift = np.mean((2 * mu_x * mu_y + C1) / (mu_x**2 + mu_y**2 + C1))
    assert ssim(shifted, img, y_channel=False).item() == pytest.approx(want_shift, rel=1e-12)

    t = 0.5 * s
    taps = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    taps /= taps.sum()
    m2 = float(np.sum(taps * (np.arange(11) - 5) ** 2))
    flat = torch.from_numpy(np.broadcast_to(a0 + t * j[:w], (3, h, w)).copy())
    mu_f = 255 * (a0 + t * j[5 : w - 5])
    var_x, var_f, cov = (255 * s) ** 2 * m2, (255 * t) ** 2 * m2, 255**2 * s * t * m2
    want_contrast = np.mean(
        (2 * mu_x * mu_f + C1) * (2 * cov + C2) / ((mu_x**2 + mu_f**2 + C1) * (var_x + var_f + C2))
    )
    assert ssim(flat, img, y_channel=False).item() == pytest.approx(want_contrast, rel=1e-9)


def test_ssim_identical_is_exactly_one_and_inputs_are_clamped(one_thread):
    a = torch.rand(3, 3, 29, 41)
    assert ssim(a, a).tolist() == [1.0, 1.0, 1.0]
    assert ssim(a, a.clone(), y_channel=False).tolist() == [1.0, 1.0, 1.0]
    over = a * 1.6 - 0.3  # out of [0, 1]: compared as the clamped images a file would hold
    assert torch.equal(ssim(over, a), ssim(over.clamp(0, 1), a))
    assert ssim(over.float(), over.clamp(0, 1).double()).tolist() == [1.0, 1.0, 1.0]


def test_ssim_batch_equals_per_image_and_crop_equals_slicing(one_thread):
    pred, ref = torch.rand(4, 3, 26, 33), torch.rand(4, 3, 26, 33)
    ref[1] = pred[1]
    for y_channel in (True, False):
        batch = ssim(pred, ref, crop_border=2, y_channel=y_channel)
        assert batch.dtype == torch.float64 and batch.shape == (4,)
        single = torch.cat([ssim(p, r, crop_border=2, y_channel=y_channel) for p, r in zip(pred, ref)])
        torch.testing.assert_close(batch, single, rtol=0, atol=1e-14)
        sliced = ssim(pred[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], y_channel=y_channel)
        torch.testing.assert_close(batch, sliced, rtol=0, atol=1e-14)
        assert batch[1].item() == 1.0


def test_ssim_errors():
    with pytest.raises(ValueError, match=r"\(1, 3, 12, 12\) and ref \(1, 3, 12, 13\) differ in shape"):
        ssim(torch.zeros(1, 3, 12, 12), torch.zeros(1, 3, 12, 13))
    with pytest.raises(ValueError, match=r"crop_border 6 leaves nothing of a \(12, 12\) image"):
        ssim(torch.zeros(1, 3, 12, 12), torch.zeros(1, 3, 12, 12), crop_border=6)
    with pytest.raises(ValueError, match=r"\(10, 16\) \(after crop_border=5\) are smaller than the 11x11 window"):
        ssim(torch.zeros(1, 3, 20, 26), torch.zeros(1, 3, 20, 26), crop_border=5)
    with pytest.raises(ValueError, match=r"\(10, 11\) \(after crop_border=0\) are smaller"):
        ssim(torch.zeros(3, 10, 11), torch.zeros(3, 10, 11))
    with pytest.raises(ValueError, match=r"expected \(N, 3, H, W\) RGB images, got \(1, 1, 16, 16\)"):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16))
    assert ssim(torch.zeros(3, 11, 11), torch.zeros(3, 11, 11)).tolist() == [1.0]  # 11x11: a 1-pixel map


def test_ssim_on_every_device_matches_cpu(device):
    pred, ref = torch.rand(2, 3, 24, 30), torch.rand(2, 3, 24, 30)
    got = ssim(pred.to(device), ref.to(device), crop_border=1)
    assert got.device.type == device.type and got.dtype == torch.float64
    torch.testing.assert_close(got.cpu(), ssim(pred, ref, crop_border=1), rtol=0, atol=1e-12)
    assert ssim(pred.to(device), pred.to(device), y_channel=False).tolist() == [1.0, 1.0]
