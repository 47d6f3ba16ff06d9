"""inter4k evaluate --task vsr: a clip model against the per-frame SR baseline and bicubic, temporal rows."""

from __future__ import annotations

import math

import pytest
import torch

from inter4k.evaluate import evaluate
from inter4k.metrics.temporal import error_flicker


@pytest.fixture(scope="module")
def result(photo_corpus, tmp_path_factory):
    report = tmp_path_factory.mktemp("vsr") / "report"
    return evaluate(task="vsr", data=f"photos:{photo_corpus}", scale=2, limit=1, frames=3, metrics="psnr",
                    report=report), report


def test_methods_and_keys_with_the_bundled_weights(result):
    r, _ = result
    assert [m.name for m in r.methods] == ["vsr-small", "sr-lr-small", "bicubic"]   # data/weights/vsr-small_x2.pt
    assert r.keys == ["psnr_y", "grid_y", "psnr_rgb", "flicker_y", "warp_y"]
    assert not any("untrained" in w for w in r.warnings)
    model, bicubic = r.method("vsr-small"), r.method("bicubic")
    assert len(model.frames) == 3 and len(model.clips) == 1
    assert model.mean_over_frames["psnr_y"] > bicubic.mean_over_frames["psnr_y"] + 1.0


def test_an_untrained_model_equals_bicubic(photo_corpus):
    from inter4k.models import create_model

    model = create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, flow_channels=4)
    r = evaluate(task="vsr", model=model, data=f"photos:{photo_corpus}", scale=2, limit=1, frames=3, metrics="psnr")
    mine, bicubic = r.primary, r.method("bicubic")
    for a, b in zip(mine.frames, bicubic.frames):   # an untrained vsr-small returns bicubic
        for k in r.keys:
            assert a.values[k] == pytest.approx(b.values[k], abs=1e-6) if a.values[k] is not None \
                else b.values[k] is None


def test_temporal_values_are_per_frame_after_the_first_and_summarised_per_clip(result, photo_corpus):
    r, _ = result
    frames = r.method("bicubic").frames
    assert frames[0].values["flicker_y"] is None and frames[0].values["warp_y"] is None
    assert all(f.values["flicker_y"] > 0 and math.isfinite(f.values["warp_y"]) for f in frames[1:])
    clip = r.method("bicubic").clips[0]
    assert clip.means["flicker_y"] == pytest.approx((frames[1].values["flicker_y"] + frames[2].values["flicker_y"]) / 2)
    # the same value as the metric computed here on the same clip (bicubic of the 8-bit LR, border = scale)
    from inter4k.data.sources import open_dataset, parse_data
    from inter4k.models.upsamplers import bicubic_upsample

    ds = open_dataset(parse_data(f"photos:{photo_corpus}", "vsr", "test"), "vsr", "test", scale=2, limit=1, frames=3)
    lr, hr = ds[0]
    want = error_flicker(bicubic_upsample(lr, 2).clamp(0, 1), hr, crop_border=2)
    assert [f.values["flicker_y"] for f in frames[1:]] == pytest.approx(want.tolist())
    assert r.method("bicubic").mean_over_frames["flicker_y"] == pytest.approx(float(want.mean()))


def test_report_has_the_temporal_columns_and_plots(result):
    _, report = result
    page = (report / "report.html").read_text()
    assert "flicker-Y (levels) per frame" in page and "warp-Y (levels) per frame" in page
    assert "flicker-Y (levels)" in (report / "report.md").read_text()
    assert "flicker_y" in (report / "report.csv").read_text().splitlines()[0]


def test_a_single_frame_model_is_refused(photo_corpus):
    with pytest.raises(ValueError, match="--task vsr evaluates a clip model .* use --task sr for it"):
        evaluate(task="vsr", model="bicubic", data=f"photos:{photo_corpus}", scale=2, limit=1, frames=3)
    with pytest.raises(ValueError, match="frames must be one of 3, 5, 9"):
        evaluate(task="vsr", data=f"photos:{photo_corpus}", scale=2, limit=1, frames=4)


def test_a_trained_clip_model_changes_the_result(photo_corpus):
    from inter4k.models import create_model

    torch.manual_seed(0)
    model = create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, flow_channels=4)
    with torch.no_grad():
        model.frame_net.out.values.bias.fill_(0.02)   # a constant offset: flicker of its error unchanged, PSNR lower
    r = evaluate(task="vsr", model=model, data=f"photos:{photo_corpus}", scale=2, limit=1, frames=3, metrics="psnr")
    mine, bicubic = r.primary.mean_over_frames, r.method("bicubic").mean_over_frames
    assert r.primary.name == "vsr-small" and mine["psnr_y"] < bicubic["psnr_y"]
    assert mine["flicker_y"] == pytest.approx(bicubic["flicker_y"], abs=0.05)


def test_pairs_mode_of_video_sr_adds_the_temporal_values(tmp_path):
    import cv2
    import numpy as np

    g = np.random.default_rng(0)
    base = cv2.resize(g.integers(40, 200, (4, 5, 3)).astype(np.uint8), (40, 32), interpolation=cv2.INTER_CUBIC)
    for side, sign in (("ref", 0), ("pred", 1)):
        folder = tmp_path / side / "clip"
        folder.mkdir(parents=True)
        for t in range(4):   # the prediction's error alternates +4 / -4 RGB levels: flicker 2 x 4 x 219/255
            frame = base.astype(int) + sign * (4 if t % 2 == 0 else -4)
            cv2.imwrite(str(folder / f"{t:04d}.png"), frame.astype(np.uint8))
    r = evaluate(task="vsr", pred=tmp_path / "pred", ref=tmp_path / "ref", scale=2, metrics="psnr")
    assert r.keys[-2:] == ["flicker_y", "warp_y"]
    frames = r.primary.frames
    assert frames[0].values["flicker_y"] is None
    assert [f.values["flicker_y"] for f in frames[1:]] == pytest.approx([8 * 219 / 255] * 3)
    assert [f.values["warp_y"] for f in frames[1:]] == pytest.approx([8 * 219 / 255] * 3, rel=0.02)
    plain = evaluate(task="sr", pred=tmp_path / "pred", ref=tmp_path / "ref", scale=2, metrics="psnr")
    assert "flicker_y" not in plain.keys


def test_inter4k_clips_of_consecutive_frames(sample_root):
    r = evaluate(task="vsr", data=str(sample_root), scale=2, limit=1, frames=4, metrics="psnr")
    model = r.primary
    assert r.config["data_kind"] == "inter4k" and len(model.frames) == 4 and len(model.clips) == 1
    assert [f.index for f in model.frames] == [0, 1, 2, 3]
    assert model.mean_over_frames["warp_y"] is not None and model.mean_over_frames["flicker_y"] > 0
