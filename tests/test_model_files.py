"""Bad model files and bad images give one line naming the file, never a traceback or a black picture:
checkpoints without their state dict, with a config that does not build the model, empty, or holding
NaN weights; a VFI checkpoint given to ``upscale``; a model whose output is not finite; a PNG whose
header claims 100000x100000 pixels."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from cli.main import main
from inter4k.data.sample import make_sample
from inter4k.evaluate import evaluate
from inter4k.infer.interpolate import interpolate
from inter4k.infer.upscale import upscale
from inter4k.models import create_model, load_model, save_model
from inter4k.models.weights import FORMAT

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def no_bundled_weights(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path_factory.mktemp("no-weights")))
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("clip"), clips=1, seconds=0.2, size=(64, 36), audio=False)[0]


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    return lines[0]


def huge_png(path: Path) -> Path:
    """A valid 1x1 PNG whose header (with a correct CRC) claims 100000 x 100000 pixels."""
    ok, buf = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))
    data = bytearray(buf.tobytes())
    struct.pack_into(">II", data, 16, 100000, 100000)  # IHDR width, height
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def with_nan(model: nn.Module, key: str) -> nn.Module:
    with torch.no_grad():
        model.state_dict()[key].view(-1)[3] = float("nan")
    return model


class NaNOut(nn.Module):
    """An SR (x2) or a VFI model (frame0, frame1, t) whose output is all NaN."""

    def forward(self, x, frame1=None, t=None):
        y = nn.functional.interpolate(x, scale_factor=2) if frame1 is None else x
        return y * float("nan")


# --- checkpoint files -----------------------------------------------------------------------------------

def test_a_model_file_without_its_state_dict(tmp_path, image, clip, capsys):
    ckpt = tmp_path / "nosd.pt"
    torch.save({"format": FORMAT, "name": "sr-small", "config": {"scale": 2}}, ckpt)
    with pytest.raises(ValueError, match=r"nosd\.pt: a inter4k-model/1 file whose 'state_dict' is missing"):
        load_model(ckpt)
    assert main(["upscale", str(image), "--scale", "2", "--model", str(ckpt)]) == 2
    assert "nosd.pt" in one_error_line(capsys)
    assert main(["interpolate", str(clip), "--model", str(ckpt), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "'state_dict' is missing" in one_error_line(capsys)
    assert not (tmp_path / "in_x2.png").exists() and not (tmp_path / "o.mp4").exists()


def test_a_config_that_does_not_build_the_model_names_the_file(tmp_path):
    for i, ckpt in enumerate([
        {"format": FORMAT, "name": "sr-small", "config": {"scale": 2, "bogus": 1}, "state_dict": {}},
        {"model": {}, "model_name": "sr-small", "model_config": {"bogus": 2}},
        {"model": {}, "config": {"model": "sr-small", "model_kwargs": {"zz": 1}, "scale": 4}},
    ]):
        path = tmp_path / f"c{i}.pt"
        torch.save(ckpt, path)
        with pytest.raises(ValueError, match=rf"c{i}\.pt: its config .* does not build sr-small: .*unexpected keyword"):
            load_model(path)
    save_model(create_model("sr-small", scale=2, channels=48), tmp_path / "b.pt")  # weights of another width
    ck = torch.load(tmp_path / "b.pt", weights_only=True)
    ck["config"]["channels"] = 32
    torch.save(ck, tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"b\.pt: the weights do not fit sr-small .*size mismatch"):
        load_model(tmp_path / "b.pt")


def test_an_empty_checkpoint_says_it_is_empty(tmp_path, image, capsys):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert main(["upscale", str(image), "--scale", "2", "--model", str(empty)]) == 2
    assert re.search(r"empty\.pt: an empty file \(0 bytes\)", one_error_line(capsys))


def test_nan_weights_are_refused_at_load_naming_the_file_and_the_tensor(tmp_path, image, clip, capsys):
    sr = with_nan(create_model("sr-small", scale=2), "head.weight")
    save_model(sr, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"nan\.pt: tensor 'head\.weight' holds 1 non-finite value\(s\) \(NaN or inf\)"):
        load_model(tmp_path / "nan.pt")
    assert main(["upscale", str(image), "--scale", "2", "--model", str(tmp_path / "nan.pt")]) == 2
    assert "'head.weight'" in one_error_line(capsys) and not (tmp_path / "in_x2.png").exists()

    vfi = create_model("vfi-small")
    key = next(k for k, v in vfi.state_dict().items() if v.is_floating_point() and v.numel() > 3)
    save_model(with_nan(vfi, key), tmp_path / "vfi-nan.pt")
    assert main(["interpolate", str(clip), "--model", str(tmp_path / "vfi-nan.pt"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert f"tensor '{key}'" in one_error_line(capsys) and not (tmp_path / "o.mp4").exists()


def test_non_finite_model_outputs_are_refused_at_run_time(tmp_path, image, clip):
    with pytest.raises(RuntimeError, match=r"the model produced \d+ non-finite value\(s\) \(NaN or inf\)"):
        upscale(image, tmp_path / "out.png", scale=2, model=NaNOut())
    with pytest.raises(RuntimeError, match=r"non-finite"):
        interpolate(clip, tmp_path / "out.mp4", model=NaNOut(), preset="ultrafast")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no black picture, no temporary file


def test_one_infinite_output_value_is_enough(tmp_path, image):
    class OneInf(nn.Module):
        def forward(self, x):
            y = nn.functional.interpolate(x, scale_factor=2)
            y[0, 1, 5, 7] = float("inf")
            return y

    with pytest.raises(RuntimeError, match=r"the model produced 1 non-finite value\(s\)"):
        upscale(image, tmp_path / "out.png", scale=2, model=OneInf(), tile=0)
    assert not (tmp_path / "out.png").exists()


def test_a_vfi_checkpoint_given_to_upscale(tmp_path, image, capsys):
    save_model(create_model("vfi-small"), tmp_path / "vfi.pt")
    assert main(["upscale", str(image), "--scale", "2", "--model", str(tmp_path / "vfi.pt")]) == 2
    line = one_error_line(capsys)
    assert "vfi.pt: holds a vfi-small model (frame interpolation); upscale needs a super-resolution" in line
    assert main(["upscale", str(image), "--scale", "2", "--model", "vfi-average"]) == 2
    assert "'vfi-average' is a frame-interpolation model" in one_error_line(capsys)


# --- images ---------------------------------------------------------------------------------------------

def test_a_png_header_claiming_100000_squared_pixels_is_one_line(tmp_path, capsys):
    huge = huge_png(tmp_path / "huge.png")
    assert main(["upscale", str(huge), "--scale", "2", "--model", "bicubic"]) == 2
    assert "huge.png: its header declares more pixels than OpenCV decodes" in one_error_line(capsys)
    (tmp_path / "pred").mkdir()
    (tmp_path / "ref").mkdir()
    huge_png(tmp_path / "pred" / "a.png")
    cv2.imwrite(str(tmp_path / "ref" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"a\.png: its header declares more pixels"):
        evaluate(task="sr", pred=tmp_path / "pred", ref=tmp_path / "ref", scale=2, metrics=("psnr",))
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--scale", "2",
                 "--metrics", "psnr"]) == 2
    assert "its header declares more pixels" in one_error_line(capsys)
