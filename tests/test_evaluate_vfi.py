"""inter4k evaluate --task vfi (model mode): the baseline rows against direct computations, the samples
against the datasets they come from (synthetic motion, Inter4KVFI on the bundled sample), a model loaded
from a saved file, the default model, the report files and HTML crops, per-t means, errors, the CLI."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app, main
from inter4k.data.datasets import Inter4KVFI
from inter4k.data.motion import TEST_PHOTOS, SyntheticMotionVFI
from inter4k.evaluate import evaluate
from inter4k.evaluate.vfi_data import sample_starts
from inter4k.metrics import psnr, ssim
from inter4k.models import create_model
from inter4k.models.weights import save_model

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "inter4k"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PATCH = 48   # small synthetic frames keep the tests fast

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_bundled_vfi(monkeypatch, tmp_path):
    """An empty weights folder (whatever data/weights holds) and an empty torch hub cache (no LPIPS)."""
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no_weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


def np_psnr_y(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR on MATLAB's rgb2ycbcr Y (0..255 scale) by NumPy, from (3, H, W) tensors in [0, 1]."""
    ya, yb = (16.0 + np.clip(x.double().numpy(), 0, 1).transpose(1, 2, 0) @ np.array([65.481, 128.553, 24.966])
              for x in (a, b))
    mse = np.mean((ya - yb) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def perturbed_vfi_small() -> torch.nn.Module:
    """A vfi-small whose zero-initialised heads are no longer zero: no longer frame averaging."""
    model = create_model("vfi-small")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


# --- the numbers --------------------------------------------------------------------------------------

def test_vfi_average_row_equals_the_direct_average_of_the_held_out_synthetic_samples():
    r = evaluate(task="vfi", data="synthetic", vfi_mode="30to60", limit=3, patch=PATCH, metrics="psnr,ssim")
    assert [m.name for m in r.methods] == ["vfi-average", "vfi-nearest", "vfi-ffmpeg"]  # no bundled weights: baselines
    assert any("no trained VFI weights" in w for w in r.warnings)
    assert r.config["crop_border"] == 0 and r.config["vfi_mode"] == "30to60" and r.config["seed"] == 0
    ds = SyntheticMotionVFI(None, mode="30to60", patch_size=PATCH, seed=0, split="test")
    avg, near = r.method("vfi-average"), r.method("vfi-nearest")
    assert [c.name for c in avg.clips] == [f"{i}-{TEST_PHOTOS[i]}" for i in range(3)]  # the held-out photographs
    for i, (a, n) in enumerate(zip(avg.frames, near.frames)):
        inputs, targets, t = ds[i]
        assert (a.t, a.index, a.inputs) == (0.5, 1, (0, 2))
        direct = ((inputs[0] + inputs[1]) / 2).clamp(0, 1)
        assert a.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[0])), abs=1e-9)
        assert a.values["psnr_y"] == pytest.approx(np_psnr_y(direct, targets[0]), abs=1e-6)
        assert a.values["ssim_y"] == pytest.approx(float(ssim(direct, targets[0])), abs=1e-9)
        assert a.values["psnr_rgb"] == pytest.approx(float(psnr(direct, targets[0], y_channel=False)), abs=1e-9)
        # nearest at t = 1/2 is the second input
        assert n.values["psnr_y"] == pytest.approx(float(psnr(inputs[1], targets[0])), abs=1e-9)
    assert avg.mean_over_frames["psnr_y"] == pytest.approx(np.mean([f.values["psnr_y"] for f in avg.frames]))


def test_several_t_per_sample_give_per_t_means_of_the_linear_blend():
    events = []
    r = evaluate(task="vfi", data="synthetic", vfi_mode="8x", limit=2, patch=PATCH, metrics="psnr",
                 callback=lambda kind, info: events.append((kind, info)))
    ds = SyntheticMotionVFI(None, mode="8x", patch_size=PATCH, seed=0, split="test")
    avg = r.method("vfi-average")
    # the progress counts target frames and moves after each one (7 per input pair), as SR's after each frame
    assert [(i["done"], i["total"], i["clip"]) for k, i in events if k == "frame"] == [
        (n + 1, 14, f.clip) for n, f in enumerate(avg.frames)]
    assert len(avg.frames) == 2 * 7 and [c.frames for c in avg.clips] == [7, 7]
    expected: dict[float, list[float]] = {}
    for i in range(2):
        inputs, targets, ts = ds[i]
        for k in range(7):
            t = float(ts[k])
            rec = avg.frames[7 * i + k]
            assert rec.t == t == (k + 1) / 8 and rec.index == k + 1 and rec.inputs == (0, 8)
            direct = ((1 - t) * inputs[0] + t * inputs[1]).clamp(0, 1)
            assert rec.values["psnr_y"] == pytest.approx(np_psnr_y(direct, targets[k]), abs=1e-5)
            expected.setdefault(t, []).append(rec.values["psnr_y"])
    per_t = avg.per_t
    assert [g["t"] for g in per_t] == sorted(expected) and all(g["frames"] == 2 for g in per_t)
    for g in per_t:
        assert g["psnr_y"] == pytest.approx(np.mean(expected[g["t"]]))


# --- models ---------------------------------------------------------------------------------------------

def test_a_saved_model_is_loaded_by_path_untrained_equals_averaging_perturbed_differs(tmp_path):
    fresh = save_model(create_model("vfi-small"), tmp_path / "fresh.pt")
    r = evaluate(task="vfi", model=str(fresh), data="synthetic", limit=2, patch=PATCH, metrics="psnr")
    assert [m.name for m in r.methods] == [str(fresh), "vfi-average", "vfi-nearest", "vfi-ffmpeg"]
    assert not any("no trained VFI weights" in w for w in r.warnings)
    for m, a in zip(r.primary.frames, r.method("vfi-average").frames):
        assert m.values["psnr_y"] == pytest.approx(a.values["psnr_y"], abs=1e-3)  # fresh vfi-small = averaging

    model = perturbed_vfi_small()
    path = save_model(model, tmp_path / "perturbed.pt")
    r = evaluate(task="vfi", model=path, data="synthetic", limit=2, patch=PATCH, metrics="psnr")
    ds = SyntheticMotionVFI(None, mode="30to60", patch_size=PATCH, seed=0, split="test")
    for i, (m, a) in enumerate(zip(r.primary.frames, r.method("vfi-average").frames)):
        inputs, targets, _ = ds[i]
        with torch.no_grad():
            direct = model(inputs[:1], inputs[1:], 0.5)[0].clamp(0, 1)
        assert m.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[0])), abs=1e-4)
        assert abs(m.values["psnr_y"] - a.values["psnr_y"]) > 0.01


def test_default_model_is_the_bundled_vfi_small_file(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    save_model(perturbed_vfi_small(), weights / "vfi-small.pt")
    monkeypatch.setenv("INTER4K_WEIGHTS", str(weights))
    r = evaluate(task="vfi", data="synthetic", limit=1, patch=PATCH, metrics="psnr")
    assert [m.name for m in r.methods] == ["vfi-small (vfi-small.pt)", "vfi-average", "vfi-nearest", "vfi-ffmpeg"]
    assert r.warnings == []
    # a baseline given as the model is not repeated
    r = evaluate(task="vfi", model="vfi-nearest", data="synthetic", limit=1, patch=PATCH, metrics="psnr")
    assert [m.name for m in r.methods] == ["vfi-nearest", "vfi-average", "vfi-ffmpeg"]


def test_vfi_ffmpeg_as_the_model_and_as_a_baseline_row_equals_minterpolate_run_directly():
    from inter4k.models.vfi_ffmpeg import VFIFFmpeg

    r = evaluate(task="vfi", model="vfi-ffmpeg", vfi_mode="15to60", data="synthetic", limit=2, patch=PATCH,
                 metrics="psnr")
    assert [m.name for m in r.methods] == ["vfi-ffmpeg", "vfi-average", "vfi-nearest"]  # not repeated
    ds = SyntheticMotionVFI(None, mode="15to60", patch_size=PATCH, seed=0, split="test")
    direct = VFIFFmpeg()
    for i in range(2):
        inputs, targets, ts = ds[i]
        for k, t in enumerate(ts.tolist()):
            rec = r.primary.frames[3 * i + k]
            assert rec.t == t
            out = direct(inputs[:1], inputs[1:], t)[0].clamp(0, 1)
            assert rec.values["psnr_y"] == pytest.approx(float(psnr(out, targets[k])), abs=1e-6)
    base = evaluate(task="vfi", data="synthetic", vfi_mode="15to60", limit=2, patch=PATCH, metrics="psnr")
    assert [f.values for f in base.method("vfi-ffmpeg").frames] == [f.values for f in r.primary.frames]


# --- report -----------------------------------------------------------------------------------------------

def test_report_files_per_t_and_html_crops(tmp_path):
    path = save_model(perturbed_vfi_small(), tmp_path / "m.pt")
    rep = tmp_path / "rep"
    r = evaluate(task="vfi", model=path, vfi_mode="15to60", data="synthetic", limit=2, patch=PATCH,
                 metrics="psnr,ssim", report=rep)
    assert sorted(p.name for p in rep.iterdir()) == ["report.csv", "report.html", "report.json", "report.md"]
    data = json.loads((rep / "report.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["task"] == "vfi" and data["mode"] == "model" and data["primary"] == str(path)
    assert data["config"]["vfi_mode"] == "15to60" and data["config"]["timesteps"] == [0.25, 0.5, 0.75]
    per_t = data["methods"]["vfi-average"]["per_t"]
    assert [g["t"] for g in per_t] == [0.25, 0.5, 0.75] and [g["frames"] for g in per_t] == [2, 2, 2]
    assert data["methods"]["vfi-average"]["per_frame"][0]["inputs"] == [0, 4]
    rows = list(csv.DictReader(io.StringIO((rep / "report.csv").read_text())))
    assert len(rows) == 4 * 2 * 3 and rows[0]["t"] == "0.25" and rows[0]["method"] == str(path)
    for row in rows:  # the CSV holds exactly the recorded values
        rec = next(f for f in r.method(row["method"]).frames if (f.clip, f.index) == (row["clip"], int(row["frame"])))
        assert float(row["psnr_y"]) == rec.values["psnr_y"]
    md = (rep / "report.md").read_text()
    assert "## Mean per target time t" in md and "| vfi-average | 3/4 | 2 |" in md
    # crops: panels frame0 / average / model / ground truth / frame1, cut from the right frames
    assert [c.title for c in r.crops] == ["where the model gains most", "centre of the first frame",
                                          "where the model gains least"]
    ds = SyntheticMotionVFI(None, mode="15to60", patch_size=PATCH, seed=0, split="test")
    for c in r.crops:
        assert list(c.images) == ["frame0", "vfi-average", str(path), "ground truth", "frame1"]
        sample = int(c.clip.split("-")[0])
        inputs, targets, _ = ds[sample]
        y, x, h, w = c.box

        def cut(f: torch.Tensor) -> np.ndarray:
            return (f[:, y:y + h, x:x + w].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(c.images["frame0"], cut(inputs[0]))
        assert np.array_equal(c.images["frame1"], cut(inputs[1]))
        assert np.array_equal(c.images["ground truth"], cut(targets[c.frame - 1]))
        assert c.t == {1: "1/4", 2: "1/2", 3: "3/4"}[c.frame]
    page = (rep / "report.html").read_text()
    assert "Mean per target time t" in page
    assert page.count("<figcaption>frame0</figcaption>") == 3
    assert page.count("<figcaption>ground truth</figcaption>") == 3
    assert page.count("data:image/png;base64,") == 3 * 5 + 2  # crops + the two plots


# --- Inter4K --------------------------------------------------------------------------------------------

def test_inter4k_sample_limit_1_frames_2_matches_inter4kvfi():
    r = evaluate(task="vfi", data=str(SAMPLE), split="test", limit=1, frames=2, metrics="psnr", model="vfi-average")
    avg = r.primary
    assert [m.name for m in r.methods] == ["vfi-average", "vfi-nearest", "vfi-ffmpeg"]
    # the sample's test split is clip 3 (60 frames); 30to60 starts 0, 2, ..., 56; 2 spread as Inter4KVFI does
    assert [(f.clip, f.index, f.inputs, f.t) for f in avg.frames] == [("3", 15, (14, 16), 0.5),
                                                                       ("3", 43, (42, 44), 0.5)]
    ds = Inter4KVFI(SAMPLE, split="test", mode="30to60", patch_size=None, samples_per_clip=2)
    for k, rec in enumerate(avg.frames):
        assert ds.plan(k)["start"] + 1 == rec.index
        inputs, targets, _ = ds[k]
        assert targets.shape[-2:] == (216, 384)  # whole frames
        direct = ((inputs[0] + inputs[1]) / 2).clamp(0, 1)
        assert rec.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[0])), abs=1e-9)


def test_inter4k_every_sample_decoded_in_one_pass_with_a_centre_crop():
    r = evaluate(task="vfi", data=str(SAMPLE), vfi_mode="8x", limit=1, patch=32, metrics="psnr", model="vfi-average")
    avg = r.primary
    ds = Inter4KVFI(SAMPLE, split="test", mode="8x", patch_size=32, samples_per_clip=7)
    assert [ds.plan(i)["start"] for i in range(7)] == list(range(0, 49, 8)) == sample_starts(ds.starts(3), None)
    assert len(avg.frames) == 7 * 7 and r.config["samples"] == 7 and r.config["patch"] == 32
    for i in range(7):
        inputs, targets, ts = ds[i]
        for k in range(7):
            rec = avg.frames[7 * i + k]
            t = float(ts[k])
            assert (rec.index, rec.t) == (8 * i + k + 1, t)
            direct = ((1 - t) * inputs[0] + t * inputs[1]).clamp(0, 1)
            assert rec.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[k])), abs=1e-9)


# --- errors and the CLI -------------------------------------------------------------------------------

def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown mode '4x'; choose from 30to60, 15to60, 8x"):
        evaluate(task="vfi", data="synthetic", vfi_mode="4x")
    with pytest.raises(ValueError, match="--mode .* is for --task vfi"):
        evaluate(task="sr", data=str(SAMPLE), vfi_mode="30to60")
    with pytest.raises(ValueError, match="--mode .* is for --task vfi"):
        evaluate(task="vfi", pred="x", ref="y", vfi_mode="8x")
    with pytest.raises(ValueError, match="--patch"):
        evaluate(task="sr", data=str(SAMPLE), patch=64)
    with pytest.raises(ValueError, match="--quantize-lr is for --task sr"):
        evaluate(task="vfi", data="synthetic", quantize_lr=True)
    with pytest.raises(ValueError, match="patch must be at least 8"):
        evaluate(task="vfi", data="synthetic", patch=4)
    with pytest.raises(ValueError, match="larger than the frames"):
        evaluate(task="vfi", data=str(SAMPLE), patch=512, limit=1)
    with pytest.raises(FileNotFoundError, match="data folder .*nowhere does not exist.*synthetic"):
        evaluate(task="vfi", data=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="super-resolution model"):
        evaluate(task="vfi", data="synthetic", model="bicubic", limit=1, patch=PATCH)


def test_cli_table_per_t_and_json(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--task", "vfi", "--mode", "15to60", "--data", "synthetic", "--limit", "1",
                              "--patch", str(PATCH), "--metrics", "psnr"])
    assert res.exit_code == 0, res.output
    out = ANSI.sub("", res.stdout)
    direct = evaluate(task="vfi", vfi_mode="15to60", data="synthetic", limit=1, patch=PATCH, metrics="psnr")
    assert f"{direct.primary.mean_over_frames['psnr_y']:.2f}" in out
    assert "mean per target time t" in out and "3/4" in out
    assert "no trained VFI weights" in ANSI.sub("", res.stderr)
    res = runner.invoke(app, ["evaluate", "--task", "vfi", "--data", str(SAMPLE), "--limit", "1", "--frames", "2",
                              "--metrics", "psnr", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["config"]["vfi_mode"] == "30to60" and list(data["methods"]) == ["vfi-average", "vfi-nearest",
                                                                                       "vfi-ffmpeg"]
    assert [f["frame"] for f in data["methods"]["vfi-average"]["per_frame"]] == [15, 43]


def test_cli_bad_mode_exits_2_with_one_line(capsys, monkeypatch):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    assert main(["evaluate", "--task", "vfi", "--mode", "4x", "--data", "synthetic"]) == 2
    err = ANSI.sub("", capsys.readouterr().err)
    assert "unknown mode '4x'" in err and "Traceback" not in err


def test_photos_data_evaluates_real_clips_of_the_corpus_split(tmp_path):
    import cv2
    import skimage.data

    from inter4k.data.realism import REALISM

    root = tmp_path / "photos"
    for split, name in (("train", "chelsea"), ("val", "rocket"), ("test", "astronaut")):
        (root / split).mkdir(parents=True)
        cv2.imwrite(str(root / split / f"{name}.png"), cv2.cvtColor(getattr(skimage.data, name)()[..., :3],
                                                                     cv2.COLOR_RGB2BGR))
    (root / "manifest.json").write_text("{}")
    r = evaluate(task="vfi", data=f"photos:{root}", limit=2, patch=PATCH, metrics="psnr", model="vfi-average")
    assert r.config["data"] == f"photos:{root / 'test'}" and r.config["realism"] == "real"
    ds = SyntheticMotionVFI(root / "test", mode="30to60", patch_size=PATCH, seed=0, split="test",
                            realism=REALISM["real"])
    for i, rec in enumerate(r.primary.frames):
        inputs, targets, _ = ds[i]
        direct = ((inputs[0] + inputs[1]) / 2).clamp(0, 1)
        assert rec.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[0])), abs=1e-9)
