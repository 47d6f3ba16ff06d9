"""``SyntheticMotionVFI(realism=...)``: each realism effect against an independent check, the exact flows
under non-rigid motion and occlusion, reproducibility, and the rigid default left as it was."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest
import torch
from test_motion import _inner, _warp_psnrs, pan_plan

from inter4k.data.motion import SyntheticMotionVFI
from inter4k.data.realism import (FIELD_LIPSCHITZ, REALISM, Realism, field_at, h264_roundtrip, invert_field,
                                  random_field, resolve_realism)
from inter4k.metrics import psnr

pytestmark = pytest.mark.usefixtures("one_thread")

REAL = REALISM["real"]
QUIET = Realism(max_displacement=64.0)  # real displacements, no other effect


@pytest.fixture(scope="module")
def smooth() -> np.ndarray:
    import skimage.data

    return cv2.GaussianBlur(np.ascontiguousarray(skimage.data.astronaut()[..., :3]), (0, 0), 1.5)


@pytest.fixture(scope="module")
def photos(smooth) -> list[np.ndarray]:
    import skimage.data

    return [smooth, cv2.GaussianBlur(skimage.data.coffee(), (0, 0), 1.5), np.repeat(skimage.data.camera()[..., None], 3, 2)]


def with_effects(plan: dict, **effects) -> dict:
    base = {"shutter": 0.0, "subframes": 1, "gain": None, "noise": None, "noise_seed": 7, "crf": None}
    return {**plan, "effects": {**base, **effects}}


def gradient_energy(frame: torch.Tensor) -> float:
    return float((frame[:, :, 1:] - frame[:, :, :-1]).pow(2).mean() + (frame[:, 1:] - frame[:, :-1]).pow(2).mean())


# --- options ----------------------------------------------------------------------------------------------

def test_presets_and_bad_options():
    assert resolve_realism(None) == resolve_realism("rigid") == Realism() and Realism().name == "rigid"
    assert resolve_realism("real") is REAL and REAL.name == "real"
    assert dataclasses.replace(REAL, crf=(20, 20)).name is None
    assert resolve_realism({"blur": 1.0, "shutter": [0.5, 0.5]}) == Realism(blur=1.0, shutter=(0.5, 0.5))
    for bad, match in (("cinematic", "unknown realism"), ({"blurr": 1.0}, "unknown realism options blurr")):
        with pytest.raises(ValueError, match=match):
            resolve_realism(bad)
    for kwargs, match in (({"blur": 1.5}, "blur must be a probability"), ({"crf": (30, 20)}, "crf"),
                          ({"crf": (18.5, 20)}, "crf"), ({"max_displacement": -1.0}, "max_displacement"),
                          ({"layers": (2, 1)}, "layers"), ({"shutter": (0.0, 2.0)}, "shutter"),
                          ({"gain_change": float("nan")}, "gain_change"), ({"preset": ""}, "preset"),
                          ({"still": -0.1}, "still must be a probability")):
        with pytest.raises(ValueError, match=match):
            Realism(**kwargs)
    with pytest.raises(ValueError, match="unknown realism"):
        SyntheticMotionVFI([np.zeros((64, 64, 3), np.uint8)], realism="film")


def test_rigid_is_the_default_and_real_keeps_the_rigid_draw_count(photos):
    plain = SyntheticMotionVFI(photos, patch_size=32, samples=3)
    rigid = SyntheticMotionVFI(photos, patch_size=32, samples=3, realism="rigid")
    for i in range(3):
        assert all(torch.equal(a, b) for a, b in zip(plain[i], rigid[i]))
        assert plain.plan(i)["effects"] == {"shutter": 0.0, "subframes": 1, "gain": None, "noise": None,
                                            "noise_seed": plain.plan(i)["effects"]["noise_seed"], "crf": None}
        assert plain.plan(i)["camera"]["field"] is None
    # switching one effect off leaves everything else of a sample as it was
    real = SyntheticMotionVFI(photos, patch_size=64, samples=6, realism=REAL)
    no_codec = SyntheticMotionVFI(photos, patch_size=64, samples=6, realism=dataclasses.replace(REAL, compression=0.0))
    for i in range(6):
        a, b = real.plan(i), no_codec.plan(i)
        assert b["effects"]["crf"] is None
        for x, y in zip([a["camera"], *a["objects"]], [b["camera"], *b["objects"]]):
            assert {k: v for k, v in x.items() if k != "field"} == {k: v for k, v in y.items() if k != "field"}
            assert (x["field"] is None and y["field"] is None) or np.array_equal(x["field"], y["field"])
        assert {k: v for k, v in a["effects"].items() if k != "crf"} == {k: v for k, v in b["effects"].items()
                                                                         if k != "crf"}


def test_real_samples_are_reproducible_from_the_seed_and_new_each_epoch(photos):
    a = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism="real", seed=3, with_flows=True)
    b = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism="real", seed=3, with_flows=True)
    for i in range(4):
        assert all(torch.equal(x, y) for x, y in zip(a[i], b[i]))
    b.set_epoch(1)
    assert not torch.equal(a[0][0], b[0][0])
    val = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism="real", split="val")
    first = val[2]
    val.set_epoch(5)
    assert all(torch.equal(x, y) for x, y in zip(first, val[2]))


def test_still_scenes_move_nothing_and_leave_the_other_draws_as_they_were(photos):
    moving = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism=QUIET, with_flows=True)
    still = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism=dataclasses.replace(QUIET, still=1.0),
                               with_flows=True)
    for i in range(4):
        a, b = moving.plan(i), still.plan(i)
        assert a["still"] is False and b["still"] is True
        cam = b["camera"]
        assert cam["center"][0] == cam["center"][1] == a["camera"]["center"][0]
        assert cam["zoom"][0] == cam["zoom"][1] and cam["angle"][0] == cam["angle"][1] and cam["field"] is None
        assert all(o["end"] == o["start"] == p["start"] for o, p in zip(b["objects"], a["objects"]))
        assert [o["box"] for o in b["objects"]] == [o["box"] for o in a["objects"]]
        inputs, targets, _, flows = still[i]
        assert all(torch.equal(f, inputs[0]) for f in (*inputs, *targets))    # no effect on: every frame the same
        assert flows.abs().max() < 1e-6                                     # (float rounding of the affines)
    # the preset: one clip in ten still, drawn from the effects' stream
    real = SyntheticMotionVFI(photos, patch_size=32, samples=200, realism="real")
    assert REAL.still == 0.1 and 8 <= sum(real.plan(i)["still"] for i in range(200)) <= 35


# --- motion -----------------------------------------------------------------------------------------------

def test_displacements_reach_64_px_at_1080p_scaled_to_the_photograph():
    big, small = np.zeros((1600, 2560, 3), np.uint8), np.zeros((512, 512, 3), np.uint8)
    for img, short in ((big, 1600), (small, 512)):
        ds = SyntheticMotionVFI([img], patch_size=128, samples=200, realism=Realism(max_displacement=64.0), zoom=False,
                                rotation=False, objects=(1, 1))
        ratios = []
        for i in range(len(ds)):
            plan = ds.plan(i)
            z = plan["camera"]["zoom"][0]
            bound = 64.0 * z * short / 1080  # output px between the inputs
            pan = np.hypot(*np.subtract(*plan["camera"]["center"][::-1])) * z
            obj = np.hypot(*np.subtract(plan["objects"][0]["end"], plan["objects"][0]["start"]))
            assert pan <= bound + 1e-9 and obj <= bound + 1e-9
            ratios.append(obj / bound)
        assert max(ratios) > 0.95 and 0.4 < np.mean(ratios) < 0.6  # uniform up to the bound
        if short == 1600:
            assert max(r * 64.0 * 1600 / 1080 for r in ratios) > 80  # 95 px at zoom 1 on a 1600-px photograph


def test_real_layers_are_more_larger_and_cut_from_other_photographs(photos):
    rigid = SyntheticMotionVFI(photos, patch_size=90, samples=120)
    real = SyntheticMotionVFI(photos, patch_size=90, samples=120, realism="real")
    for ds, (lo, hi), biggest in ((rigid, (1, 3), 90 / 2.5), (real, (1, 4), 90 / 1.8)):
        plans = [ds.plan(i) for i in range(len(ds))]
        counts = [len(p["objects"]) for p in plans]
        assert min(counts) == lo and max(counts) == hi
        sides = [s for p in plans for o in p["objects"] for s in o["box"][2:]]
        assert min(sides) >= 15 and max(sides) <= biggest + 0.5 and max(sides) > biggest - 3
        assert all(o["image"] != p["camera"]["image"] for p in plans for o in p["objects"])
    fields = [o["field"] is not None for i in range(len(real)) for o in real.plan(i)["objects"]]
    assert 0.35 < np.mean(fields) < 0.65  # non-rigid layers at the preset's rate, 1/2


def test_random_field_is_smooth_bounded_and_inverted_exactly():
    rng = np.random.default_rng(0)
    field = random_field(rng, 40.0, 60.0)  # large enough that the Lipschitz cap applies
    k, a = np.hypot(field[:, 0], field[:, 1]), np.hypot(field[:, 2], field[:, 3])
    assert np.sum(k * a) == pytest.approx(FIELD_LIPSCHITZ)
    x, y = np.meshgrid(np.linspace(0, 300, 50), np.linspace(0, 200, 40))
    dx, dy = field_at(field, x, y)
    assert np.hypot(dx, dy).max() <= a.sum() + 1e-12
    ux, uy = invert_field(field, 0.8, x, y)
    fx, fy = field_at(field, ux, uy)
    np.testing.assert_allclose(ux + 0.8 * fx, x, atol=1e-8)
    np.testing.assert_allclose(uy + 0.8 * fy, y, atol=1e-8)


def test_nonrigid_flows_warp_the_inputs_to_the_targets_and_are_not_affine(smooth):
    ds = SyntheticMotionVFI([smooth], mode="15to60", patch_size=96, quantize=False)
    plan = pan_plan(96, 4, (180, 150), (5.0, -3.0))
    plan["camera"]["field"] = random_field(np.random.default_rng(1), 8.0, 100.0)
    frames, flows = ds.render(plan), ds.flows(plan)
    keep = _inner(flows)
    for p0, p1 in _warp_psnrs(frames, flows, keep):
        assert p0 > 35 and p1 > 35, (p0, p1)
    rigid = ds.flows({**plan, "camera": {**plan["camera"], "field": None}})
    assert (flows - rigid).abs().max() > 2  # the field moves content by pixels on top of the pan
    ys, xs = np.mgrid[0:96, 0:96]
    design = np.stack([xs.ravel(), ys.ravel(), np.ones(96 * 96)], 1)
    for ch in range(4):  # no affine map explains the flow
        target = flows[1, ch].numpy().ravel()
        residual = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
        assert np.abs(residual).max() > 1.0
    # forward then backward through the field comes back to the start, everywhere (no occlusion here)
    f01, f10 = ds.flow(plan, 0.0, 1.0), ds.flow(plan, 1.0, 0.0)
    assert float(_fb_error(f01, f10)[10:-10, 10:-10].max()) < 0.02


def _fb_error(f01: torch.Tensor, f10: torch.Tensor) -> torch.Tensor:
    """|F_0->1(x) + F_1->0(x + F_0->1(x))| per pixel (bilinear look-up of F_1->0)."""
    from inter4k.models.vfi import backward_warp

    back = backward_warp(f10[None], f01[None])[0]
    return (f01 + back).norm(dim=0)


def test_occlusion_makes_forward_and_backward_flows_disagree_where_a_point_is_hidden(photos, smooth):
    ds = SyntheticMotionVFI([smooth, photos[1]], mode="30to60", patch_size=96, quantize=False)
    layer = {"image": 1, "box": (100, 100, 40, 40), "feather": 2.0, "harmonics": [], "start": (10.0, 28.0),
             "end": (46.0, 28.0), "field": None}  # moves 36 px right over a background panning 4 px
    plan = pan_plan(96, 2, (150, 150), (4.0, 0.0), [layer])
    _, masks = ds.render(plan, with_masks=True)
    f01, f10 = ds.flow(plan, 0.0, 1.0, masks[0]), ds.flow(plan, 1.0, 0.0, masks[2])
    error = _fb_error(f01, f10)
    m0, m1 = masks[0, 0].numpy() > 0.5, masks[2, 0].numpy() > 0.5
    ys, xs = np.mgrid[0:96, 0:96]
    land_x = np.clip(np.round(xs + f01[0].numpy()).astype(int), 0, 95)
    land_y = np.clip(np.round(ys + f01[1].numpy()).astype(int), 0, 95)
    hidden = ~m0 & m1[land_y, land_x]                      # background at 0, under the layer at 1
    edges = cv2.dilate((np.abs(masks[0, 0].numpy() - 0.5) < 0.49).astype(np.uint8)
                       | (np.abs(masks[2, 0].numpy() - 0.5) < 0.49).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    seen = ~hidden & ~edges
    seen[:, 90:] = False                                    # points that leave the view
    hidden &= ~edges
    assert hidden.sum() > 300 and seen.sum() > 3000
    assert float(error.numpy()[hidden].min()) > 20          # about the layer's 36 px minus the pan's 4
    assert float(error.numpy()[seen].max()) < 0.01          # consistent wherever the point stays visible


# --- exposure and light -----------------------------------------------------------------------------------

def test_motion_blur_averages_the_exposure_and_lowers_gradient_energy(smooth):
    ds = SyntheticMotionVFI([smooth], mode="30to60", patch_size=64, quantize=False, interpolation="linear")
    moving = pan_plan(64, 2, (200, 200), (40.0, 0.0))
    sharp = ds.render(with_effects(moving))
    blurred = ds.render(with_effects(moving, shutter=1.0, subframes=21))
    for k in range(3):
        assert gradient_energy(blurred[k]) < 0.7 * gradient_energy(sharp[k])
    # the blur is the mean of the renders over the exposure: here 20 px of pan, centred on the frame's time
    renders = [ds.render(with_effects(pan_plan(64, 2, (200 + s, 200), (40.0, 0.0)))) for s in np.linspace(-10, 10, 21)]
    torch.testing.assert_close(blurred, torch.stack(renders).mean(0), atol=1e-5, rtol=0)
    # no motion, no blur
    still = pan_plan(64, 2, (200, 200), (0.0, 0.0))
    torch.testing.assert_close(ds.render(with_effects(still, shutter=1.0, subframes=9)), ds.render(still),
                               atol=1e-5, rtol=0)


def test_blur_subframes_follow_the_motion_and_plans_leave_room_for_the_exposure():
    img = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)
    ds = SyntheticMotionVFI([img], patch_size=64, samples=40, realism=Realism(max_displacement=64.0, blur=1.0,
                                                                               shutter=(1.0, 1.0)))
    for i in range(len(ds)):
        plan = ds.plan(i)
        fx = plan["effects"]
        assert fx["shutter"] == 1.0 and fx["subframes"] % 2 == 1 and 3 <= fx["subframes"] <= 17
        z = plan["camera"]["zoom"]
        for tau in (-0.25, 1.25):  # the exposure reaches a quarter of the input interval past each input
            from inter4k.data.motion import _camera_at

            m = _camera_at(plan["camera"], tau, 64)
            corners = m @ np.array([[0, 63, 0, 63], [0, 0, 63, 63], [1, 1, 1, 1]])
            assert corners.min() >= 2 and corners[0].max() <= 297 and corners[1].max() <= 297, (i, z)


def test_brightness_gain_is_the_drawn_exponential_in_time(smooth):
    ds = SyntheticMotionVFI([smooth], mode="15to60", patch_size=48, quantize=False)
    plan = pan_plan(48, 4, (200, 200), (3.0, 1.0))
    plain, lit = ds.render(with_effects(plan)), ds.render(with_effects(plan, gain=(-0.1, 0.1)))
    for k in range(5):
        ok = plain[k] < 0.85
        ratio = (lit[k][ok] / plain[k][ok].clamp_min(1e-3)).median()
        assert float(ratio) == pytest.approx(math.exp(-0.1 + 0.2 * k / 4), abs=1e-4)


# --- measurement ------------------------------------------------------------------------------------------

def test_sensor_noise_is_on_the_inputs_only_with_the_drawn_strength(smooth):
    ds = SyntheticMotionVFI([smooth], mode="15to60", patch_size=96, quantize=False)
    plan = pan_plan(96, 4, (150, 150), (4.0, 2.0))
    clean, noisy = ds.render(with_effects(plan)), ds.render(with_effects(plan, noise=(0.02, 0.0)))
    assert torch.equal(clean[1:-1], noisy[1:-1])  # clean targets
    for k in (0, 4):
        d = (noisy[k] - clean[k])[(clean[k] > 0.1) & (clean[k] < 0.9)]  # away from clipping
        assert float(d.std()) == pytest.approx(0.02, rel=0.05) and abs(float(d.mean())) < 2e-3
    assert torch.equal(noisy, ds.render(with_effects(plan, noise=(0.02, 0.0))))   # the seed is in the plan
    assert not torch.equal(noisy, ds.render(with_effects(plan, noise=(0.02, 0.0), noise_seed=8)))
    shot = ds.render(with_effects(plan, noise=(0.0, 0.05)))[0] - clean[0]
    dark, bright = clean[0] < 0.2, clean[0] > 0.6  # signal-dependent: stronger where it is brighter
    assert float(shot[bright].std()) > 1.5 * float(shot[dark].std())
    every = SyntheticMotionVFI([smooth], mode="15to60", patch_size=96, quantize=False,
                               realism=Realism(clean_targets=False))
    assert not torch.equal(every.render(with_effects(plan, noise=(0.02, 0.0)))[2], clean[2])


def test_h264_changes_pixels_but_keeps_30_db_at_crf_18_and_loses_more_at_high_crf(photos):
    ds = SyntheticMotionVFI(photos[:1], mode="30to60", patch_size=128)
    plan = pan_plan(128, 2, (180, 160), (6.0, 2.0))
    clean = ds.render(with_effects(plan))
    crf18, crf40 = ds.render(with_effects(plan, crf=18)), ds.render(with_effects(plan, crf=40))
    assert torch.equal(crf18[1], clean[1])  # the target stays clean
    for k in (0, 2):
        assert not torch.equal(crf18[k], clean[k])
        assert float(psnr(crf18[k], clean[k])) > 30
        assert float(psnr(crf40[k], clean[k])) < float(psnr(crf18[k], clean[k])) - 3
    # a sample whose inputs are noisy and compressed (CRF 21): with libx264's MB-tree on, its inputs came out
    # different in about 1 render in 8 (the frames going into the encoder were the same)
    real = SyntheticMotionVFI(photos, patch_size=48, samples=4, realism="real", seed=3)
    noisy = real.plan(2)
    assert noisy["effects"]["crf"] == 21 and noisy["effects"]["noise"] is not None
    first = real.render(noisy)
    for _ in range(30):
        assert torch.equal(real.render(noisy), first)
    out = h264_roundtrip(np.zeros((3, 9, 11, 3), np.uint8), 20)      # odd sizes come back as they went in
    assert out.shape == (3, 9, 11, 3)
    with pytest.raises(ValueError, match="uint8"):
        h264_roundtrip(np.zeros((3, 8, 8, 3), np.float32), 20)


# --- the whole sample -------------------------------------------------------------------------------------

def test_real_samples_have_the_format_and_their_flows_warp_where_nothing_hides(photos, smooth):
    ds = SyntheticMotionVFI(photos, mode="15to60", patch_size=64, samples=6, realism="real", with_flows=True)
    for i in range(6):
        inputs, targets, t, flows = ds[i]
        assert inputs.shape == (2, 3, 64, 64) and targets.shape == (3, 3, 64, 64) and flows.shape == (3, 4, 64, 64)
        assert float(inputs.min()) >= 0 and float(inputs.max()) <= 1 and torch.isfinite(flows).all()
    # with the measurement effects off, the true flows warp the inputs to the targets (no objects: no occlusion)
    quiet = SyntheticMotionVFI([smooth], mode="15to60", patch_size=96, samples=4, objects=(0, 0), quantize=False,
                               realism=dataclasses.replace(QUIET, nonrigid=1.0, layers=(0, 0), nonrigid_amplitude=24.0))
    for i in range(4):
        plan = quiet.plan(i)
        assert plan["camera"]["field"] is not None
        frames, flows = quiet.render(plan), quiet.flows(plan)
        keep = _inner(flows)
        if keep[0].sum() < 20 * 20:
            continue
        for p0, p1 in _warp_psnrs(frames, flows, keep):
            assert p0 > 33 and p1 > 33, (i, p0, p1)
