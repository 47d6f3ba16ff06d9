"""inter4k.models.resolve: name | bundled weights | checkpoint path | module -> (module, label), task checked."""

from __future__ import annotations

import pytest
import torch

from inter4k.models import bundled_weights, create_model, load_model, resolve, save_model
from inter4k.models.weights import weights_path


@pytest.fixture
def weights(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("INTER4K_WEIGHTS", str(folder))
    return folder


def test_one_bundled_weights_rule_for_sr_and_vfi(weights):
    assert weights_path("sr-small", 2) == weights / "sr-small_x2.pt"
    assert weights_path("vfi-small") == weights / "vfi-small.pt"
    sr = save_model(create_model("sr-small", scale=2), weights_path("sr-small", 2))
    vfi = save_model(create_model("vfi-small", channels=8), weights_path("vfi-small"))
    r = resolve("sr-small", task="sr", scale=2)
    assert (r.label, r.source, r.module.source) == ("sr-small", "bundled", str(sr))
    r = resolve("vfi-small", task="vfi")
    assert (r.label, r.source, r.module.source) == ("vfi-small (vfi-small.pt)", "bundled", str(vfi))
    assert resolve(None, task="vfi").label == "vfi-small (vfi-small.pt)"
    assert load_model("vfi-small").source == str(vfi)  # the same rule through load_model (no scale for VFI)
    assert bundled_weights() == [{"name": "sr-small", "scale": 2, "path": sr},
                                 {"name": "vfi-small", "scale": None, "path": vfi}]


def test_defaults_baselines_modules_and_paths(weights):
    said = []
    r = resolve(None, task="vfi", warn=said.append)
    assert (r.label, r.source) == ("vfi-average", "baseline") and "no trained VFI weights" in said[0]
    r = resolve("vfi-small", task="vfi", warn=said.append)
    assert (r.label, r.source) == ("vfi-small (untrained)", "untrained") and "untrained" in said[1]
    with pytest.raises(FileNotFoundError, match="no bundled SR weights for x2"):
        resolve(None, task="sr", scale=2)
    assert resolve("vfi-nearest", task="vfi").source == "baseline"
    module, label = resolve("bicubic", task="sr", scale=3)
    assert label == "bicubic" and module(torch.rand(1, 3, 4, 5)).shape == (1, 3, 12, 15)
    net = create_model("sr-small", scale=2)
    net.model_name = None
    assert resolve(net, task="sr").module is net and resolve(net).label == "SRNet"
    path = save_model(create_model("sr-lr-small", scale=2), weights.parent / "mine.pt")
    r = resolve(path, task="sr", scale=2)
    assert (r.label, r.source, r.module.model_name) == (str(path), "checkpoint", "sr-lr-small")
    assert resolve(str(path), task="sr").label == str(path)
    with pytest.raises(ValueError, match="x2, but scale=4"):
        resolve(path, task="sr", scale=4)


def test_the_task_check_is_one_line_either_way(weights):
    cases = [
        (("vfi-average", "sr", 2), "'vfi-average' is a frame-interpolation model; upscale needs a super-resolution "
                                   "model .*use `inter4k interpolate` for it"),
        (("bicubic", "vfi", None), "'bicubic' is a super-resolution model; interpolation needs a frame-interpolation "
                                   "model .*use `inter4k upscale` for it"),
        (("vfi-huge", "vfi", None), "unknown VFI model 'vfi-huge'; known: vfi-average"),
        (("sr-huge", "sr", 2), "unknown SR model 'sr-huge'; known: bicubic"),
    ]
    sr_file = save_model(create_model("sr-small", scale=2), weights.parent / "sr.pt")
    vfi_file = save_model(create_model("vfi-small", channels=8), weights.parent / "vfi.pt")
    cases += [
        ((vfi_file, "sr", 2), "vfi.pt: holds a vfi-small model \\(frame interpolation\\); upscale needs a "
                              "super-resolution checkpoint; use `inter4k interpolate --model`"),
        ((str(sr_file), "vfi", None), "sr.pt: holds a sr-small model \\(super resolution\\); interpolation needs a "
                                      "frame-interpolation checkpoint; use `inter4k upscale --model`"),
    ]
    for (spec, task, scale), message in cases:
        with pytest.raises(ValueError, match=message) as info:
            resolve(spec, task=task, scale=scale)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="task must be one of sr, vfi"):
        resolve("bicubic", task="vsr")
