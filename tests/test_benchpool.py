"""The retention benchmark (``inter4k bench-pool``): its poolings by hand, its numbers from scratch, its files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import adaunpool as au
from cli.main import app, main
from inter4k import api
from inter4k.benchpool import METHODS, get_method
from inter4k.benchpool.run import check_factors
from inter4k.benchpool.windows import (lp_pool2d, median_pool2d, mixed_pool2d, softpool2d, stochastic_pool2d)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()
KEYS = [m.key for m in METHODS]


def plain(text: str) -> str:
    return ANSI.sub("", text)


# ------------------------------------------------------------------------------------ the methods

@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("key", KEYS)
def test_every_method_keeps_the_shape(key, factor, one_thread):
    x = torch.rand(2, 3, 16, 12)
    m = get_method(key)
    assert m.pool_fn(x, factor).shape == (2, 3, 16 // factor, 12 // factor)
    u = m.reconstruct(x, factor)
    assert u.shape == x.shape and u.dtype == x.dtype and torch.isfinite(u).all()


def test_a_2x2_window_by_hand():
    a, b, c, d = 1.0, 9.0, 4.0, 2.0
    x = torch.tensor([[[[a, b], [c, d]]]], dtype=torch.float64)
    vals = [a, b, c, d]
    assert F.max_pool2d(x, 2).item() == 9.0
    assert F.avg_pool2d(x, 2).item() == 4.0
    assert median_pool2d(x, 2).item() == 3.0                       # sorted 1 2 4 9 -> (2 + 4) / 2
    assert lp_pool2d(x, 2, 2).item() == pytest.approx(math.sqrt((1 + 81 + 16 + 4) / 4))
    assert lp_pool2d(x, 2, 3).item() == pytest.approx(((1 + 729 + 64 + 8) / 4) ** (1 / 3))
    assert stochastic_pool2d(x, 2).item() == pytest.approx((1 + 81 + 16 + 4) / (1 + 9 + 4 + 2))
    soft = sum(v * math.exp(v) for v in vals) / sum(math.exp(v) for v in vals)
    assert softpool2d(x, 2).item() == pytest.approx(soft, rel=1e-12)
    assert mixed_pool2d(x, 2, "add").item() == pytest.approx(0.5 * 4.0 + 0.5 * 9.0)
    assert mixed_pool2d(x, 2, "concat").item() == pytest.approx(6.5)


def test_median_of_odd_windows_is_numpys():
    x = torch.rand(1, 2, 9, 6, dtype=torch.float64)
    a = x.numpy()
    want = np.median(a.reshape(1, 2, 3, 3, 2, 3).transpose(0, 1, 2, 4, 3, 5).reshape(1, 2, 3, 2, 9), axis=-1)
    np.testing.assert_array_equal(median_pool2d(x, 3).numpy(), want)


def test_mixed_concat_keeps_channels_apart():
    x = torch.rand(1, 3, 4, 4)
    x[:, 1] *= 10  # a channel mix-up would show
    want = 0.5 * F.avg_pool2d(x, 2) + 0.5 * F.max_pool2d(x, 2)
    torch.testing.assert_close(mixed_pool2d(x, 2, "concat"), want)
    torch.testing.assert_close(mixed_pool2d(x, 2, "add"), want)


def test_stochastic_zero_window_and_negative_input():
    x = torch.zeros(1, 1, 2, 4)
    x[..., 2:] = 0.5
    assert stochastic_pool2d(x, 2).flatten().tolist() == [0.0, 0.5]
    with pytest.raises(ValueError, match=">= 0"):
        stochastic_pool2d(-x, 2)
    with pytest.raises(ValueError, match=">= 0"):
        lp_pool2d(-x - 1, 2, 2)


def test_softpool_formula_equals_adaunpool_eM_on_an_image(one_thread):
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(softpool2d(x, 2), au.empool2d(x, 2), atol=1e-6, rtol=1e-5)


def test_max_unpool_puts_each_max_back_at_its_place():
    x = torch.rand(1, 2, 8, 6, dtype=torch.float64)
    u = get_method("max-unpool").reconstruct(x, 2).numpy()
    a = x.numpy()
    want = np.zeros_like(a)
    for c in range(2):
        for i in range(0, 8, 2):
            for j in range(0, 6, 2):
                r, s = np.unravel_index(np.argmax(a[0, c, i:i + 2, j:j + 2]), (2, 2))
                want[0, c, i + r, j + s] = a[0, c, i + r, j + s]
    np.testing.assert_array_equal(u, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("key", [m.key for m in METHODS if m.beta is not None])
def test_adapool_adaunpool_reconstructs_a_constant_image(key, dtype, one_thread):
    x = torch.full((1, 3, 8, 12), 0.37, dtype=dtype)
    u = get_method(key).reconstruct(x, 4)
    torch.testing.assert_close(u, x, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0)


def test_avg_nearest_is_the_best_constant_per_window(one_thread):
    # the window mean minimises the squared error of a constant fill: no "+ nearest" method beats it
    x = torch.rand(1, 3, 16, 16)
    err = {m.key: F.mse_loss(m.reconstruct(x, 2), x).item() for m in METHODS if m.restore == "nearest"}
    assert min(err, key=err.get) == "avg-nearest", err


def test_method_keys_are_unique_and_labelled():
    assert len(set(KEYS)) == len(KEYS)
    assert {"ada-0.5", "em", "edscw", "avg-nearest", "avg-bilinear", "max-unpool", "softpool-nearest"} <= set(KEYS)
    with pytest.raises(ValueError, match="unknown pooling method 'nope'"):
        get_method("nope")


# ------------------------------------------------------------------------------------ the benchmark

def _write(path: Path, rgb: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two small RGB images (PNG, 26x30 and 24x20: not multiples of 4, so the crop is exercised)."""
    import skimage.data

    root = tmp_path_factory.mktemp("photos")
    _write(root / "astro.png", np.ascontiguousarray(skimage.data.astronaut()[150:176, 200:230]))
    _write(root / "coffee.png", np.ascontiguousarray(skimage.data.coffee()[100:124, 300:320]))
    return root


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    """One benchmark run with a report, shared by the tests below (on one thread, like ``one_thread``)."""
    calls = []
    report = tmp_path_factory.mktemp("report") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = api.bench_pool(images=folder, factors=(4, 2, 2), report=report,
                                callback=lambda done, total, label: calls.append((done, total, label)))
    finally:
        torch.set_num_threads(threads)
    return result, report, calls


def test_result_layout_and_progress(run):
    result, _, calls = run
    assert result.factors == [2, 4]
    assert [i["name"] for i in result.images] == ["astro", "coffee"]
    assert [i["size"] for i in result.images] == [[28, 24], [20, 24]]  # cropped to multiples of lcm(2, 4)
    total = 2 * 2 * len(METHODS)
    assert len(result.rows) == total
    assert [c[0] for c in calls] == list(range(1, total + 1)) and {c[1] for c in calls} == {total}
    assert result.ssim_available
    assert all(r["ssim"] is not None and -1 <= r["ssim"] <= 1 for r in result.rows)


def test_psnr_of_avg_nearest_recomputed_from_scratch(run, folder):
    result, _, _ = run
    rgb = cv2.cvtColor(cv2.imread(str(folder / "astro.png")), cv2.COLOR_BGR2RGB)[:24, :28].astype(np.float64) / 255
    for k in (2, 4):
        blocks = rgb.reshape(24 // k, k, 28 // k, k, 3).mean(axis=(1, 3))
        recon = np.repeat(np.repeat(blocks.astype(np.float32).astype(np.float64), k, 0), k, 1)
        want = 10 * math.log10(1 / np.mean((recon - rgb) ** 2))
        got = result.values(k, "avg-nearest")[0]
        assert got == pytest.approx(want, abs=1e-3)


def test_ssim_of_one_row_recomputed_with_skimage(run, folder):
    from skimage.metrics import structural_similarity

    result, _, _ = run
    rgb = cv2.cvtColor(cv2.imread(str(folder / "coffee.png")), cv2.COLOR_BGR2RGB)[:24, :20].astype(np.float64)
    recon = np.repeat(np.repeat(rgb.reshape(12, 2, 10, 2, 3).mean(axis=(1, 3)), 2, 0), 2, 1)
    # BasicSR/MATLAB SSIM: Gaussian 11x11, sigma 1.5, no padding ('valid'), per channel, then the mean
    want = np.mean([structural_similarity(recon[..., c], rgb[..., c], data_range=255, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False, full=True)[1][5:-5, 5:-5].mean()
                    for c in range(3)])
    assert result.values(2, "avg-nearest", "ssim")[1] == pytest.approx(want, abs=2e-3)


def test_means_are_the_means_of_the_rows(run):
    result, _, _ = run
    for s in result.summary():
        vals = [r["psnr"] for r in result.rows if r["factor"] == s["factor"] and r["method"] == s["method"]]
        assert s["psnr"] == pytest.approx(float(np.mean(vals)))
    best = result.best_beta(2)
    ada = {m["key"]: result.mean(2, m["key"]) for m in result.methods if m["beta"] is not None}
    assert best["psnr"] == max(ada.values()) and best["method"] == max(ada, key=ada.get)


def test_adaunpool_keeps_more_than_avg_nearest(run):
    result, _, _ = run
    for f in (2, 4):
        assert result.mean(f, "em") > result.mean(f, "avg-nearest")


def test_report_files(run):
    result, report, _ = run
    names = sorted(p.name for p in report.iterdir())
    assert names == ["report.json", "report.md", "report.png"]  # and no temporary leftovers
    data = json.loads((report / "report.json").read_text())
    assert data["rows"] == json.loads(json.dumps(result.to_dict()))["rows"]
    assert data["files"]["figure"] == str(report / "report.png")
    md = (report / "report.md").read_text()
    ada = next(s for s in result.summary() if s["factor"] == 2 and s["method"] == "ada-0.5")
    assert f"| adaPool β=0.5 + adaUnPool | adaPool β=0.5 | adaUnPool | {ada['psnr']:.2f} |" in md
    png = report / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 500 and img.shape[1] > 1000 and img.std() > 10


def test_bad_input():
    with pytest.raises(ValueError, match="integer >= 2"):
        check_factors([2, 1])
    with pytest.raises(ValueError, match="empty"):
        check_factors([])
    assert check_factors(4) == (4,)


def test_missing_empty_and_too_small_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        api.bench_pool(images=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no images"):
        api.bench_pool(images=tmp_path)
    _write(tmp_path / "tiny.png", np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="tiny .* smaller than the pooling window 4x4"):
        api.bench_pool(images=tmp_path)


# ------------------------------------------------------------------------------------------- CLI

def test_cli_tables_and_json(folder, tmp_path):
    result = runner.invoke(app, ["bench-pool", "--images", str(folder), "--factor", "2"])
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert "adaPool β=0.5 + adaUnPool" in out and "avg + nearest" in out and "x4" not in out
    result = runner.invoke(app, ["bench-pool", "--images", str(folder), "--factor", "2", "--json",
                                 "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["factors"] == [2] and len(data["rows"]) == 2 * len(METHODS)
    assert Path(data["files"]["json"]).is_file()


def test_cli_missing_folder_exits_2(tmp_path, capsys, monkeypatch):
    result = runner.invoke(app, ["bench-pool", "--images", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "does not exist" in plain(result.output)
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    assert main(["bench-pool", "--images", str(tmp_path)]) == 2  # exists, but holds no image
    err = plain(capsys.readouterr().err)
    assert err.startswith("Error:") and "no images" in err
    assert main(["bench-pool", "--images", str(tmp_path), "--factor", "1"]) == 2
