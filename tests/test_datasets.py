"""inter4k.data.datasets: Inter4KSR and Inter4KVFI on a tiny synthetic sample tree.

Every sample is checked against the video decoded independently here (all frames of the clip,
from the start, with inter4k.video.iter_frames), using the dataset's own plan() for where it came
from: crops, flips, temporal reversal, VFI frame indices and timesteps.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import torch

from inter4k.data import layout
from inter4k.data.datasets import Inter4KSR, Inter4KVFI, derived_resolution
from inter4k.data.resize import imresize, imresize_np
from inter4k.data.sample import make_sample
from inter4k.video import VideoWriter, iter_frames

FRAMES = 30  # 0.5 s at 60 fps
H, W = 216, 384


@pytest.fixture(scope="module")
def root(sample_root):
    return sample_root


@lru_cache(maxsize=8)
def _all_frames(path: str) -> np.ndarray:
    return np.stack(list(iter_frames(path)))


def frames_of(root, clip: int, res: str = "UHD") -> np.ndarray:
    return _all_frames(str(layout.clip_path(root, clip, res=res)))


def expected_crop(frames: np.ndarray, plan: dict, div: int = 1) -> torch.Tensor:
    """The plan applied by hand: crop, then flips / reversal, as (T, 3, h, w) float in [0, 1]."""
    y, x, h, w = plan["y"] // div, plan["x"] // div, plan["height"] // div, plan["width"] // div
    a = frames[plan["start"]:plan["start"] + plan["frames"], y:y + h, x:x + w]
    if plan["reverse"]:
        a = a[::-1]
    if plan["vflip"]:
        a = a[:, ::-1]
    if plan["hflip"]:
        a = a[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float() / 255


def test_sr_shapes_dtypes_and_ranges(root):
    ds = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=3)
    assert len(ds) == 6
    lr, hr = ds[0]
    assert lr.shape == (3, 24, 24) and hr.shape == (3, 96, 96)
    assert lr.dtype == hr.dtype == torch.float32
    for t in (lr, hr):
        assert 0 <= float(t.min()) and float(t.max()) <= 1
    seq = Inter4KSR(root, split="val", scale=3, patch_size=48, frames=3, clips=[2])
    lr, hr = seq[0]
    assert lr.shape == (3, 3, 16, 16) and hr.shape == (3, 3, 48, 48)
    full = Inter4KSR(root, split="test", scale=4, patch_size=None, clips=[3])
    lr, hr = full[0]
    assert hr.shape == (3, H, W) and lr.shape == (3, H // 4, W // 4)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=0)))
    assert batch[0].shape == (4, 3, 24, 24) and batch[1].shape == (4, 3, 96, 96)


def test_split_comes_from_load_split_when_clips_is_none(root):
    from inter4k.data.splits import load_split

    for split in ("train", "val", "test"):
        assert Inter4KSR(root, split=split, patch_size=96).clips == load_split(split, root)


def test_sr_lr_is_imresize_of_hr_exactly(root):
    ds = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2, 3], samples_per_clip=2)
    for i in range(len(ds)):
        lr, hr = ds[i]
        assert torch.equal(lr, imresize(hr, scale=0.25).clamp(0, 1))
    q = Inter4KSR(root, split="train", scale=3, patch_size=48, clips=[1], quantize=True)
    lr, hr = q[0]
    assert torch.equal(lr, torch.round(imresize(hr, scale=1 / 3).clamp(0, 1) * 255) / 255)
    assert torch.equal(lr * 255, torch.round(lr * 255))


def test_sr_hr_is_the_decoded_crop_and_flips_are_consistent(root):
    ds = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2, 3], samples_per_clip=6, seed=3)
    seen = {"hflip": 0, "vflip": 0, "plain": 0}
    for i in range(len(ds)):
        plan = ds.plan(i)
        assert plan["y"] % 4 == 0 and plan["x"] % 4 == 0  # aligned to the scale
        assert plan["y"] + 96 <= H and plan["x"] + 96 <= W
        lr, hr = ds[i]
        assert torch.equal(hr, expected_crop(frames_of(root, plan["clip"]), plan)[0])
        # the LR is the unflipped patch's LR, flipped the same way (imresize commutes with flips)
        unflipped = expected_crop(frames_of(root, plan["clip"]), dict(plan, hflip=False, vflip=False))[0]
        ref = imresize(unflipped, scale=0.25).clamp(0, 1)
        ref = ref.flip([d for d, on in ((-2, plan["vflip"]), (-1, plan["hflip"])) if on]) if (plan["hflip"] or plan["vflip"]) else ref
        torch.testing.assert_close(lr, ref, rtol=0, atol=1e-5)
        seen["hflip"] += plan["hflip"]
        seen["vflip"] += plan["vflip"]
        seen["plain"] += not (plan["hflip"] or plan["vflip"])
    assert all(seen.values()), seen  # every case was exercised


def test_sr_sequences_are_consecutive_frames_and_reversal_applies_to_both(root):
    ds = Inter4KSR(root, split="train", scale=2, patch_size=64, frames=4, clips=[1, 2], samples_per_clip=6)
    reversed_seen = 0
    for i in range(len(ds)):
        plan = ds.plan(i)
        assert 0 <= plan["start"] <= FRAMES - 4
        lr, hr = ds[i]
        assert hr.shape == (4, 3, 64, 64) and lr.shape == (4, 3, 32, 32)
        assert torch.equal(hr, expected_crop(frames_of(root, plan["clip"]), plan))
        assert torch.equal(lr, imresize(hr, scale=0.5).clamp(0, 1))
        reversed_seen += plan["reverse"]
    assert reversed_seen


def test_eval_crops_are_deterministic_and_train_randomness_is_seeded(root):
    a = Inter4KSR(root, split="val", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=2)
    b = Inter4KSR(root, split="val", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=2)
    assert len(a) == 4
    for i in range(len(a)):
        pa = a.plan(i)
        assert pa == b.plan(i)
        assert not (pa["hflip"] or pa["vflip"] or pa["reverse"])
        assert (pa["y"], pa["x"]) == ((H - 96) // 2 // 4 * 4, (W - 96) // 2 // 4 * 4)  # centre, aligned
        for x, y in zip(a[i], b[i]):
            assert torch.equal(x, y)
    assert [a.plan(i)["start"] for i in range(2)] == [7, 22]  # the middles of two halves of 30 frames

    t1 = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=4, seed=5)
    t2 = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=4, seed=5)
    t3 = Inter4KSR(root, split="train", scale=4, patch_size=96, clips=[1, 2], samples_per_clip=4, seed=6)
    plans = [t1.plan(i) for i in range(8)]
    assert plans == [t2.plan(i) for i in range(8)]
    assert plans != [t3.plan(i) for i in range(8)]
    assert torch.equal(t1[3][1], t2[3][1])
    t2.set_epoch(1)
    assert plans != [t2.plan(i) for i in range(8)]
    assert [p["clip"] for p in plans] == [1, 1, 1, 1, 2, 2, 2, 2]


def _derive_fhd(root, clip: int) -> None:
    """An FHD (x2) version of a clip, made here from its decoded frames."""
    with VideoWriter(layout.clip_path(root, clip, res="FHD"), 60, (W // 2, H // 2), crf=4) as w:
        for f in frames_of(root, clip):
            w.write(imresize_np(f, scale=0.5))


def test_derived_source(root):
    assert (derived_resolution(2), derived_resolution(3), derived_resolution(4)) == ("FHD", "HD", "qHD")
    assert derived_resolution(2, "QHD") == "HD" and derived_resolution(4, "QHD") == "nHD"
    with pytest.raises(FileNotFoundError) as exc:
        Inter4KSR(root, split="train", scale=3, patch_size=48, clips=[1], lr_source="derived")
    msg = str(exc.value)
    assert str(layout.clip_path(root, 1, res="HD")) in msg and "inter4k derive" in msg

    _derive_fhd(root, 1)
    ds = Inter4KSR(root, split="train", scale=2, patch_size=64, frames=2, clips=[1], samples_per_clip=8,
                   lr_source="derived")
    lr_frames = frames_of(root, 1, "FHD")
    flipped = 0
    for i in range(len(ds)):
        plan = ds.plan(i)
        lr, hr = ds[i]
        assert lr.shape == (2, 3, 32, 32) and hr.shape == (2, 3, 64, 64)
        assert torch.equal(hr, expected_crop(frames_of(root, 1), plan))
        assert torch.equal(lr, expected_crop(lr_frames, plan, div=2))  # aligned crop, same flips
        # and it is the HR's content: close to its bicubic LR (a misaligned crop would be far off)
        assert float((lr - imresize(hr, scale=0.5)).abs().mean()) < 0.02
        flipped += plan["hflip"] or plan["vflip"] or plan["reverse"]
    assert flipped


@pytest.mark.parametrize("mode,span", [("30to60", 2), ("15to60", 4), ("8x", 8)])
def test_vfi_targets_and_timesteps_follow_the_rule(root, mode, span):
    ds = Inter4KVFI(root, split="train", mode=mode, patch_size=64, clips=[1, 2], samples_per_clip=5)
    t_expected = torch.arange(1, span, dtype=torch.float32) / span
    reversed_seen = 0
    for i in range(len(ds)):
        plan = ds.plan(i)
        base = plan["start"]
        assert base % span == 0 and base + span < FRAMES
        inputs, targets, t = ds[i]
        assert inputs.shape == (2, 3, 64, 64) and targets.shape == (span - 1, 3, 64, 64)
        assert t.dtype == torch.float32 and torch.equal(t, t_expected)
        seq = expected_crop(frames_of(root, plan["clip"]), dict(plan, reverse=False))  # frames base..base+span
        first, last = (span, 0) if plan["reverse"] else (0, span)
        assert torch.equal(inputs[0], seq[first]) and torch.equal(inputs[1], seq[last])
        for k in range(span - 1):
            # target k sits at time t[k] between inputs[0] and inputs[1]
            src = span - 1 - k if plan["reverse"] else 1 + k
            assert torch.equal(targets[k], seq[src])
            assert abs(abs(src - first) / span - float(t[k])) < 1e-7
        reversed_seen += plan["reverse"]
    assert reversed_seen


def test_vfi_eval_and_full_frames(root):
    ds = Inter4KVFI(root, split="test", mode="15to60", patch_size=None, clips=[3])
    inputs, targets, t = ds[0]
    assert inputs.shape == (2, 3, H, W) and targets.shape == (3, 3, H, W)
    plan = ds.plan(0)
    assert plan["start"] % 4 == 0 and not plan["reverse"]
    assert torch.equal(targets[1], expected_crop(frames_of(root, 3), plan)[2])
    again = Inter4KVFI(root, split="test", mode="15to60", patch_size=None, clips=[3])
    assert torch.equal(again[0][1], targets)


def test_errors(root, tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        Inter4KSR(root, split="training", patch_size=96)
    with pytest.raises(ValueError, match="unknown scale"):
        Inter4KSR(root, scale=5, patch_size=96)
    with pytest.raises(ValueError, match="unknown lr_source"):
        Inter4KSR(root, lr_source="nearest", patch_size=96)
    with pytest.raises(ValueError, match="not a multiple of scale"):
        Inter4KSR(root, scale=4, patch_size=90)
    with pytest.raises(ValueError, match="unknown mode"):
        Inter4KVFI(root, mode="2x", patch_size=64)
    with pytest.raises(ValueError, match="larger than the frames"):
        Inter4KSR(root, split="train", scale=4, patch_size=240, clips=[1])
    with pytest.raises(ValueError, match="larger than the frames"):
        Inter4KVFI(root, split="train", patch_size=256, clips=[1])  # the default on 384x216 frames
    with pytest.raises(FileNotFoundError) as exc:
        Inter4KSR(tmp_path, patch_size=96)
    msg = str(exc.value)
    assert str(layout.clip_dir(tmp_path)) in msg and "inter4k download" in msg and "inter4k sample" in msg
    with pytest.raises(FileNotFoundError, match="missing"):
        Inter4KSR(root, clips=[1, 99], patch_size=96)
    with pytest.raises(IndexError):
        Inter4KSR(root, split="val", clips=[1], patch_size=96)[1]
