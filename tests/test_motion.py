"""``inter4k.data.motion``: synthetic VFI clips with real motion over still photographs.

The motion is checked against independent computations: an integer pan against ``np.roll`` of the
photograph, a half-pixel pan against the mean of two neighbouring pixels, zoom + rotation against
``cv2.getRotationMatrix2D``'s forward map, a moving object against its texture pasted by hand.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from inter4k.data.datasets import VFI_SPANS
from inter4k.data.motion import (PHOTO_SPLITS, TEST_PHOTOS, TRAIN_PHOTOS, VAL_PHOTOS, SyntheticMotionVFI,
                                 camera_matrix, load_photo, object_mask)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[..., :3])


@pytest.fixture(scope="module")
def photos(astronaut) -> list[np.ndarray]:
    return [astronaut, np.ascontiguousarray(skimage.data.coffee()), skimage.data.camera()]


def pan_plan(patch: int, span: int, corner: tuple, move: tuple, objects=()) -> dict:
    """A hand-made plan: the view's top-left pixel at ``corner`` (x, y) of photograph 0 at tau 0,
    moving by ``move`` (x, y) source pixels over the clip, no zoom, no rotation."""
    m = (patch - 1) / 2
    c0 = (corner[0] + m, corner[1] + m)
    c1 = (c0[0] + move[0], c0[1] + move[1])
    return {"index": 0, "span": span, "patch": patch, "objects": list(objects),
            "camera": {"image": 0, "center": (c0, c1), "zoom": (1.0, 1.0), "angle": (0.0, 0.0)}}


def as_hwc(frame: torch.Tensor) -> np.ndarray:
    return frame.permute(1, 2, 0).numpy()


# --- format ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(VFI_SPANS))
def test_samples_have_the_inter4k_vfi_format(photos, mode):
    span = VFI_SPANS[mode]
    ds = SyntheticMotionVFI(photos, mode=mode, patch_size=40, samples=3)
    assert len(ds) == 3
    inputs, targets, t = ds[1]
    assert inputs.shape == (2, 3, 40, 40) and targets.shape == (span - 1, 3, 40, 40) and t.shape == (span - 1,)
    assert inputs.dtype == targets.dtype == t.dtype == torch.float32
    assert torch.equal(t, torch.tensor([k / span for k in range(1, span)], dtype=torch.float32))
    assert torch.equal(t, ds.timesteps())
    assert 0 <= float(inputs.min()) and float(inputs.max()) <= 1
    # quantize=True (default): 8-bit values, as decoded video
    assert torch.allclose(targets * 255, torch.round(targets * 255), atol=1e-4)
    # the inputs and targets are frames of one clip: the first input, the targets, the second input
    frames = ds.render(ds.plan(1))
    assert torch.equal(frames[0], inputs[0]) and torch.equal(frames[-1], inputs[1])
    assert torch.equal(frames[1:-1], targets)


def test_default_lengths_and_photographs():
    assert len(SyntheticMotionVFI(split="train")) == 32 * len(TRAIN_PHOTOS)
    assert len(SyntheticMotionVFI(split="val")) == 8  # 4 per photo, at least 8
    assert len(SyntheticMotionVFI(split="test")) == 4 * len(TEST_PHOTOS)
    assert SyntheticMotionVFI(split="test").names == list(TEST_PHOTOS)
    splits = [set(PHOTO_SPLITS[s]) for s in ("train", "val", "test")]
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    # the images the bundled SR weights hold out are held out here too
    assert {"astronaut", "coffee", "stereo_motorcycle", "clock", "text"} == set(TEST_PHOTOS)
    assert VAL_PHOTOS == ("rocket",)


def test_load_photo_gives_rgb_uint8():
    grey = load_photo("camera")
    assert grey.shape == (512, 512, 3) and grey.dtype == np.uint8
    assert np.array_equal(grey[..., 0], skimage.data.camera()) and np.array_equal(grey[..., 0], grey[..., 2])
    left = load_photo("stereo_motorcycle")
    assert np.array_equal(left, skimage.data.stereo_motorcycle()[0])
    with pytest.raises(ValueError, match="no image 'nope'"):
        load_photo("nope")


# --- determinism ----------------------------------------------------------------------------------

def test_samples_are_a_function_of_seed_epoch_and_index(photos):
    a = SyntheticMotionVFI(photos, mode="15to60", patch_size=32, samples=6, seed=3)
    b = SyntheticMotionVFI(photos, mode="15to60", patch_size=32, samples=6, seed=3)
    for i in (0, 4):
        for x, y in zip(a[i], b[i]):
            assert torch.equal(x, y)
    first = a[2][1]
    assert not torch.equal(first, a[3][1])  # another index: another clip
    a.set_epoch(1)
    assert not torch.equal(first, a[2][1])  # another epoch: new motion
    a.set_epoch(0)
    assert torch.equal(first, a[2][1])
    c = SyntheticMotionVFI(photos, mode="15to60", patch_size=32, samples=6, seed=4)
    assert not torch.equal(first, c[2][1])
    # background photograph i % n
    assert [a.plan(i)["camera"]["image"] for i in range(6)] == [0, 1, 2, 0, 1, 2]


def test_val_samples_are_fixed_and_not_training_samples(photos):
    val = SyntheticMotionVFI(photos, patch_size=32, samples=4, split="val")
    before = val[1][1]
    val.set_epoch(5)
    assert torch.equal(before, val[1][1])
    train = SyntheticMotionVFI(photos, patch_size=32, samples=4, split="train")
    assert not torch.equal(before, train[1][1])
    assert val.plan(1) != SyntheticMotionVFI(photos, patch_size=32, samples=4, split="test").plan(1)


# --- the motion is what it says --------------------------------------------------------------------

def test_an_integer_pan_is_the_photograph_rolled(astronaut):
    ds = SyntheticMotionVFI([astronaut], mode="15to60", patch_size=48, quantize=False)
    x0, y0, dx, dy = 100, 140, 12, -8  # a displacement of 3, -2 px per frame over the 4-frame span
    frames = ds.render(pan_plan(48, 4, (x0, y0), (dx, dy)))
    img = astronaut.astype(np.float32) / 255
    for k in range(5):
        rolled = np.roll(img, (-dy * k // 4, -dx * k // 4), axis=(0, 1))  # content moves by -k/4 of the pan
        np.testing.assert_allclose(as_hwc(frames[k]), rolled[y0:y0 + 48, x0:x0 + 48], atol=1e-6)
    # the middle frame is the first shifted by half the displacement (independently of the photograph)
    mid, first = as_hwc(frames[2]), as_hwc(frames[0])
    np.testing.assert_allclose(mid[4:-4, 6:-6], np.roll(first, (-dy // 2, -dx // 2), axis=(0, 1))[4:-4, 6:-6], atol=1e-6)


def test_a_half_pixel_pan_averages_neighbours_bilinearly(astronaut):
    ds = SyntheticMotionVFI([astronaut], mode="30to60", patch_size=32, quantize=False, interpolation="linear")
    x0, y0 = 200, 60
    frames = ds.render(pan_plan(32, 2, (x0, y0), (1, 0)))  # one pixel to the right over two frames
    img = astronaut.astype(np.float64) / 255
    half = (img[y0:y0 + 32, x0:x0 + 32] + img[y0:y0 + 32, x0 + 1:x0 + 33]) / 2
    np.testing.assert_allclose(as_hwc(frames[1]), half, atol=1e-5)


def test_zoom_and_rotation_follow_cv2_get_rotation_matrix(astronaut):
    ds = SyntheticMotionVFI([astronaut], mode="15to60", patch_size=40, quantize=False)
    c0, c1 = (250.0, 230.0), (258.0, 226.0)
    plan = {"index": 0, "span": 4, "patch": 40, "objects": [],
            "camera": {"image": 0, "center": (c0, c1), "zoom": (1.0, 1.4), "angle": (-4.0, 8.0)}}
    frames = ds.render(plan)
    img = astronaut.astype(np.float32) / 255
    for k in range(5):
        tau = k / 4
        centre = (c0[0] + (c1[0] - c0[0]) * tau, c0[1] + (c1[1] - c0[1]) * tau)
        zoom, angle = 1.0 + 0.4 * tau, -4.0 + 12.0 * tau
        forward = cv2.getRotationMatrix2D(centre, angle, zoom)  # photograph -> view, about the centre
        forward[:, 2] += 19.5 - np.array(centre)                # ... which lands on the view's centre
        ref = np.clip(cv2.warpAffine(img, forward, (40, 40), flags=cv2.INTER_CUBIC), 0, 1)  # frames are clamped
        np.testing.assert_allclose(as_hwc(frames[k]), ref, atol=1e-5)


def test_camera_matrix_maps_the_view_centre_to_the_given_point():
    m = camera_matrix((300.0, 120.5), zoom=2.0, angle=30.0, patch=65)
    assert np.allclose(m @ np.array([32.0, 32.0, 1.0]), [300.0, 120.5])
    # one output pixel to the right is half a source pixel along the rotated axis
    step = m @ np.array([33.0, 32.0, 1.0]) - m @ np.array([32.0, 32.0, 1.0])
    assert np.allclose(step, [0.5 * math.cos(math.radians(30)), 0.5 * math.sin(math.radians(30))])


def test_an_object_moves_on_its_own_line_over_a_still_background(photos):
    ds = SyntheticMotionVFI(photos[:2], mode="15to60", patch_size=64, quantize=False)
    box = (50, 80, 20, 24)  # y, x, h, w in photograph 1 (coffee)
    start, end = (10.0, 30.0), (30.0, 18.0)  # 5, -3 px per frame
    obj = {"image": 1, "box": box, "feather": 2.0, "harmonics": [(3, 0.1, 0.5)], "start": start, "end": end}
    frames, masks = ds.render(pan_plan(64, 4, (120, 200), (0, 0), [obj]), with_masks=True)
    assert masks.shape == (5, 1, 64, 64)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    texture = photos[1][50:70, 80:104].astype(np.float32) / 255
    alpha = object_mask(20, 24, 2.0, [(3, 0.1, 0.5)])
    background = photos[0][200:264, 120:184].astype(np.float32) / 255
    for k in range(5):
        x, y = 10 + 5 * k, 30 - 3 * k  # the box's corner, an integer at every frame
        canvas = np.zeros((64, 64), np.float32)
        canvas[y:y + 20, x:x + 24] = alpha
        np.testing.assert_allclose(masks[k, 0].numpy(), canvas, atol=1e-6)
        expected = background.copy()
        a = alpha[:, :, None]
        expected[y:y + 20, x:x + 24] = a * texture + (1 - a) * background[y:y + 20, x:x + 24]
        np.testing.assert_allclose(as_hwc(frames[k]), expected, atol=1e-5)


def test_object_mask_is_a_soft_blob_in_the_box():
    m = object_mask(30, 40, feather=3.0)
    assert m.shape == (30, 40) and m.dtype == np.float32
    assert float(m.min()) == 0 and float(m.max()) == 1
    assert m[0].max() == 0 and m[-1].max() == 0 and m[:, 0].max() == 0 and m[:, -1].max() == 0
    assert m[15, 20] == 1
    soft = (m > 0) & (m < 1)
    assert soft.sum() > 0.1 * (m > 0).sum()  # a feathered edge, not a hard one
    np.testing.assert_allclose(m, m[::-1, ::-1], atol=1e-6)  # a plain ellipse is symmetric
    blob = object_mask(30, 40, feather=1.5, harmonics=[(2, 0.2, 0.0), (3, 0.1, 1.0)])
    assert float(blob.min()) == 0 and float(blob.max()) == 1 and not np.allclose(blob, m)


def test_random_views_stay_inside_the_photograph_and_objects_are_counted():
    page = skimage.data.page()  # 191 x 384: small for a 128 view, so the zoom is raised
    ds = SyntheticMotionVFI([page, skimage.data.camera()], mode="8x", patch_size=128, samples=40,
                            objects=(1, 3), max_speed=10.0)
    corners = np.array([[0, 0, 1], [127, 0, 1], [0, 127, 1], [127, 127, 1]], dtype=np.float64).T
    moving = 0
    for i in range(40):
        plan = ds.plan(i)
        cam = plan["camera"]
        h, w = ds.image(cam["image"]).shape[:2]
        for k in range(9):
            tau = k / 8
            centre = np.add(cam["center"][0], np.subtract(cam["center"][1], cam["center"][0]) * tau)
            zoom = cam["zoom"][0] + (cam["zoom"][1] - cam["zoom"][0]) * tau
            angle = cam["angle"][0] + (cam["angle"][1] - cam["angle"][0]) * tau
            src = camera_matrix(centre, zoom, angle, 128) @ corners
            assert src.min() >= 0 and src[0].max() <= w - 1 and src[1].max() <= h - 1, (i, k)
        assert 1 <= len(plan["objects"]) <= 3
        assert all(ob["image"] != cam["image"] for ob in plan["objects"])  # cut from the other photo
        moving += np.hypot(*np.subtract(cam["center"][1], cam["center"][0])) > 1
    assert moving > 10  # most clips pan


def test_folder_input_and_bad_arguments(tmp_path, astronaut):
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    ds = SyntheticMotionVFI(tmp_path, patch_size=32, samples=2)
    assert ds.names == ["a.png"] and np.array_equal(ds.image(0), astronaut.astype(np.float32) / 255)
    assert ds[0][0].shape == (2, 3, 32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no PNG / JPEG images"):
        SyntheticMotionVFI(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such image folder"):
        SyntheticMotionVFI(tmp_path / "missing")
    for kwargs, message in [(dict(mode="4x"), "unknown mode"), (dict(split="dev"), "unknown split"),
                            (dict(patch_size=4), "patch_size"), (dict(objects=(2, 1)), "objects"),
                            (dict(samples=0), "samples"), (dict(interpolation="area"), "interpolation"),
                            (dict(max_speed=-1.0), "max_speed")]:
        with pytest.raises(ValueError, match=message):
            SyntheticMotionVFI([astronaut], **kwargs)
    with pytest.raises(IndexError):
        SyntheticMotionVFI([astronaut], samples=2).plan(2)
    with pytest.raises(ValueError, match="empty"):
        SyntheticMotionVFI([])


# --- true flows (with_flows=True) ------------------------------------------------------------------

def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean()))


def _warp_psnrs(frames: torch.Tensor, flows: torch.Tensor, keep: torch.Tensor) -> list[tuple[float, float]]:
    """Per target k: PSNR of backward_warp(frame 0, F_t->0) and of backward_warp(frame span, F_t->1)
    against frame k, over the pixels where ``keep[k - 1]`` (P, P) is True."""
    from inter4k.models.vfi import backward_warp

    span = frames.shape[0] - 1
    out = []
    for k in range(1, span):
        w0 = backward_warp(frames[0:1], flows[k - 1:k, 0:2])[0]
        w1 = backward_warp(frames[span:span + 1], flows[k - 1:k, 2:4])[0]
        sel = keep[k - 1].expand(3, -1, -1)
        out.append((_psnr(w0[sel], frames[k][sel]), _psnr(w1[sel], frames[k][sel])))
    return out


def _inner(flows: torch.Tensor, extra: int = 3) -> torch.Tensor:
    """(T, P, P) True away from the border by the largest flow + ``extra`` (points seen at time t that may
    be outside frames 0 / span there)."""
    t, _, p, _ = flows.shape
    m = int(math.ceil(float(flows.abs().max()))) + extra
    keep = torch.zeros(t, p, p, dtype=torch.bool)
    keep[:, m:p - m, m:p - m] = True
    return keep


@pytest.fixture(scope="module")
def smooth_astronaut(astronaut) -> np.ndarray:
    # blurred, so that the bilinear backward warp is close to the bicubic rendering (the test is of the flows)
    return cv2.GaussianBlur(astronaut, (0, 0), 1.5)


def test_with_flows_adds_a_fourth_item_and_the_default_is_unchanged(photos):
    plain = SyntheticMotionVFI(photos, mode="15to60", patch_size=32, samples=2)
    flowing = SyntheticMotionVFI(photos, mode="15to60", patch_size=32, samples=2, with_flows=True)
    assert len(plain[1]) == 3
    inputs, targets, t, flows = flowing[1]
    assert flows.shape == (3, 4, 32, 32) and flows.dtype == torch.float32
    for a, b in zip(plain[1], (inputs, targets, t)):  # the same sample otherwise
        assert torch.equal(a, b)
    batch = torch.utils.data.default_collate([flowing[0], flowing[1]])
    assert batch[3].shape == (2, 3, 4, 32, 32)


def test_an_integer_pan_has_the_constant_displacement_times_t_and_minus_one_minus_t(astronaut):
    ds = SyntheticMotionVFI([astronaut], mode="15to60", patch_size=48, quantize=False)
    dx, dy = 12, -8  # the view moves by (12, -8) source px over the clip: content moves by (-12, 8)
    plan = pan_plan(48, 4, (100, 140), (dx, dy))
    flows = ds.flows(plan)
    for k in range(1, 4):
        t = k / 4
        # a pixel x of frame t shows photograph point x + corner + t * (dx, dy): in frame 0 it is at
        # x + t * (dx, dy), in frame 1 at x - (1 - t) * (dx, dy)
        for ch, value in ((0, t * dx), (1, t * dy), (2, -(1 - t) * dx), (3, -(1 - t) * dy)):
            np.testing.assert_allclose(flows[k - 1, ch].numpy(), value, atol=1e-5)
    # the frames agree: frame t at (y, x) is frame 0 at (y + F_y, x + F_x), here (y - 2, x + 3) at t = 1/4
    frames = ds.render(plan)
    f0, ft = as_hwc(frames[0]), as_hwc(frames[1])
    np.testing.assert_allclose(ft[5:-5, 5:-5], f0[3:-7, 8:-2], atol=1e-6)


@pytest.mark.parametrize("camera", [
    {"center": ((250.0, 230.0), (257.3, 224.6)), "zoom": (1.0, 1.0), "angle": (0.0, 0.0)},    # sub-pixel pan
    {"center": ((250.0, 230.0), (252.0, 231.0)), "zoom": (0.9, 1.15), "angle": (0.0, 0.0)},   # zoom
    {"center": ((250.0, 230.0), (250.0, 230.0)), "zoom": (1.0, 1.0), "angle": (-6.0, 6.0)},   # rotation
    {"center": ((250.0, 230.0), (246.0, 236.0)), "zoom": (1.2, 1.05), "angle": (3.0, -5.0)},  # all three
])
def test_warping_the_inputs_with_the_true_flows_gives_the_targets(smooth_astronaut, camera):
    ds = SyntheticMotionVFI([smooth_astronaut], mode="15to60", patch_size=64, quantize=False)
    plan = {"index": 0, "span": 4, "patch": 64, "objects": [], "camera": {"image": 0, **camera}}
    frames, flows = ds.render(plan), ds.flows(plan)
    keep = _inner(flows)
    right = _warp_psnrs(frames, flows, keep)
    for p0, p1 in right:
        assert p0 > 35 and p1 > 35, (p0, p1)
    # the test can fail: the flows with the wrong sign are far worse
    wrong = _warp_psnrs(frames, -flows, keep)
    assert all(w0 < r0 - 8 and w1 < r1 - 8 for (r0, r1), (w0, w1) in zip(right, wrong)), (right, wrong)


def test_random_samples_with_zoom_and_rotation_warp_to_their_targets(smooth_astronaut):
    ds = SyntheticMotionVFI([smooth_astronaut], mode="8x", patch_size=96, samples=3, objects=(0, 0), max_speed=1.5,
                            quantize=False, with_flows=True)
    for i in range(3):
        frames = ds.render(ds.plan(i))
        inputs, targets, t, flows = ds[i]
        assert torch.equal(inputs[0], frames[0]) and torch.equal(targets, frames[1:-1])
        keep = _inner(flows)
        assert keep[0].sum() >= 40 * 40
        for p0, p1 in _warp_psnrs(frames, flows, keep):
            assert p0 > 35 and p1 > 35, (i, p0, p1)


def _visible(masks: torch.Tensor) -> torch.Tensor:
    """(n, P, P) object masks in compositing order -> (n + 1, P, P): how much of the background and of
    each object shows at every pixel (object j: its mask times 1 - the masks of the objects above it)."""
    layers = [torch.ones_like(masks[0])] + list(masks)
    out = []
    for j, a in enumerate(layers):
        above = torch.ones_like(a)
        for b in layers[j + 1:]:
            above = above * (1 - b)
        out.append(a * above)
    return torch.stack(out)


def test_objects_move_by_their_own_flow_and_the_top_most_wins(photos, smooth_astronaut):
    ds = SyntheticMotionVFI([smooth_astronaut, cv2.GaussianBlur(photos[1], (0, 0), 1.5)], mode="15to60",
                            patch_size=80, quantize=False)
    low = {"image": 1, "box": (50, 80, 30, 34), "feather": 2.0, "harmonics": [], "start": (8.0, 20.0),
           "end": (28.0, 12.0)}   # 5, -2 px per frame
    top = {"image": 1, "box": (200, 150, 30, 30), "feather": 2.0, "harmonics": [], "start": (30.0, 14.0),
           "end": (14.5, 22.5)}   # -3.875, 2.125 px per frame
    plan = pan_plan(80, 4, (150, 180), (6.0, 3.0), [low, top])
    frames, masks = ds.render(plan, with_masks=True)
    flows = ds.flows(plan, masks)
    torch.testing.assert_close(flows, ds.flows(plan))  # masks rendered when not given
    for k in range(1, 4):
        t = k / 4
        in_low, in_top = masks[k, 0] > 0.5, masks[k, 1] > 0.5
        assert (in_low & in_top).sum() > 0  # they overlap at every target time
        for inside, ob in ((in_low & ~in_top, low), (in_top, top)):
            move = np.subtract(ob["end"], ob["start"])
            for ch, value in ((0, -t * move[0]), (1, -t * move[1]), (2, (1 - t) * move[0]), (3, (1 - t) * move[1])):
                np.testing.assert_allclose(flows[k - 1, ch][inside].numpy(), value, atol=1e-5)
        background = (masks[k] <= 0.5).all(0)
        for ch, value in ((0, t * 6.0), (1, t * 3.0), (2, -(1 - t) * 6.0), (3, -(1 - t) * 3.0)):
            np.testing.assert_allclose(flows[k - 1, ch][background].numpy(), value, atol=1e-5)
    # warping: away from the border and from object edges (soft masks, occlusions), within 2 px
    from inter4k.models.vfi import backward_warp

    keep = _inner(ds.flows({**plan, "objects": []}))  # the border: the background moves 6 px at most
    for k in range(1, 4):
        mt = masks[k]
        seen = _visible(mt)  # what shows at each pixel of frame t, and the same seen from frames 0 / 1
        solid = ((seen < 1e-3) | (seen > 1 - 1e-3)).all(0)  # one layer alone shows
        w0 = backward_warp(_visible(masks[0])[None], flows[k - 1:k, 0:2])[0]
        w1 = backward_warp(_visible(masks[4])[None], flows[k - 1:k, 2:4])[0]
        same = ((w0 - seen).abs() < 1e-2).all(0) & ((w1 - seen).abs() < 1e-2).all(0)
        bad = (~(solid & same)).float()[None, None]
        keep[k - 1] &= torch.nn.functional.max_pool2d(bad, 5, stride=1, padding=2)[0, 0] == 0
        assert keep[k - 1].sum() > 0.3 * 80 * 80 and (keep[k - 1] & (mt[1] > 0.5)).sum() > 50
    for p0, p1 in _warp_psnrs(frames, flows, keep):
        assert p0 > 35 and p1 > 35, (p0, p1)
