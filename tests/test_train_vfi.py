"""``inter4k train-vfi`` / ``inter4k.train.vfi.train_vfi``: runs on synthetic motion, on the ``inter4k
sample`` clips and on prepared shards, the validation figures against an independent computation,
exact resumption, the cross-task resume error, DDP on the CPU (gloo) and the command line.

A tiny model put in the registry for these tests only ("test-tiny-vfi": a convolution on the two
frames and t, added to the linear blend) keeps every run to a second or so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio
from torch import nn
from typer.testing import CliRunner

from _ddp import spawn_training
from cli.main import app, main
from inter4k.train import checkpoint as ckpt_io
from inter4k.train.sr import train_sr
from inter4k.train.vfi import MODES, VFITrainConfig, flatten_targets, train_vfi

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = "test-tiny-vfi"
TINY_SR = "test-tiny-sr-for-vfi"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()


class TinyVFI(nn.Module):
    """(1 - t) I0 + t I1 plus a 3x3 convolution of (I0, I1, t)."""

    def __init__(self, width: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(7, width, 3, padding=1)
        self.out = nn.Conv2d(width, 3, 1)
        self.config = {"width": width}

    def forward(self, frame0, frame1, t):
        t = torch.as_tensor(t, dtype=frame0.dtype, device=frame0.device).reshape(-1, 1, 1, 1).expand(
            frame0.shape[0], 1, *frame0.shape[-2:])
        blend = (1 - t) * frame0 + t * frame1
        return blend + self.out(torch.relu(self.conv(torch.cat([frame0, frame1, t], 1))))


class TinySR(nn.Module):
    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.config = {"scale": scale}

    def forward(self, x):
        return nn.functional.pixel_shuffle(self.conv(x), self.scale)


def _register_tiny() -> None:
    from inter4k.models import registry

    registry._MODELS[TINY], registry._TASKS[TINY] = TinyVFI, "vfi"
    registry._MODELS[TINY_SR], registry._TASKS[TINY_SR] = TinySR, "sr"


@pytest.fixture(autouse=True)
def _tiny_models(monkeypatch):
    """The tiny models are in the registry during these tests only (other tests list the models)."""
    from inter4k.models import registry

    for name, cls, task in ((TINY, TinyVFI, "vfi"), (TINY_SR, TinySR, "sr")):
        monkeypatch.setitem(registry._MODELS, name, cls)
        monkeypatch.setitem(registry._TASKS, name, task)


def tiny(**kw) -> dict:
    base = dict(model=TINY, data="synthetic", mode="30to60", steps=3, batch=2, patch=24, lr=1e-3, workers=0,
                val_every=0, log_every=1)
    base.update(kw)
    return base


def records(run: Path, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


def plain(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


def skimage_psnrs(model: nn.Module, dataset) -> tuple[float, float]:
    """Mean RGB PSNR over every target frame of ``dataset``, of ``model`` and of the linear blend,
    computed per frame with scikit-image (an independent implementation)."""
    ours, blend = [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            inputs, targets, t = dataset[i]
            for k in range(len(t)):
                f0, f1, ref = inputs[0].numpy(), inputs[1].numpy(), targets[k].numpy().astype(np.float64)
                pred = model(inputs[0:1], inputs[1:2], t[k:k + 1])[0].clamp(0, 1).numpy()
                lin = (1 - float(t[k])) * f0.astype(np.float64) + float(t[k]) * f1
                ours.append(peak_signal_noise_ratio(ref, pred.astype(np.float64), data_range=1.0))
                blend.append(peak_signal_noise_ratio(ref, lin, data_range=1.0))
    return float(np.mean(ours)), float(np.mean(blend))


# --- runs -------------------------------------------------------------------------------------------

def test_flatten_targets_pairs_every_target_with_its_inputs_and_time():
    inputs, targets, t = torch.rand(2, 2, 3, 5, 4), torch.rand(2, 3, 3, 5, 4), torch.rand(2, 3)
    f0, f1, gt, tt = flatten_targets(inputs, targets, t)
    assert f0.shape == gt.shape == (6, 3, 5, 4) and tt.shape == (6,)
    for n in range(2):
        for k in range(3):
            row = 3 * n + k
            assert torch.equal(f0[row], inputs[n, 0]) and torch.equal(f1[row], inputs[n, 1])
            assert torch.equal(gt[row], targets[n, k]) and tt[row] == t[n, k]
    with pytest.raises(ValueError, match="do not match"):
        flatten_targets(inputs, targets, t[:, :2])


def test_modes_are_the_dataset_modes():
    from inter4k.data.datasets import VFI_SPANS

    assert MODES == tuple(VFI_SPANS)


def test_run_on_synthetic_motion_writes_a_vfi_checkpoint_and_true_psnrs(tmp_path):
    from inter4k.data.motion import SyntheticMotionVFI

    run = tmp_path / "run"
    events = []
    result = train_vfi(tiny(mode="15to60", val_every=3, val_patch=32, out=str(run)),
                       callback=lambda event, info: events.append((event, info)))
    assert result.step == 3 and result.finished and result.mode == "15to60"
    assert result.best == run / "best.pt" and result.last == run / "last.pt"
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["format"] == ckpt_io.FORMAT and ckpt["task"] == "vfi" and ckpt["step"] == 3
    assert ckpt["model_name"] == TINY and ckpt["model_config"] == {"width": 3}
    assert set(ckpt["config"]) == set(VFITrainConfig().to_dict())  # the full, resolved config
    assert ckpt["config"]["mode"] == "15to60" and ckpt["config"]["patch"] == 24 and ckpt["config"]["warmup"] == 0
    assert ckpt["scheduler"]["last_epoch"] == 3
    assert {"python", "numpy", "torch", "cuda"} <= set(ckpt["rng"])
    # validation: 8 fixed val clips of rocket x 3 targets; the figures are those of scikit-image's PSNR
    val = records(run, "val")
    assert [(r["step"], r["samples"], r["frames"]) for r in val] == [(3, 8, 24)]
    expected_model, expected_blend = skimage_psnrs(result.model.eval(), SyntheticMotionVFI(
        None, mode="15to60", patch_size=32, seed=0, split="val"))
    assert val[0]["psnr_rgb"] == pytest.approx(expected_model, abs=1e-4)
    assert val[0]["average_psnr_rgb"] == pytest.approx(expected_blend, abs=1e-4)
    assert result.val_psnr_rgb == pytest.approx(expected_model, abs=1e-4)
    assert 15 < val[0]["average_psnr_y"] < 60 and val[0]["psnr_y"] == result.best_psnr_y
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 3 and "val" in kinds
    start = events[0][1]
    assert start["task"] == "vfi" and start["mode"] == "15to60" and start["data_kind"] == "synthetic"


def test_run_on_sample_clips_validates_on_their_val_split(sample_root, tmp_path):
    from inter4k.data.datasets import Inter4KVFI

    run = tmp_path / "run"
    result = train_vfi(tiny(data=str(sample_root), patch=32, steps=2, val_every=2, out=str(run)))
    assert result.step == 2 and result.finished
    val = records(run, "val")
    # one val clip of 384 x 216 (smaller than 480: whole frames), one sample, one target at t = 1/2
    assert [(r["samples"], r["frames"]) for r in val] == [(1, 1)]
    expected_model, expected_blend = skimage_psnrs(result.model.eval(), Inter4KVFI(
        sample_root, split="val", mode="30to60", patch_size=None))
    assert val[0]["psnr_rgb"] == pytest.approx(expected_model, abs=1e-4)
    assert val[0]["average_psnr_rgb"] == pytest.approx(expected_blend, abs=1e-4)


def test_prepared_patches_train_and_a_mode_mismatch_is_an_error(sample_root, tmp_path):
    from inter4k.data.prepare import prepare

    shards = tmp_path / "shards"
    prepare(sample_root, shards, split="train", task="vfi", mode="15to60", patch=24, per_clip=4)
    result = train_vfi(tiny(data=str(shards), mode="15to60", patch=None, steps=2, out=str(tmp_path / "run")))
    assert result.step == 2 and result.config["patch"] == 24  # the stored size
    with pytest.raises(ValueError, match="are for mode 15to60; pass --mode 15to60"):
        train_vfi(tiny(data=str(shards), mode="8x", patch=None, out=str(tmp_path / "other")))


# --- exact resumption and the task check -----------------------------------------------------------

def test_resume_continues_exactly_like_an_uninterrupted_run(sample_root, tmp_path):
    # 1 train clip x 4 samples, batch 2: 2 steps per epoch, so the runs cross epochs and stop mid-epoch
    cfg = tiny(data=str(sample_root), patch=24, steps=7, val_every=2, val_patch=48, ckpt_every=2)
    straight = train_vfi(cfg, out=str(tmp_path / "straight"))
    first = train_vfi(cfg, out=str(tmp_path / "split"), stop_at=3)
    assert first.step == 3 and not first.finished
    second = train_vfi(cfg, out=str(tmp_path / "split"), resume=True, workers=1)  # workers: same data
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
    assert a["scheduler"] == b["scheduler"] and a["metrics"] == b["metrics"]
    la = [(r["step"], r["loss"]) for r in records(tmp_path / "straight", "train")]
    lb = [(r["step"], r["loss"]) for r in records(tmp_path / "split", "train")]
    assert la == lb and [s for s, _ in la] == list(range(1, 8))
    assert [r["psnr_y"] for r in records(tmp_path / "straight", "val")] == \
        [r["psnr_y"] for r in records(tmp_path / "split", "val")]


def test_resuming_a_run_of_the_other_task_is_an_error(tmp_path):
    from inter4k.data.images import write_skimage_images

    photos = tmp_path / "photos"
    write_skimage_images(photos, ["coffee"])
    sr_run, vfi_run = tmp_path / "sr", tmp_path / "vfi"
    train_sr(model=TINY_SR, scale=2, data=f"images:{photos}", steps=2, batch=2, patch=16, workers=0, val_every=0,
             out=str(sr_run))
    with pytest.raises(ValueError, match=r"cannot resume .*last\.pt: it is a train-sr checkpoint, and this is train-vfi"):
        train_vfi(tiny(out=str(sr_run), resume=True))
    train_vfi(tiny(out=str(vfi_run), steps=2))
    with pytest.raises(ValueError, match="it is a train-vfi checkpoint, and this is train-sr"):
        train_sr(model=TINY_SR, scale=2, data=f"images:{photos}", steps=2, batch=2, patch=16, workers=0,
                 val_every=0, out=str(vfi_run), resume=True)
    with pytest.raises(ValueError, match=r"config differs.*mode: '30to60' in the checkpoint, '8x' now"):
        train_vfi(tiny(out=str(vfi_run), steps=2, mode="8x", resume=True))
    assert ckpt_io.load(vfi_run / "last.pt")["task"] == "vfi"


# --- DDP ----------------------------------------------------------------------------------------------

def test_ddp_two_processes_on_cpu_end_with_identical_weights(tmp_path):
    run = tmp_path / "run"
    cfg = tiny(mode="15to60", out=str(run), steps=3, val_every=3, val_patch=24, device="cpu")
    w0, w1 = spawn_training(train_vfi, cfg, tmp_path, setup=_register_tiny)
    ckpt = ckpt_io.load(run / "last.pt")
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2 and ckpt["task"] == "vfi"
    for key in w0:
        assert torch.equal(w0[key], w1[key]), key
        assert torch.equal(w0[key], ckpt["model"][key]), key
    torch.manual_seed(0)  # the trainer seeds with cfg seed 0 right before building the model
    init = TinyVFI().state_dict()
    assert any(not torch.equal(w0[k], init[k]) for k in w0)  # it trained
    assert [r["step"] for r in records(run, "train")] == [1, 2, 3]  # rank 0 alone writes the log
    assert [(r["samples"], r["frames"]) for r in records(run, "val")] == [(8, 24)]  # both halves counted


# --- the command line -------------------------------------------------------------------------------

def test_cli_train_vfi_happy_path(tmp_path):
    run = tmp_path / "run"
    args = ["train-vfi", "--mode", "8x", "--data", "synthetic", "--model", TINY, "--steps", "2", "--batch", "1",
            "--patch", "16", "--workers", "0", "--val-every", "2", "--val-patch", "16", "--out", str(run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    assert "train-vfi 8x synthetic scikit-image photographs" in out
    assert "best PSNR-Y" in out and "average PSNR-Y / RGB" in out and "2 / 2" in out
    assert ckpt_io.load(run / "last.pt")["step"] == 2
    result = runner.invoke(app, args + ["--resume", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["step"] == 2 and report["start_step"] == 2 and report["finished"] is True
    assert report["mode"] == "8x" and report["config"]["model"] == TINY
    assert report["average_psnr_y"] is not None and report["val_psnr_rgb"] is not None


@pytest.mark.parametrize("args, message", [
    (["--mode", "4x"], "mode must be one of 30to60, 15to60, 8x, got '4x'"),
    (["--data", "synthetic:{missing}"], "does not exist"),
    (["--data", "{missing}"], "does not exist"),
    (["--model", "vfi-average"], "model 'vfi-average' has no trainable parameters"),
    (["--model", TINY_SR], f"model '{TINY_SR}' is not a frame interpolation model; known VFI models: .*{TINY}"),
    (["--model", "no-such-model"], "unknown model 'no-such-model'; known VFI models: .*vfi-small"),
    (["--model", "vfi-small", "--body", "nope"], "unknown body 'nope'; known: plain, ds"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    args = [a.format(missing=tmp_path / "nowhere") for a in args]
    base = {"--data": "synthetic", "--model": TINY, "--patch": "16"}
    given = dict(zip(args[::2], args[1::2]))
    argv = ["train-vfi", "--steps", "2", "--workers", "0", "--out", str(tmp_path / "run"), "--quiet"]
    for k, v in {**base, **given}.items():
        argv += [k, v]
    assert main(argv) == 2
    err = plain(capsys.readouterr().err)
    assert err.startswith("Error:") and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cli_train_vfi_body_goes_to_the_model_factory(tmp_path):
    run = tmp_path / "run"
    args = ["train-vfi", "--data", "synthetic", "--model", "vfi-small", "--body", "ds", "--steps", "1", "--batch", "1",
            "--patch", "16", "--workers", "0", "--val-every", "0", "--out", str(run), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ckpt = ckpt_io.load(run / "last.pt")
    assert ckpt["config"]["model_kwargs"] == {"body": "ds"}
    assert any(k.startswith("refinenet.body.") for k in ckpt["model"])


def test_cli_train_vfi_refine_channels_goes_to_the_model_factory(tmp_path):
    run = tmp_path / "run"
    args = ["train-vfi", "--data", "synthetic", "--model", "vfi-small", "--refine-channels", "4", "--steps", "1",
            "--batch", "1", "--patch", "16", "--workers", "0", "--val-every", "0", "--out", str(run), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    ckpt = ckpt_io.load(run / "last.pt")
    assert ckpt["config"]["model_kwargs"] == {"refine_channels": 4}
    assert tuple(ckpt["model"]["res1.weight"].shape) == (4, 10, 3, 3)


def test_api_train_vfi_is_the_library_function(tmp_path):
    from inter4k import api

    result = api.train_vfi(tiny(out=str(tmp_path / "run"), steps=1))
    assert result.step == 1 and result.to_dict()["out"] == str(tmp_path / "run")


# --- flow supervision (flow_loss) --------------------------------------------------------------------

def flow_cfg(**kw) -> dict:
    # the real vfi-small (it returns its flows), narrow, on 16 px synthetic frames: a second or so
    base = dict(model="vfi-small", model_kwargs={"channels": 4}, patch=16, flow_loss=1.0)
    base.update(kw)
    return tiny(**base)


def test_flow_loss_runs_logs_and_is_the_frame_l1_plus_the_scaled_flow_error(tmp_path, monkeypatch):
    from inter4k.models import create_model
    from inter4k.train import vfi as vfi_train

    seen = []
    original = vfi_train.VFITrainer.batch_loss
    monkeypatch.setattr(vfi_train.VFITrainer, "batch_loss",
                        lambda self, batch: seen.append(batch) or original(self, batch))
    run = tmp_path / "run"
    result = train_vfi(flow_cfg(out=str(run), steps=3, mode="15to60", flow_loss=2.5))
    assert result.step == 3 and result.finished and result.config["flow_loss"] == 2.5
    assert ckpt_io.load(run / "last.pt")["config"]["flow_loss"] == 2.5
    logged = [r["loss"] for r in records(run, "train")]
    assert len(logged) == 3 and all(np.isfinite(logged))
    # step 1's loss recomputed here: the same batch through the initial model (the trainer seeds with 0)
    inputs, targets, t, flows = seen[0]
    assert flows.shape == (2, 3, 4, 16, 16)  # the training set returned the true flows
    torch.manual_seed(0)
    model = create_model("vfi-small", channels=4)
    n, k = targets.shape[:2]
    f0 = inputs[:, 0:1].expand(-1, k, -1, -1, -1).reshape(n * k, 3, 16, 16)
    f1 = inputs[:, 1:2].expand(-1, k, -1, -1, -1).reshape(n * k, 3, 16, 16)
    with torch.no_grad():
        pred, pflows = model(f0, f1, t.reshape(-1), return_flows=True)
    assert torch.equal(pflows, torch.zeros_like(pflows))  # untrained: zero flows, the flow term is mean|true| / P
    frame_l1 = float((pred - targets.reshape(n * k, 3, 16, 16)).abs().mean())
    flow_term = 2.5 * float(flows.abs().mean()) / 16
    assert flow_term > 0.01  # the true flows are not zero
    assert logged[0] == pytest.approx(frame_l1 + flow_term, rel=1e-5)


def test_flow_loss_resumes_exactly_and_must_match(tmp_path):
    cfg = flow_cfg(steps=4, ckpt_every=2)
    train_vfi(cfg, out=str(tmp_path / "straight"))
    assert not train_vfi(cfg, out=str(tmp_path / "split"), stop_at=2).finished
    second = train_vfi(cfg, out=str(tmp_path / "split"), resume=True)
    assert second.start_step == 2 and second.step == 4 and second.config["flow_loss"] == 1.0
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["loss"] for r in records(tmp_path / "straight", "train")] == \
        [r["loss"] for r in records(tmp_path / "split", "train")]
    with pytest.raises(ValueError, match=r"config differs.*flow_loss: 1\.0 in the checkpoint, 0\.5 now"):
        train_vfi(cfg, out=str(tmp_path / "split"), resume=True, flow_loss=0.5)


def test_flow_loss_needs_synthetic_data_and_a_model_with_flows(sample_root, tmp_path):
    with pytest.raises(ValueError, match="flow_loss 1.0 needs the true flows of synthetic data.*inter4k data has none"):
        train_vfi(flow_cfg(data=str(sample_root), out=str(tmp_path / "run")))
    with pytest.raises(ValueError, match=f"model '{TINY}' cannot return its flows"):
        train_vfi(tiny(flow_loss=1.0, out=str(tmp_path / "run")))
    with pytest.raises(ValueError, match="flow_loss must be a finite number >= 0, got -1"):
        train_vfi(flow_cfg(flow_loss=-1, out=str(tmp_path / "run")))
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cli_flow_loss_option(tmp_path, capsys, monkeypatch, sample_root):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    run = tmp_path / "run"
    args = ["train-vfi", "--data", "synthetic", "--model", "vfi-small", "--steps", "1", "--batch", "1",
            "--patch", "16", "--workers", "0", "--val-every", "0", "--flow-loss", "0.5", "--out", str(run),
            "--json", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["flow_loss"] == 0.5
    bad = ["train-vfi", "--data", str(sample_root), "--steps", "1", "--workers", "0", "--flow-loss", "1",
           "--out", str(tmp_path / "bad"), "--quiet"]
    assert main(bad) == 2
    assert "needs the true flows of synthetic data" in plain(capsys.readouterr().err)


def test_a_checkpoint_written_before_a_config_field_existed_resumes_with_its_default():
    from inter4k.train.loop import config_diff
    from inter4k.train.vfi import VFITrainConfig

    now = VFITrainConfig(data="synthetic").to_dict()
    old = {k: v for k, v in now.items() if k != "flow_loss"}  # as written before flow_loss existed
    defaults = VFITrainConfig().to_dict()
    assert config_diff(old, now, defaults) == []
    changed = dict(now, flow_loss=0.5)
    assert config_diff(old, changed, defaults) == ["flow_loss: 0.0 in the checkpoint, 0.5 now"]


# --- the real-photograph corpus: realistic clips ---------------------------------------------------------

def test_photos_train_on_the_train_split_and_validate_on_the_val_split_with_real_motion(photo_corpus, tmp_path):
    from inter4k.train.distributed import DistInfo
    from inter4k.train.vfi import VFITrainer

    def trainer(**kw) -> VFITrainer:
        return VFITrainer(VFITrainConfig.make(tiny(**kw)).resolved(None), DistInfo(), None)

    photos = trainer(data=f"photos:{photo_corpus}", patch=32)
    spec = photos.parse_data(photos.cfg.data)
    assert (spec.kind, spec.path) == ("photos", photo_corpus)
    train, val = photos.build_train_dataset(spec), photos.build_val_dataset(spec)
    assert train.names == ["astronaut.png", "chelsea.png", "coffee.png"] and train.split == "train"
    assert val.names == ["camera.png", "rocket.png"] and val.split == "val"
    assert train.realism.name == val.realism.name == "real"  # the default for photos
    rigid = trainer(data=f"photos:{photo_corpus}", patch=32, realism="rigid")
    assert rigid.build_train_dataset(spec).realism.name == "rigid"
    synthetic = trainer()
    assert synthetic.build_train_dataset(synthetic.parse_data("synthetic")).realism.name == "rigid"
    # a run: the validation figures are those of the val photographs' fixed real clips
    run = tmp_path / "run"
    result = train_vfi(tiny(data=f"photos:{photo_corpus}", patch=32, val_every=2, steps=2, out=str(run)))
    [rec] = records(run, "val")
    _, blend = skimage_psnrs(result.model.eval(), val)
    assert rec["samples"] == len(val) == 8 and rec["average_psnr_rgb"] == pytest.approx(blend, abs=1e-4)


def test_photos_errors_realism_for_real_footage_and_a_corpus_without_val(photo_corpus, sample_root, tmp_path):
    with pytest.raises(ValueError, match="realism must be one of rigid, real, scene, recorded, got 'film'"):
        train_vfi(tiny(realism="film", out=str(tmp_path / "a")))
    with pytest.raises(ValueError, match="realism 'real' applies to synthetic clips"):
        train_vfi(tiny(data=str(sample_root), realism="real", out=str(tmp_path / "b")))
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(photo_corpus, partial)
    shutil.rmtree(partial / "val")
    with pytest.raises(FileNotFoundError, match="has no val/ images"):
        train_vfi(tiny(data=f"photos:{partial}", val_every=1, out=str(tmp_path / "c")))
    assert not any((tmp_path / d / "last.pt").exists() for d in "abc")


def test_cli_photos_and_realism(photo_corpus, tmp_path):
    args = ["train-vfi", "--data", f"photos:{photo_corpus}", "--realism", "rigid", "--model", "vfi-small",
            "--flow-loss", "0.5", "--steps", "1", "--batch", "1", "--patch", "32", "--workers", "0",
            "--val-every", "0", "--out", str(tmp_path / "run"), "--json", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)["config"]
    assert config["realism"] == "rigid" and config["data"] == f"photos:{photo_corpus}"


def test_cli_train_vfi_init_fine_tunes_from_a_checkpoint(tmp_path):
    """--init (shared with train-sr): the run starts from the given weights, not from a random init."""
    first, ft = tmp_path / "first", tmp_path / "ft"
    base = ["train-vfi", "--data", "synthetic", "--model", TINY, "--batch", "1", "--patch", "16", "--workers", "0",
            "--val-every", "0"]
    assert runner.invoke(app, base + ["--steps", "3", "--out", str(first)]).exit_code == 0
    result = runner.invoke(app, base + ["--steps", "1", "--lr", "1e-6", "--seed", "7", "--init",
                                        str(first / "last.pt"), "--out", str(ft)])
    assert result.exit_code == 0, result.output
    trained = ckpt_io.load(first / "last.pt")["model"]
    tuned = ckpt_io.load(ft / "last.pt")["model"]
    assert all(torch.allclose(trained[k], tuned[k], atol=1e-4) for k in trained)  # one step of lr 1e-6
    assert ckpt_io.load(ft / "last.pt")["config"]["init"] == str(first / "last.pt")
    fresh = tmp_path / "fresh"
    assert runner.invoke(app, base + ["--steps", "1", "--lr", "1e-6", "--seed", "7", "--out", str(fresh)]).exit_code == 0
    assert not all(torch.allclose(trained[k], v, atol=1e-3) for k, v in ckpt_io.load(fresh / "last.pt")["model"].items())
