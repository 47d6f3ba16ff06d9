"""inter4k evaluate, pairs mode and model mode: the numbers against independent computations, frame pairing
(image folders, videos, folders of clips), the errors, LPIPS present (a fake trunk file) and absent, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from typer.testing import CliRunner

from cli.main import app, main
from inter4k import api
from inter4k.data.datasets import Inter4KSR
from inter4k.data.resize import imresize
from inter4k.evaluate import evaluate
from inter4k.evaluate.sources import natural_key, pair_clips
from inter4k.video import VideoWriter, iter_frames

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "inter4k"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LPIPS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1 file name


# --- independent references (NumPy / scikit-image) ------------------------------------------------

def y255(rgb01: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma on the 0..255 scale, from (H, W, 3) RGB in [0, 1]."""
    return 16.0 + rgb01 @ np.array([65.481, 128.553, 24.966])


def np_psnr(a: np.ndarray, b: np.ndarray, crop: int, y: bool = True) -> float:
    """PSNR (peak 255) of (H, W, 3) float RGB images in [0, 1] after cropping ``crop`` pixels."""
    a, b = np.clip(a, 0, 1), np.clip(b, 0, 1)
    if y:
        a, b = y255(a), y255(b)
    else:
        a, b = a * 255.0, b * 255.0
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def sk_ssim_y(a: np.ndarray, b: np.ndarray, crop: int) -> float:
    """SSIM on Y by scikit-image: Gaussian sigma 1.5 (11 taps), population covariance, the map's 5-pixel
    rim dropped (what 'valid' filtering means)."""
    ya, yb = y255(np.clip(a, 0, 1)), y255(np.clip(b, 0, 1))
    if crop:
        ya, yb = ya[crop:-crop, crop:-crop], yb[crop:-crop, crop:-crop]
    return float(structural_similarity(ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=255))


def read01(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float64) / 255.0


# --- fixtures ---------------------------------------------------------------------------------------

def write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))


def noisy_pair(folder: Path, names, size=(40, 48), seed=0, noise=6) -> tuple[Path, Path]:
    """pred/ and ref/ folders of random images and noisy copies, named ``names``."""
    rng = np.random.default_rng(seed)
    for name in names:
        ref = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        pred = np.clip(ref.astype(int) + rng.integers(-noise, noise + 1, ref.shape), 0, 255).astype(np.uint8)
        write_png(folder / "ref" / name, ref)
        write_png(folder / "pred" / name, pred)
    return folder / "pred", folder / "ref"


@pytest.fixture
def no_lpips(monkeypatch, tmp_path):
    """An empty torch hub cache: LPIPS is unavailable, whatever this machine has."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


@pytest.fixture(scope="module")
def fake_trunk_home(tmp_path_factory):
    """A torch hub cache holding a random AlexNet trunk under the real file name (as tests/test_lpips.py
    does; only the ``features`` tensors LPIPS reads, to keep it small)."""
    gen = torch.Generator().manual_seed(7)
    shapes = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
    state = {}
    for i, shape in shapes.items():
        state[f"features.{i}.weight"] = torch.randn(shape, generator=gen) * (2.0 / np.prod(shape[1:])) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(shape[0])
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / LPIPS_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return home


@pytest.fixture
def with_lpips(monkeypatch, fake_trunk_home):
    monkeypatch.setenv("TORCH_HOME", str(fake_trunk_home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


# --- pairs mode -----------------------------------------------------------------------------------

def test_identical_frames_give_inf_and_one_and_lpips_unavailable_is_explained(tmp_path, no_lpips, one_thread):
    pred, _ = noisy_pair(tmp_path, ["a.png", "b.png"])
    r = evaluate(task="sr", pred=pred, ref=pred, scale=2)
    assert r.keys == ["psnr_y", "ssim_y", "psnr_rgb", "lpips"]
    for f in r.primary.frames:
        assert f.values["psnr_y"] == float("inf") and f.values["psnr_rgb"] == float("inf")
        assert f.values["ssim_y"] == 1.0
        assert f.values["lpips"] is None
    assert r.primary.mean_over_frames["psnr_y"] == float("inf")
    assert r.lpips_available is False and LPIPS_FILE in r.lpips_reason
    assert any(LPIPS_FILE in w for w in r.warnings)
    d = json.loads(json.dumps(r.to_dict(), default=str))
    assert d["lpips_status"]["available"] is False and LPIPS_FILE in d["lpips_status"]["reason"]


def test_lpips_with_a_trunk_file_is_zero_for_identical_frames(tmp_path, with_lpips, one_thread):
    from inter4k.metrics import LPIPS

    pred, ref = noisy_pair(tmp_path, ["a.png"], size=(48, 64), noise=40)
    same = evaluate(task="vfi", pred=ref, ref=ref, metrics="lpips", device="cpu")
    assert same.lpips_available is True and same.keys == ["lpips"]
    assert same.primary.frames[0].values["lpips"] == pytest.approx(0.0, abs=1e-6)
    diff = evaluate(task="vfi", pred=pred, ref=ref, metrics="lpips", device="cpu")
    got = diff.primary.frames[0].values["lpips"]
    p = torch.from_numpy(read01(pred / "a.png")).permute(2, 0, 1)[None].float()
    q = torch.from_numpy(read01(ref / "a.png")).permute(2, 0, 1)[None].float()
    assert got > 1e-4
    assert got == pytest.approx(float(LPIPS(device="cpu")(p, q)[0]), rel=1e-5)


def test_values_equal_independent_psnr_and_ssim_with_the_scale_as_crop(tmp_path, no_lpips, one_thread):
    names = ["f2.png", "f10.png", "f1.png"]
    pred, ref = noisy_pair(tmp_path, names)
    r = evaluate(task="sr", pred=pred, ref=ref, scale=3, metrics=("psnr", "ssim"))
    assert r.config["crop_border"] == 3
    assert [f.name for f in r.primary.frames] == ["f1.png", "f2.png", "f10.png"]  # natural order
    for f in r.primary.frames:
        a, b = read01(pred / f.name), read01(ref / f.name)
        assert f.values["psnr_y"] == pytest.approx(np_psnr(a, b, 3), abs=1e-6)
        assert f.values["psnr_rgb"] == pytest.approx(np_psnr(a, b, 3, y=False), abs=1e-6)
        assert f.values["ssim_y"] == pytest.approx(sk_ssim_y(a, b, 3), abs=1e-7)
    assert "lpips" not in r.keys and r.lpips_available is None
    vfi = evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr")
    assert vfi.config["crop_border"] == 0
    a, b = read01(pred / "f1.png"), read01(ref / "f1.png")
    assert vfi.primary.frames[0].values["psnr_y"] == pytest.approx(np_psnr(a, b, 0), abs=1e-6)


def test_folders_of_clips_pair_by_name_and_average_over_frames_and_clips(tmp_path, no_lpips, one_thread):
    noisy_pair(tmp_path / "x", ["c1/0.png", "c1/1.png", "c1/2.png"], seed=1, noise=3)
    noisy_pair(tmp_path / "x", ["c2/0.png"], seed=2, noise=20)
    pred, ref = tmp_path / "x" / "pred", tmp_path / "x" / "ref"
    r = evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr")
    m = r.primary
    assert [c.name for c in m.clips] == ["c1", "c2"] and [c.frames for c in m.clips] == [3, 1]
    per_frame = {(f.clip, f.name): np_psnr(read01(pred / f.clip / f.name), read01(ref / f.clip / f.name), 0)
                 for f in m.frames}
    assert len(per_frame) == 4
    c1 = np.mean([v for (c, _), v in per_frame.items() if c == "c1"])
    c2 = per_frame[("c2", "0.png")]
    assert m.clips[0].means["psnr_y"] == pytest.approx(c1, abs=1e-6)
    assert m.mean_over_frames["psnr_y"] == pytest.approx(np.mean(list(per_frame.values())), abs=1e-6)
    assert m.mean_over_clips["psnr_y"] == pytest.approx((c1 + c2) / 2, abs=1e-6)
    assert abs(m.mean_over_clips["psnr_y"] - m.mean_over_frames["psnr_y"]) > 0.1  # they do differ here
    # limit / frames keep the first clips / frames
    small = evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr", limit=1, frames=2)
    assert [(f.clip, f.name) for f in small.primary.frames] == [("c1", "0.png"), ("c1", "1.png")]


def test_cli_per_clip_table_shows_the_report_rows(tmp_path, no_lpips, one_thread, monkeypatch):
    import io

    import cli.evaluate as cli_evaluate
    from rich.console import Console

    from inter4k.evaluate.tables import clip_rows

    noisy_pair(tmp_path, ["c1/0.png", "c1/1.png"], seed=1, noise=3)
    noisy_pair(tmp_path, ["c2/0.png"], seed=2, noise=20)
    r = evaluate(task="vfi", pred=tmp_path / "pred", ref=tmp_path / "ref", metrics="psnr")
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(cli_evaluate._clip_table(r))
    lines = console.export_text().splitlines()
    for method, clip, *values in clip_rows(r):  # the clip's row of report.md, less the method (the title's)
        assert any(line.replace("│", " ").split() == [clip, *values] for line in lines), (clip, values, lines)
    monkeypatch.setattr(cli_evaluate, "MAX_CLIP_ROWS", 1)
    console.print(cli_evaluate._clip_table(r))
    assert "... 1 more" in console.export_text()


def test_unmatched_clip_names_are_listed(tmp_path):
    noisy_pair(tmp_path, ["a/0.png", "b/0.png"])
    write_png(tmp_path / "pred" / "zz" / "0.png", np.zeros((40, 48, 3), np.uint8))
    write_png(tmp_path / "ref" / "yy" / "0.png", np.zeros((40, 48, 3), np.uint8))
    with pytest.raises(ValueError, match=r"in pred .* not in ref: zz.*in ref .* not in pred: yy"):
        pair_clips(tmp_path / "pred", tmp_path / "ref")
    with pytest.raises(ValueError, match="pred .* is a folder of 3 clips but ref .* is a single clip"):
        pair_clips(tmp_path / "pred", tmp_path / "ref" / "a")


def test_frame_count_mismatch_names_both_counts(tmp_path):
    pred, ref = noisy_pair(tmp_path, ["0.png", "1.png", "2.png"])
    (pred / "2.png").unlink()
    with pytest.raises(ValueError, match=r"pred \(image folder .*pred\) has 2 frames, ref \(image folder .*ref\) has 3"):
        evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr")
    # within --frames 2 both sides agree
    assert len(evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr", frames=2).primary.frames) == 2


def test_size_mismatch_names_the_frame_and_both_sizes(tmp_path):
    pred, ref = noisy_pair(tmp_path, ["0.png", "1.png"])
    write_png(pred / "1.png", np.zeros((20, 24, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frame 1 \(pred 1.png, ref 1.png\).*pred is 24x20, ref is 48x40"):
        evaluate(task="vfi", pred=pred, ref=ref, metrics="psnr")


def _write_video(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, fps=30, size=(w, h), crf=10, preset="ultrafast") as vw:
        for f in frames:
            vw.write(f)
    return path


def test_video_pairs_with_the_image_folder_of_its_decoded_frames(tmp_path, one_thread):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(4)]
    video = _write_video(tmp_path / "clip.mp4", frames)
    decoded = list(iter_frames(video))
    assert len(decoded) == 4
    for i, f in enumerate(decoded):  # the video's own frames as PNGs: identical after decoding
        write_png(tmp_path / "png" / f"{i}.png", f)
    r = evaluate(task="vfi", pred=video, ref=tmp_path / "png", metrics=("psnr", "ssim"))
    assert [f.name for f in r.primary.frames] == ["0.png", "1.png", "2.png", "3.png"]
    assert all(f.values["psnr_y"] == float("inf") and f.values["ssim_y"] == 1.0 for f in r.primary.frames)
    # against the original frames (before compression): the numbers of the decoded frames
    for i, f in enumerate(frames):
        write_png(tmp_path / "orig" / f"{i:02d}.png", f)
    r = evaluate(task="vfi", pred=video, ref=tmp_path / "orig", metrics="psnr")
    for i, rec in enumerate(r.primary.frames):
        assert rec.values["psnr_y"] == pytest.approx(np_psnr(decoded[i] / 255.0, frames[i] / 255.0, 0), abs=1e-4)
    # a video with one frame fewer: the count found while decoding, both counts named
    (tmp_path / "png" / "3.png").rename(tmp_path / "png" / "9.png")
    write_png(tmp_path / "png" / "10.png", decoded[0])
    with pytest.raises(ValueError, match=r"pred \(video .*clip.mp4\) has 4 frames, ref \(image folder .*\) has 5"):
        evaluate(task="vfi", pred=video, ref=tmp_path / "png", metrics="psnr")


def test_folder_of_videos_pairs_with_folder_of_image_folders(tmp_path, one_thread):
    rng = np.random.default_rng(4)
    for name in ("b", "a"):
        frames = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(2)]
        video = _write_video(tmp_path / "videos" / f"{name}.mp4", frames)
        for i, f in enumerate(iter_frames(video)):
            write_png(tmp_path / "images" / name / f"{i}.png", f)
    r = evaluate(task="vfi", pred=tmp_path / "videos", ref=tmp_path / "images", metrics="psnr")
    assert [c.name for c in r.primary.clips] == ["a", "b"]
    assert all(f.values["psnr_y"] == float("inf") for f in r.primary.frames)


def test_checking_the_arguments_imports_only_the_named_task():
    import subprocess
    import sys

    code = ("import sys; from inter4k.evaluate.run import _check_args; "
            "_check_args({!r}, None, None, None, 'data', None, None, **{!r}); "
            "print(sorted(m for m in sys.modules if m.startswith('inter4k.evaluate.') and m.endswith('_model')))")
    for task, options, plugin in (("vfi", {"vfi_mode": "8x"}, "vfi_model"), ("sr", {"quantize_lr": True}, "sr_model")):
        out = subprocess.run([sys.executable, "-c", code.format(task, options)], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip() == str([f"inter4k.evaluate.{plugin}"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="give both pred and ref"):
        evaluate(task="sr", pred="x")
    with pytest.raises(ValueError, match="--scale is for --task sr"):
        evaluate(task="vfi", pred="x", ref="y", scale=2)
    with pytest.raises(ValueError, match="give --scale"):
        evaluate(task="sr", pred="x", ref="y")
    with pytest.raises(ValueError, match="unknown metric 'psnrx'"):
        evaluate(task="vfi", pred="x", ref="y", metrics="psnr,psnrx")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate(task="denoise", pred="x", ref="y")
    with pytest.raises(ValueError, match="not both"):
        evaluate(task="sr", pred="x", ref="y", model="bicubic")
    with pytest.raises(ValueError, match="unknown mode '4x'"):
        evaluate(task="vfi", data="synthetic", vfi_mode="4x")
    with pytest.raises(FileNotFoundError, match="pred .*nope does not exist"):
        evaluate(task="vfi", pred="/nope", ref=str(ROOT))


def test_natural_order():
    assert sorted(["img10.png", "img9.png", "img1.png", "a.png"], key=natural_key) == \
        ["a.png", "img1.png", "img9.png", "img10.png"]


# --- model mode -------------------------------------------------------------------------------------

def _direct_bicubic(hr: torch.Tensor, scale: int) -> torch.Tensor:
    lr = imresize(hr, scale=1.0 / scale).clamp(0, 1)
    return imresize(lr, scale=float(scale)).clamp(0, 1)


def test_model_mode_on_the_bundled_sample(no_lpips, one_thread):
    r = api.evaluate(task="sr", data=str(SAMPLE), split="test", scale=4, frames=2, limit=1,
                     metrics=("psnr", "ssim"), device="cpu")
    assert [m.name for m in r.methods] == ["sr-lr-small", "bicubic", "bilinear", "nearest"]
    assert r.config["model"] == "sr-lr-small" and r.config["crop_border"] == 4
    bic = r.method("bicubic")
    # the sample's test split is clip 3 (60 frames): frames at the middles of 2 halves, as Inter4KSR picks
    assert [(f.clip, f.index) for f in bic.frames] == [("3", 15), ("3", 45)]
    ds = Inter4KSR(SAMPLE, split="test", scale=4, patch_size=None, samples_per_clip=2)
    for k, rec in enumerate(bic.frames):
        lr, hr = ds[k]
        assert ds.plan(k)["start"] == rec.index
        sr = _direct_bicubic(hr, 4)
        a, b = sr.permute(1, 2, 0).double().numpy(), hr.permute(1, 2, 0).double().numpy()
        assert rec.values["psnr_y"] == pytest.approx(np_psnr(a, b, 4), abs=2e-4)
        assert rec.values["ssim_y"] == pytest.approx(sk_ssim_y(a, b, 4), abs=2e-5)
    # the ordering the baselines are known to have on natural images
    means = {m.name: m.mean_over_frames["psnr_y"] for m in r.methods}
    assert means["bicubic"] > means["bilinear"] > means["nearest"]
    assert [c.title for c in r.crops] == ["where the model gains most", "centre of the first frame",
                                          "where the model gains least"]
    assert list(r.crops[0].images) == ["LR (nearest)", "bicubic", "sr-lr-small", "ground truth"]


def test_model_mode_on_images_with_a_baseline_model(tmp_path, no_lpips, one_thread):
    rng = np.random.default_rng(5)
    smooth = [cv2.GaussianBlur(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8), (7, 7), 2) for _ in range(3)]
    for i, img in enumerate(smooth):
        write_png(tmp_path / "imgs" / f"p{i}.png", img)
    r = evaluate(task="sr", model="bicubic", data=f"images:{tmp_path / 'imgs'}", scale=2, limit=2, metrics="psnr")
    assert [m.name for m in r.methods] == ["bicubic", "bilinear", "nearest"]  # the model is a baseline: no repeat
    assert [f.name for f in r.primary.frames] == ["p0.png", "p1.png"]
    for rec in r.primary.frames:
        hr = torch.from_numpy(read01(tmp_path / "imgs" / rec.name)).permute(2, 0, 1).float()
        hr = hr[:, :36, :44]  # already a multiple of 2
        sr = _direct_bicubic(hr, 2)
        a, b = sr.permute(1, 2, 0).double().numpy(), hr.permute(1, 2, 0).double().numpy()
        assert rec.values["psnr_y"] == pytest.approx(np_psnr(a, b, 2), abs=2e-4)
    with pytest.raises(FileNotFoundError, match="image folder .* does not exist"):
        evaluate(task="sr", data=f"images:{tmp_path / 'missing'}", scale=2)


# --- CLI ----------------------------------------------------------------------------------------------

def test_cli_pairs_table_json_and_lpips_warning(tmp_path, no_lpips, one_thread):
    pred, ref = noisy_pair(tmp_path, ["0.png", "1.png"])
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--task", "sr", "--pred", str(pred), "--ref", str(ref), "--scale", "2"])
    assert res.exit_code == 0, res.output
    out = ANSI.sub("", res.stdout)
    direct = evaluate(task="sr", pred=pred, ref=ref, scale=2, metrics="psnr").primary.mean_over_frames["psnr_y"]
    assert "PSNR-Y" in out and f"{direct:.2f}" in out
    err = ANSI.sub("", res.stderr)
    assert "warning:" in err and "LPIPS unavailable" in err
    res = runner.invoke(app, ["evaluate", "--task", "vfi", "--pred", str(pred), "--ref", str(pred), "--json",
                              "--metrics", "psnr,ssim"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["methods"]["pred"]["mean_over_frames"] == {"psnr_y": "inf", "ssim_y": 1.0, "psnr_rgb": "inf"}


def test_cli_model_mode_on_the_sample(tmp_path, no_lpips, one_thread):
    res = CliRunner().invoke(app, ["evaluate", "--data", str(SAMPLE), "--scale", "4", "--frames", "1", "--limit", "1",
                                   "--metrics", "psnr", "--model", "nearest", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = ANSI.sub("", res.stdout)
    assert all(name in out for name in ("nearest", "bicubic", "bilinear"))


def test_cli_bad_path_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    assert main(["evaluate", "--pred", str(tmp_path / "nope"), "--ref", str(tmp_path), "--scale", "2"]) == 2
    err = ANSI.sub("", capsys.readouterr().err)
    assert "Error:" in err and "nope does not exist" in err and "Traceback" not in err
    assert main(["evaluate", "--task", "vfi", "--pred", str(tmp_path), "--ref", str(tmp_path), "--scale", "2"]) == 2


def _np_grid(pred: np.ndarray, ref: np.ndarray, period: int, border: int, tile: int = 64) -> float:
    """grid_y written out independently: the s-periodic part of the Y error (BT.601 levels) of the
    border-cropped frame, the RMS of each tile's mean-removed phase pattern, the worst tile."""
    coef = np.array([65.481, 128.553, 24.966])
    e = (pred - ref) @ coef                      # Y(pred) - Y(ref); the offset 16 cancels
    e = e[border:e.shape[0] - border, border:e.shape[1] - border]
    t = tile // period * period
    worst = 0.0
    for y in range(0, e.shape[0] - t + 1, t):
        for x in range(0, e.shape[1] - t + 1, t):
            block = e[y:y + t, x:x + t]
            p = np.array([[block[a::period, b::period].mean() for b in range(period)] for a in range(period)])
            worst = max(worst, float(np.sqrt(((p - p.mean()) ** 2).mean())))
    return worst


def test_sr_model_mode_reports_grid_y_beside_psnr_and_ssim(tmp_path, no_lpips, one_thread):
    rng = np.random.default_rng(7)
    # 140x76 (two 64-tiles after the border crop of 2), then a 36x44 image (no 64x64 tile: grid_y None)
    for i, size in enumerate([(140, 76), (36, 44)]):
        write_png(tmp_path / "imgs" / f"p{i}.png",
                  cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 1.5))
    rep = tmp_path / "rep"
    r = evaluate(task="sr", model="bicubic", data=f"images:{tmp_path / 'imgs'}", scale=2, metrics="psnr,ssim",
                 report=rep)
    assert r.keys == ["psnr_y", "ssim_y", "grid_y", "psnr_rgb"]
    big, small = r.primary.frames
    hr = torch.from_numpy(read01(tmp_path / "imgs" / "p0.png")).permute(2, 0, 1).float()
    sr = _direct_bicubic(hr, 2)
    want = _np_grid(sr.permute(1, 2, 0).double().numpy(), hr.permute(1, 2, 0).double().numpy(), 2, 2)
    assert want > 0.01 and big.values["grid_y"] == pytest.approx(want, rel=1e-4, abs=1e-5)
    assert small.values["grid_y"] is None
    assert all(f.values["grid_y"] is not None for f in r.method("nearest").frames[:1])
    md = (rep / "report.md").read_text()
    assert "| method | frames | clips | PSNR-Y (dB) | SSIM-Y | grid-Y (levels) | PSNR-RGB (dB) |" in md
    assert "grid_y" in (rep / "report.csv").read_text().splitlines()[0]
    # pairs mode and VFI keep their columns (no scale to give the period)
    assert "grid_y" not in evaluate(task="sr", pred=tmp_path / "imgs", ref=tmp_path / "imgs", scale=2,
                                    metrics="psnr").keys


def test_model_mode_options_are_refused_in_pairs_mode(tmp_path):
    """--quantize-lr only shapes the LR that model mode makes: given with --pred / --ref it was ignored
    without a word; now it is refused like --mode and --patch."""
    pred, ref = noisy_pair(tmp_path, ["a.png"])
    with pytest.raises(ValueError, match="--quantize-lr is for --task sr without --pred / --ref"):
        evaluate(task="sr", pred=pred, ref=ref, scale=2, quantize_lr=True)
