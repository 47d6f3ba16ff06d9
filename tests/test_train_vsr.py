"""train-vsr: clip data, L1 over every frame, validation against the per-frame baseline, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from inter4k.train.vsr import VSRTrainConfig, train_vsr

# a narrow vsr-small, so that a few steps take seconds on a CPU
SMALL = {"channels": 8, "blocks": 1, "frame_channels": 8, "frame_blocks": 1, "flow_channels": 4}


def tiny(corpus: Path, **kw) -> dict:
    base = dict(data=f"photos:{corpus}", scale=2, frames=3, patch=32, batch=2, steps=4, lr=1e-3, workers=0,
                val_every=0, log_every=1, model_kwargs=dict(SMALL))
    base.update(kw)
    return base


def records(run: Path, kind: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["type"] == kind]


def test_a_few_steps_validate_against_the_per_frame_baseline_and_bicubic(photo_corpus, tmp_path):
    run = tmp_path / "run"
    result = train_vsr(tiny(photo_corpus, steps=3, val_every=3, val_clips=2, out=str(run)))
    assert result.finished and result.step == 3 and (run / "last.pt").is_file()
    val = records(run, "val")[-1]
    assert val["clips"] == 2 and val["frames"] == 6
    # the per-frame baseline is the bundled default SR model (x2: sr-lr-small), measured on the same clips
    assert val["baseline"] == "sr-lr-small" and val["baseline_psnr_y"] > val["bicubic_psnr_y"]
    assert val["flicker_y"] > 0 and val["bicubic_flicker_y"] > 0
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["task"] == "vsr" and state["model_name"] == "vsr-small"
    assert state["model_config"]["channels"] == 8


def test_the_per_frame_network_starts_from_the_bundled_single_frame_model(photo_corpus, tmp_path):
    # "auto": the bundled default SR model (x2: sr-lr-small) fits vsr-small's per-frame network, so with
    # a vanishing learning rate the video model scores what the per-frame baseline scores
    cfg = tiny(photo_corpus, steps=1, lr=1e-9, min_lr=0.0, val_every=1, val_clips=2, out=str(tmp_path / "auto"),
               model_kwargs={"channels": 8, "blocks": 1, "flow_channels": 4, "deadzone": 0.25})
    starts = []
    train_vsr(cfg, callback=lambda event, info: starts.append(info) if event == "start" else None)
    assert starts[0]["frame_init"] == "sr-lr-small"
    val = records(tmp_path / "auto", "val")[-1]
    assert val["psnr_y"] == pytest.approx(val["baseline_psnr_y"], abs=1e-4)
    assert val["psnr_y"] > val["bicubic_psnr_y"] + 0.1
    # another architecture is not warm-started; a named model that does not fit is an error
    train_vsr(tiny(photo_corpus, steps=1, out=str(tmp_path / "other")),
              callback=lambda event, info: starts.append(info) if event == "start" else None)
    assert starts[1]["frame_init"] is None
    with pytest.raises(ValueError, match="per-frame weights must come from a LowResSRNet"):
        train_vsr(tiny(photo_corpus, steps=1, frame_init="sr-lr-small", out=str(tmp_path / "bad")))


def test_init_from_the_bundled_video_model_whose_deadzone_is_an_inference_setting(photo_corpus, tmp_path):
    from inter4k.models.weights import load_model

    bundled = load_model("vsr-small", scale=2)
    assert bundled.config["deadzone"] == 0.25
    arch = {k: v for k, v in bundled.config.items() if k not in ("scale", "deadzone")}
    run = tmp_path / "ft"
    train_vsr(tiny(photo_corpus, steps=1, lr=1e-12, min_lr=0.0, init="vsr-small", model_kwargs=arch, out=str(run)))
    tuned = torch.load(run / "last.pt", weights_only=True)
    assert "deadzone" not in tuned["model_config"] or tuned["model_config"]["deadzone"] == 0.0  # the run's own
    assert all(torch.allclose(v, tuned["model"][k], atol=1e-8) for k, v in bundled.state_dict().items())
    with pytest.raises(ValueError, match="--init vsr-small: its architecture"):
        train_vsr(tiny(photo_corpus, steps=1, init="vsr-small", out=str(tmp_path / "bad")))


def test_resume_continues_exactly_like_an_uninterrupted_run(photo_corpus, tmp_path):
    cfg = tiny(photo_corpus, steps=4)
    straight = train_vsr(cfg, out=str(tmp_path / "straight"))
    first = train_vsr(cfg, out=str(tmp_path / "split"), stop_at=2)
    assert first.step == 2 and not first.finished
    second = train_vsr(cfg, out=str(tmp_path / "split"), resume=True)
    assert second.start_step == 2 and second.finished
    for pa, pb in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(pa, pb)
    la = [(r["step"], r["loss"]) for r in records(tmp_path / "straight", "train")]
    lb = [(r["step"], r["loss"]) for r in records(tmp_path / "split", "train")]
    assert la == lb and [s for s, _ in la] == [1, 2, 3, 4]


def test_the_trainers_refuse_the_other_kind_of_model(photo_corpus, tmp_path):
    from inter4k.train.sr import train_sr

    with pytest.raises(ValueError, match="super-resolves single frames; train it with `inter4k train-sr`"):
        train_vsr(tiny(photo_corpus, model="sr-lr-small", model_kwargs={}, out=str(tmp_path / "a")))
    with pytest.raises(ValueError, match="super-resolves clips of frames; train it with `inter4k train-vsr`"):
        train_sr(dict(model="vsr-small", data=f"photos:{photo_corpus}", scale=2, patch=32, batch=2, steps=1,
                      workers=0, val_every=0, out=str(tmp_path / "b")))


def test_config_checks():
    with pytest.raises(ValueError, match="frames must be one of 3, 5, 9"):
        VSRTrainConfig.make(frames=4)
    with pytest.raises(ValueError, match="blur_prob is a single-image augmentation"):
        VSRTrainConfig.make(blur_prob=0.5)
    cfg = VSRTrainConfig.make()
    assert cfg.quantize_lr and cfg.data == "photos" and cfg.run_folder().name == "vsr-x4-vsr-small"


def test_clip_lengths_match_the_rendered_spans():
    from inter4k.data.clips import CLIP_FRAMES
    from inter4k.data.datasets import VFI_SPANS
    from inter4k.train.config import CLIP_FRAMES as CONFIG_FRAMES

    assert tuple(CLIP_FRAMES) == CONFIG_FRAMES
    assert all(VFI_SPANS[mode] == t - 1 for t, mode in CLIP_FRAMES.items())


def test_the_command_line_trains_and_reports(photo_corpus, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    run = tmp_path / "cli"
    args = ["train-vsr", "--json", "-q", "--data", f"photos:{photo_corpus}", "--scale", "2", "--frames", "3",
            "--patch", "32", "--batch", "1", "--steps", "1", "--workers", "0", "--val-every", "1", "--val-clips", "1",
            "--out", str(run)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["step"] == 1 and report["val_psnr"] is not None and report["val_flicker"] is not None

def test_bad_command_line_input_is_one_line_and_exit_2(photo_corpus, tmp_path, capsys):
    from cli.main import main

    code = main(["train-vsr", "--data", f"photos:{photo_corpus}", "--frames", "4", "--out", str(tmp_path / "bad")])
    err = capsys.readouterr().err
    assert code == 2 and "frames must be one of 3, 5, 9" in err and len(err.strip().splitlines()) == 1


def test_trains_on_inter4k_clips(sample_root, tmp_path):
    result = train_vsr(dict(data=str(sample_root), scale=2, frames=3, patch=32, batch=1, steps=1, workers=0,
                            val_every=1, model_kwargs=dict(SMALL), out=str(tmp_path / "run")))
    val = records(tmp_path / "run", "val")[-1]
    assert result.finished and val["frames"] == 3 * val["clips"] and val["clips"] >= 1


def test_ddp_two_processes_on_cpu_end_with_identical_weights(photo_corpus, tmp_path):
    from _ddp import spawn_training

    run = tmp_path / "run"
    cfg = tiny(photo_corpus, steps=2, batch=1, val_every=2, val_clips=3, device="cpu", out=str(run))
    w0, w1 = spawn_training(train_vsr, cfg, tmp_path)
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["step"] == 2 and state["world_size"] == 2 and state["task"] == "vsr"
    for key in w0:
        assert torch.equal(w0[key], w1[key]) and torch.equal(w0[key], state["model"][key]), key
    assert [r["step"] for r in records(run, "train")] == [1, 2]   # rank 0 alone writes the log
    val = records(run, "val")[-1]
    assert (val["clips"], val["frames"]) == (3, 9)                 # both shares of the val clips counted
