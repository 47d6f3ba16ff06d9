"""inter4k.metrics.compute_metrics: the keys, the values of the single metrics, and LPIPS when (un)available."""

import pytest
import torch
import torchvision

import inter4k.metrics.compute as compute_module
from inter4k.metrics import compute_metrics, lpips_status, psnr, ssim

WEIGHTS_NAME = "alexnet-owt-7be5be79.pth"


class CountingMetric:
    """Stands in for an LPIPS instance: records calls, returns the mean absolute difference per image."""

    def __init__(self):
        self.calls = 0

    def __call__(self, pred, ref):
        self.calls += 1
        return (pred - ref).abs().flatten(1).mean(1).float()


@pytest.fixture
def pair():
    pred = torch.rand(3, 3, 32, 36)
    ref = (pred + 0.05 * torch.randn_like(pred)).clamp(0, 1)
    return pred, ref


@pytest.fixture
def empty_torch_home(monkeypatch, tmp_path):
    """No trunk weights anywhere, and no LPIPS left over from another test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(compute_module, "_default_lpips", None)
    return tmp_path


def test_psnr_and_ssim_keys_and_values(one_thread, pair):
    pred, ref = pair
    out = compute_metrics(pred, ref, metrics=("psnr", "ssim"), crop_border=4)
    assert set(out) == {"psnr_y", "psnr_rgb", "ssim_y"}
    torch.testing.assert_close(out["psnr_y"], psnr(pred, ref, crop_border=4, y_channel=True), rtol=0, atol=0)
    torch.testing.assert_close(out["psnr_rgb"], psnr(pred, ref, crop_border=4, y_channel=False), rtol=0, atol=0)
    torch.testing.assert_close(out["ssim_y"], ssim(pred, ref, crop_border=4, y_channel=True), rtol=0, atol=0)
    assert all(v.shape == (3,) for v in out.values())
    assert not torch.equal(out["psnr_y"], out["psnr_rgb"])  # two different conventions, both reported


def test_single_names_and_subsets(one_thread, pair):
    pred, ref = pair
    assert set(compute_metrics(pred, ref, metrics="ssim")) == {"ssim_y"}
    assert set(compute_metrics(pred, ref, metrics=["psnr"])) == {"psnr_y", "psnr_rgb"}
    assert compute_metrics(pred, ref, metrics=()) == {}


def test_unknown_metric_lists_the_known_ones(pair):
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['ms-ssim'\]; known: psnr, ssim, lpips"):
        compute_metrics(*pair, metrics=("psnr", "ms-ssim"))


def test_given_lpips_instance_is_used(one_thread, pair, empty_torch_home):
    pred, ref = pair
    metric = CountingMetric()
    out = compute_metrics(pred, ref, lpips=metric)
    assert set(out) == {"psnr_y", "psnr_rgb", "ssim_y", "lpips"}
    assert metric.calls == 1
    torch.testing.assert_close(out["lpips"], (pred - ref).abs().flatten(1).mean(1).float())
    # Not requested: not called, even when given.
    assert "lpips" not in compute_metrics(pred, ref, metrics=("psnr",), lpips=metric)
    assert metric.calls == 1


def test_lpips_absent_without_weights_and_status_says_why(one_thread, pair, empty_torch_home):
    out = compute_metrics(*pair)
    assert set(out) == {"psnr_y", "psnr_rgb", "ssim_y"}
    ok, why = lpips_status()
    assert not ok and WEIGHTS_NAME in why and str(empty_torch_home / "hub" / "checkpoints") in why
    assert compute_module._default_lpips is None  # a failed build is not cached


def test_lpips_built_once_when_weights_appear(one_thread, pair, empty_torch_home, monkeypatch):
    pred, ref = pair
    assert "lpips" not in compute_metrics(pred, ref, metrics="lpips")
    # The weights file turns up later (a random trunk: only the loading path matters here).
    path = empty_torch_home / "hub" / "checkpoints" / WEIGHTS_NAME
    path.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in torchvision.models.alexnet().features.state_dict().items()}, path)
    builds = []
    original = compute_module.LPIPS

    def counting_lpips(*args, **kwargs):
        builds.append((args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(compute_module, "LPIPS", counting_lpips)
    first = compute_metrics(pred, ref, metrics="lpips")
    second = compute_metrics(pred, ref, metrics=("lpips",))
    assert set(first) == {"lpips"} and first["lpips"].shape == (3,) and (first["lpips"] > 0).all()
    torch.testing.assert_close(first["lpips"], second["lpips"])
    assert len(builds) == 1  # reused, not rebuilt per call


def test_shape_errors_propagate():
    with pytest.raises(ValueError, match="differ in shape"):
        compute_metrics(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17), metrics=("ssim",))
