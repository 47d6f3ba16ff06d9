"""``inter4k train-sr`` / ``inter4k.train.sr.train_sr``: checkpoints, exact resumption, atomic writes,
Ctrl-C, DDP on the CPU (gloo), the command line and its errors.

A tiny model put in the registry for these tests only ("test-tiny-sr") keeps every run to a second or so; the real models
("sr-small", ...) go through the same registry.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
from pathlib import Path

import pytest
import numpy as np
import torch
from torch import nn
from typer.testing import CliRunner

from _ddp import spawn_training
from cli.main import app, main
from inter4k import atomic
from inter4k.data.images import write_skimage_images
from inter4k.train import checkpoint as ckpt_io
from inter4k.train.sr import SRTrainConfig, train_sr


pytestmark = pytest.mark.usefixtures("one_thread")

TINY = "test-tiny-sr"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()


class TinySR(nn.Module):
    """conv - relu - conv - pixel shuffle, plus a nearest-neighbour skip."""

    def __init__(self, scale: int = 4, width: int = 8, upsampler: str = "pixelshuffle"):
        super().__init__()
        if upsampler != "pixelshuffle":
            raise ValueError(f"unknown upsampler {upsampler!r}")
        self.scale = scale
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, 3 * scale * scale, 3, padding=1))
        self.shuffle = nn.PixelShuffle(scale)
        self.config = {"scale": scale, "width": width, "upsampler": upsampler}

    def forward(self, x):
        return self.shuffle(self.body(x)) + nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


def _register_tiny() -> None:
    from inter4k.models import registry

    registry._MODELS[TINY] = TinySR
    registry._TASKS[TINY] = "sr"


@pytest.fixture(autouse=True)
def _tiny_model(monkeypatch):
    """The tiny model is in the registry during these tests only (other tests list the SR models)."""
    from inter4k.models import registry

    monkeypatch.setitem(registry._MODELS, TINY, TinySR)
    monkeypatch.setitem(registry._TASKS, TINY, "sr")




@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_skimage_images(folder, ["astronaut", "coffee", "chelsea"])
    return folder


def tiny(**kw) -> dict:
    base = dict(model=TINY, scale=2, steps=4, batch=2, patch=16, lr=1e-3, workers=0, val_every=0, log_every=1)
    base.update(kw)
    return base


def records(run: Path, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


def plain(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


# --- a run on Inter4K-layout data: the checkpoint ----------------------------------------------------

def test_run_on_sample_clips_writes_a_complete_checkpoint(sample_root, tmp_path):
    run = tmp_path / "run"
    events = []
    result = train_sr(tiny(data=str(sample_root), scale=4, patch=32, steps=3, val_every=3, out=str(run)),
                      callback=lambda event, info: events.append((event, info)))
    assert result.step == 3 and result.finished and result.start_step == 0
    assert result.last == run / "last.pt" and result.best == run / "best.pt"
    for name in ("last.pt", "best.pt", "metrics.jsonl", "config.json"):
        assert (run / name).is_file(), name
    # read back the way the inference code reads it: tensors and plain values only
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    required = {"format", "version", "step", "model", "model_name", "model_config", "optimizer", "scheduler",
                "rng", "data", "config", "metrics"}
    assert required <= set(ckpt), required - set(ckpt)
    assert ckpt["format"] == ckpt_io.FORMAT and ckpt["step"] == 3 and ckpt["model_name"] == TINY
    assert {"python", "numpy", "torch", "cuda"} <= set(ckpt["rng"])
    assert {"epoch", "batch", "steps_per_epoch", "train_samples"} <= set(ckpt["data"])
    assert ckpt["data"]["epoch"] * ckpt["data"]["steps_per_epoch"] + ckpt["data"]["batch"] == 3
    assert set(ckpt["config"]) == set(SRTrainConfig().to_dict())  # the full, resolved config
    assert ckpt["config"]["scale"] == 4 and ckpt["config"]["patch"] == 32 and ckpt["config"]["data"] == str(sample_root)
    assert ckpt["model_config"] == {"scale": 4, "width": 8, "upsampler": "pixelshuffle"}
    assert ckpt["scheduler"]["last_epoch"] == 3
    assert len(ckpt["optimizer"]["state"]) == len(list(result.model.parameters()))
    model = TinySR(**ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    for a, b in zip(model.parameters(), result.model.parameters()):
        assert torch.equal(a, b)
    # validation on the sample's val split: PSNR-Y of the model and the bicubic baseline
    val = records(run, "val")
    assert [r["step"] for r in val] == [3]
    assert 15 < val[0]["bicubic_psnr_y"] < 60 and 5 < val[0]["psnr_y"] < 60
    assert ckpt["metrics"]["bicubic_psnr_y"] == pytest.approx(val[0]["bicubic_psnr_y"])
    assert result.bicubic_psnr == pytest.approx(val[0]["bicubic_psnr_y"])
    assert [r["step"] for r in records(run, "train")] == [1, 2, 3]
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 3 and "val" in kinds


# --- validation: SSIM-Y ------------------------------------------------------------------------------

def test_validation_ssim_is_the_ssim_of_the_model_outputs(images, tmp_path):
    from inter4k.data.images import ImageFolderSR
    from inter4k.metrics import ssim

    run = tmp_path / "run"
    events = []
    result = train_sr(tiny(data=f"images:{images}", scale=2, steps=2, val_every=2, val_patch=64, out=str(run)),
                      callback=lambda event, info: events.append((event, info)))
    # recompute on the val set train-sr uses for a plain images:DIR (every image, a 64-pixel centre crop)
    val_set = ImageFolderSR(images, scale=2, patch_size=64, split="val")
    model = result.model.eval()
    with torch.no_grad():
        per_image = [float(ssim(model(lr[None]), hr[None], crop_border=2)[0])
                     for lr, hr in (val_set[i] for i in range(len(val_set)))]
    expected = sum(per_image) / len(per_image)
    (logged,) = records(run, "val")
    assert logged["samples"] == len(per_image) == 3
    assert logged["ssim_y"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert 0 < logged["ssim_y"] < 1
    (event,) = [info for name, info in events if name == "val"]
    assert event["ssim"] == logged["ssim_y"] and result.val_ssim == logged["ssim_y"]
    # the best checkpoint still follows PSNR-Y
    assert ckpt_io.load(run / "best.pt")["metrics"]["best_psnr_y"] == logged["psnr_y"]


def test_validation_images_too_small_for_the_ssim_window_give_no_ssim(images, tmp_path):
    # 12-pixel crops less 2 x scale border pixels are 8 wide: SSIM's 11x11 window does not fit
    result = train_sr(tiny(data=f"images:{images}", scale=2, steps=1, val_every=1, val_patch=12,
                           out=str(tmp_path / "run")))
    (logged,) = records(tmp_path / "run", "val")
    assert logged["ssim_y"] is None and result.val_ssim is None and logged["psnr_y"] is not None


# --- exact resumption -----------------------------------------------------------------------------

def test_resume_continues_exactly_like_an_uninterrupted_run(sample_root, tmp_path):
    # 4 training samples, batch 2: 2 steps per epoch, so the runs cross epochs and stop mid-epoch
    cfg = tiny(data=str(sample_root), scale=2, patch=32, steps=7, val_every=2, ckpt_every=2)
    straight = train_sr(cfg, out=str(tmp_path / "straight"))
    first = train_sr(cfg, out=str(tmp_path / "split"), stop_at=3)
    assert first.step == 3 and not first.finished
    second = train_sr(cfg, out=str(tmp_path / "split"), resume=True, workers=1)  # workers: same data
    assert second.start_step == 3 and second.step == 7 and second.finished
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for pa, pb in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(pa, pb)
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for k in sa:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[k][name], sb[k][name])
    assert a["scheduler"] == b["scheduler"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    # the same batches: identical losses, step by step, and a log without duplicated steps
    la = [(r["step"], r["loss"]) for r in records(tmp_path / "straight", "train")]
    lb = [(r["step"], r["loss"]) for r in records(tmp_path / "split", "train")]
    assert la == lb and [s for s, _ in la] == list(range(1, 8))
    assert [r["psnr_y"] for r in records(tmp_path / "straight", "val")] == \
        [r["psnr_y"] for r in records(tmp_path / "split", "val")]


def test_resume_with_another_config_is_an_error(images, tmp_path):
    run = tmp_path / "run"
    train_sr(tiny(data=f"images:{images}", out=str(run), steps=4, stop_at=1))
    with pytest.raises(ValueError, match=r"config differs.*lr: 0\.001 in the checkpoint, 0\.002 now"):
        train_sr(tiny(data=f"images:{images}", out=str(run), steps=4, lr=2e-3, resume=True))
    with pytest.raises(ValueError, match="already holds a run"):
        train_sr(tiny(data=f"images:{images}", out=str(run), steps=4))
    # settings that do not change the result may differ
    result = train_sr(tiny(data=f"images:{images}", out=str(run), steps=4, resume=True, val_every=2, ckpt_every=3))
    assert result.start_step == 1 and result.step == 4


# --- learning ---------------------------------------------------------------------------------------

def test_loss_decreases_on_an_image_folder(images, tmp_path):
    run = tmp_path / "run"
    result = train_sr(tiny(data=f"images:{images}", scale=2, patch=32, batch=4, steps=60, lr=2e-3,
                           val_every=60, val_patch=128, out=str(run)))
    losses = [r["loss"] for r in records(run, "train")]
    assert len(losses) == 60
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)
    assert result.val_psnr is not None and result.best_psnr >= result.val_psnr


# --- atomic checkpoints and Ctrl-C -------------------------------------------------------------------

def test_a_crash_while_saving_leaves_the_previous_checkpoint(images, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = tiny(data=f"images:{images}", out=str(run), steps=4, ckpt_every=2)
    train_sr(cfg, stop_at=2)
    before = (run / "last.pt").read_bytes()

    class Crashing(io.FileIO):  # the write fails half-way through
        def write(self, data):
            super().write(memoryview(data).cast("B")[: memoryview(data).nbytes // 2])
            raise OSError("simulated crash while writing")

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "open", lambda file, mode="r": Crashing(file, mode.replace("b", "")), raising=False)
        with pytest.raises(OSError, match="simulated crash"):
            train_sr(cfg, resume=True)
    assert (run / "last.pt").read_bytes() == before
    assert ckpt_io.load(run / "last.pt")["step"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt", "metrics.jsonl"]  # no temp file
    assert train_sr(cfg, resume=True).step == 4  # and the run goes on from it


def test_resume_without_a_checkpoint_says_it_starts_a_new_run(images, tmp_path):
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"--resume: there is no checkpoint to resume \(.*last\.pt does not exist\); "
                                         r"starting a new run from step 0"):
        result = train_sr(tiny(data=f"images:{images}", out=str(run), steps=1), resume=True)
    assert result.step == 1 and ckpt_io.load(run / "last.pt")["step"] == 1


def test_a_checkpoint_with_a_missing_config_names_the_file(images, tmp_path):
    run = tmp_path / "run"
    cfg = tiny(data=f"images:{images}", out=str(run), steps=2)
    train_sr(cfg, stop_at=1)
    state = torch.load(run / "last.pt", weights_only=True)
    del state["config"]
    torch.save(state, run / "last.pt")
    with pytest.raises(ValueError, match=r"last\.pt: a training checkpoint whose 'config' is missing"):
        train_sr(cfg, resume=True)


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(images, tmp_path, disk_full_after):
    run = tmp_path / "run"
    cfg = tiny(data=f"images:{images}", out=str(run), steps=4, ckpt_every=2)
    train_sr(cfg, stop_at=2)
    before = (run / "last.pt").read_bytes()
    disk_full_after(10_000)
    with pytest.raises(atomic.NotEnoughSpaceError, match=r"disk is full: writing .*last\.pt failed after 9\.8 KiB "
                                                         r"\(.* free\); the previous last\.pt is kept"):
        train_sr(cfg, resume=True)
    assert (run / "last.pt").read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "last.pt", "metrics.jsonl"]  # no temp file


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(images, tmp_path):
    run = tmp_path / "run"
    cfg = tiny(data=f"images:{images}", out=str(run), steps=6, ckpt_every=0)

    def press_ctrl_c(event, info):
        if event == "step" and info["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train_sr(cfg, callback=press_ctrl_c)
    assert ckpt_io.load(run / "last.pt")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler was restored
    assert train_sr(cfg, resume=True).step == 6


# --- DDP ----------------------------------------------------------------------------------------------

def test_ddp_two_processes_on_cpu_end_with_identical_weights(images, tmp_path):
    run = tmp_path / "run"
    cfg = tiny(data=f"images:{images}", out=str(run), steps=4, val_every=4, val_patch=64, device="cpu")
    w0, w1 = spawn_training(train_sr, cfg, tmp_path, setup=_register_tiny)
    ckpt = ckpt_io.load(run / "last.pt")
    assert ckpt["step"] == 4 and ckpt["world_size"] == 2 and ckpt["data"]["world_size"] == 2
    init = TinySR(scale=2).state_dict()
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
        assert torch.equal(w0[key], ckpt["model"][key]), key
    assert any(not torch.equal(w0[k], init[k]) for k in w0)  # it trained
    assert [r["step"] for r in records(run, "train")] == [1, 2, 3, 4]  # rank 0 alone writes the log
    assert [r["samples"] for r in records(run, "val")] == [3]  # both halves of the val set were counted


# --- the command line -------------------------------------------------------------------------------

def test_cli_train_sr_happy_path(images, tmp_path):
    run = tmp_path / "run"
    args = ["train-sr", "--scale", "2", "--data", f"images:{images}", "--model", TINY, "--steps", "3",
            "--batch", "2", "--patch", "16", "--workers", "0", "--val-every", "3", "--val-patch", "64",
            "--out", str(run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    assert "best PSNR-Y" in out and "bicubic PSNR-Y" in out and "3 / 3" in out
    ssim = records(run, "val")[-1]["ssim_y"]
    assert re.search(rf"val SSIM-Y\s*│?\s*{ssim:.4f}", out), out
    assert ckpt_io.load(run / "last.pt")["step"] == 3
    # --resume of a finished run trains nothing more; --json is machine-readable
    result = runner.invoke(app, args + ["--resume", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["step"] == 3 and report["start_step"] == 3 and report["finished"] is True
    assert report["config"]["model"] == TINY


def test_progress_line_shows_the_validation_ssim():
    import io

    from rich.console import Console

    from cli._progress import ProgressView
    from inter4k.progress import train_events

    text = io.StringIO()
    bar = train_events(ProgressView(Console(file=text, width=200)), "train-sr")
    bar("val", {"step": 5, "psnr": 30.0, "ssim": 0.91234, "bicubic": 28.5})
    bar("val", {"step": 6, "psnr": 31.0, "ssim": None, "bicubic": 28.5})  # images too small for SSIM
    assert [plain(line) for line in text.getvalue().splitlines()] == [
        "step 5: val PSNR-Y 30.00 dB SSIM 0.9123 (bicubic 28.50)", "step 6: val PSNR-Y 31.00 dB (bicubic 28.50)"]


@pytest.mark.parametrize("args", [["--batch", "0"], ["--patch", "0"], ["--scale", "5"], ["--steps", "0"]])
def test_cli_rejects_bad_numbers(images, tmp_path, args):
    result = runner.invoke(app, ["train-sr", "--data", f"images:{images}", "--model", TINY,
                                 "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--scale", "4", "--patch", "30"], "patch 30 is not a multiple of scale 4"),
    (["--data", "{missing}"], "does not exist"),
    (["--data", "images:{missing}"], "does not exist"),
    (["--model", "no-such-model"], "unknown model 'no-such-model'; known SR models: .*test-tiny-sr"),
])
def test_cli_bad_input_exits_2_with_one_line(images, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    args = [a.format(missing=tmp_path / "nowhere") for a in args]
    base = {"--data": f"images:{images}", "--model": TINY, "--scale": "2", "--patch": "16"}
    given = dict(zip(args[::2], args[1::2]))
    argv = ["train-sr", "--steps", "2", "--workers", "0", "--out", str(tmp_path / "run"), "--quiet"]
    for k, v in {**base, **given}.items():
        argv += [k, v]
    assert main(argv) == 2
    err = plain(capsys.readouterr().err)
    assert err.startswith("Error:") and "Traceback" not in err
    assert re.search(message, err), err


def test_cli_resume_with_another_config_exits_2(images, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    argv = ["train-sr", "--data", f"images:{images}", "--model", TINY, "--scale", "2", "--patch", "16",
            "--batch", "2", "--steps", "2", "--workers", "0", "--val-every", "0", "--out", str(tmp_path / "run"),
            "--quiet"]
    assert main(argv) == 0
    assert main(argv + ["--resume", "--batch", "3"]) == 2
    assert "batch: 2 in the checkpoint, 3 now" in plain(capsys.readouterr().err)


def test_cli_ctrl_c_exits_130_after_saving(images, tmp_path, monkeypatch):
    import cli._progress

    original = cli._progress.ProgressView.__call__

    def interrupting(self, event):
        original(self, event)
        if event.stage == "train-sr" and event.kind == "update" and event.done == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(cli._progress.ProgressView, "__call__", interrupting)
    run = tmp_path / "run"
    result = runner.invoke(app, ["train-sr", "--scale", "2", "--data", f"images:{images}", "--model", TINY,
                                 "--steps", "5", "--batch", "2", "--patch", "16", "--workers", "0",
                                 "--val-every", "0", "--out", str(run)])
    assert result.exit_code == 130, result.output
    assert "--resume" in plain(result.output)
    assert ckpt_io.load(run / "last.pt")["step"] == 2


# --- fine-tuning (--init) and synthetic smooth samples ----------------------------------------------

def test_init_starts_from_the_given_weights_and_refuses_another_architecture(images, tmp_path):
    first = tmp_path / "first"
    train_sr(tiny(data=f"images:{images}", steps=3, out=str(first)))
    trained = torch.load(first / "last.pt", map_location="cpu", weights_only=True)["model"]
    # one step at a negligible learning rate leaves the initial weights where they were
    ft = tmp_path / "ft"
    train_sr(tiny(data=f"images:{images}", steps=1, lr=1e-12, min_lr=0.0, init=str(first / "last.pt"), out=str(ft)))
    tuned = torch.load(ft / "last.pt", map_location="cpu", weights_only=True)["model"]
    assert all(torch.allclose(trained[k], tuned[k], atol=1e-8) for k in trained)
    scratch = tmp_path / "scratch"
    train_sr(tiny(data=f"images:{images}", steps=1, lr=1e-12, min_lr=0.0, seed=5, out=str(scratch)))
    fresh = torch.load(scratch / "last.pt", map_location="cpu", weights_only=True)["model"]
    assert not all(torch.allclose(trained[k], fresh[k], atol=1e-3) for k in trained)
    with pytest.raises(ValueError, match="--init .*architecture"):
        train_sr(tiny(data=f"images:{images}", steps=1, model_kwargs={"width": 4}, init=str(first / "last.pt"),
                      out=str(tmp_path / "other")))


def test_smooth_samples_are_smooth_and_reproducible(images):
    from inter4k.data.images import ImageFolderSR, smooth_image

    ds = ImageFolderSR(images, scale=2, patch_size=32, samples_per_image=200, smooth_prob=0.2, seed=1)
    plans = [ds.plan(i) for i in range(len(ds))]
    picked = [i for i, p in enumerate(plans) if p.get("smooth") is not None]
    assert 0.12 < len(picked) / len(plans) < 0.28
    lr, hr = ds[picked[0]]
    lr2, hr2 = ds[picked[0]]
    assert torch.equal(hr, hr2)
    # no detail: every 2x2 block's second differences are tiny compared with a photograph's
    d2 = (hr[:, :, 2:] - 2 * hr[:, :, 1:-1] + hr[:, :, :-2]).abs().max()
    assert d2 < 4 / 255
    for seed in range(30):
        img = smooth_image(24, 40, np.random.default_rng(seed))
        assert img.shape == (24, 40, 3) and img.dtype == np.uint8
    with pytest.raises(ValueError, match="smooth_prob"):
        ImageFolderSR(images, scale=2, patch_size=32, smooth_prob=-0.1)


def test_cli_train_sr_body_goes_to_the_model_factory(images, tmp_path, capsys):
    """--body (as train-vfi's): the LR-grid SR body kind reaches the factory and the checkpoint's config."""

    run = tmp_path / "run"
    args = ["train-sr", "--data", f"images:{images}", "--model", "sr-lr-small", "--body", "ds2", "--scale", "2",
            "--steps", "1", "--batch", "1", "--patch", "16", "--workers", "0", "--val-every", "0", "--out", str(run),
            "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ckpt = ckpt_io.load(run / "last.pt")
    assert ckpt["config"]["model_kwargs"] == {"body": "ds2"} and ckpt["model_config"]["body"] == "ds2"
    assert any(k.startswith("body.blocks.0.inner.") for k in ckpt["model"])   # DS2: the shortcut around conv2
    assert main(args[:-3] + ["--body", "nope", "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error:") and "unknown body 'nope'" in err and "Traceback" not in err
