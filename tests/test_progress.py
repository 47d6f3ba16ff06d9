"""The one progress protocol (inter4k.progress.Progress, ``on_progress``), its CLI renderer
(cli/_progress.py) and ``--json`` / ``-q`` handled once for every command (cli/_output.py)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from cli._progress import ProgressView
from cli.main import app
from inter4k import api
from inter4k.progress import Progress, train_events

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
runner = CliRunner()


def _events(run) -> list[Progress]:
    seen: list[Progress] = []
    run(seen.append)
    assert seen and all(isinstance(p, Progress) for p in seen)
    return seen


def test_every_long_library_function_reports_progress_events(tmp_path):
    root = tmp_path / "s"
    sample = _events(lambda f: api.make_sample(root, clips=2, seconds=0.1, audio=False, on_progress=f))
    assert [(p.stage, p.done, p.total, p.unit) for p in sample] == [("sample", 1, 2, "clips"),
                                                                    ("sample", 2, 2, "clips")]
    verify = _events(lambda f: api.verify(root, workers=1, on_progress=f))
    assert [(p.stage, p.done, p.unit) for p in verify] == [("verify", 1, "clips"), ("verify", 2, "clips")]
    assert verify[0].note.endswith(".mp4 ok") and verify[0].info["check"].ok
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((20, 24, 3), 128, np.uint8))
    up = _events(lambda f: api.upscale(img, tmp_path / "b.png", scale=2, model="nearest", device="cpu", on_progress=f))
    assert {(p.stage, p.unit) for p in up} == {("upscale", "frames")} and up[-1].done == up[-1].total == 1
    ev = _events(lambda f: api.evaluate(task="vfi", pred=img, ref=img, metrics="psnr", on_progress=f))
    assert [p.kind for p in ev] == ["start", "update", "end"]
    assert ev[0].info["methods"] == ["pred"] and (ev[1].stage, ev[1].done, ev[1].total, ev[1].unit) == (
        "evaluate", 1, 1, "frames")
    bench = _events(lambda f: api.bench_pool(images=_one_image(tmp_path), factors=(2,), on_progress=f))
    assert bench[-1].done == bench[-1].total and bench[0].stage == "bench-pool" and " x2 " in bench[0].note


def _one_image(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "p.png"), np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return folder


def test_training_events_become_progress_with_lines_for_the_start_and_validation():
    seen: list[Progress] = []
    cb = train_events(seen.append, "train-sr")
    cb("start", {"step": 0, "end": 4, "data_kind": "images", "data": "d", "train_samples": 8, "steps_per_epoch": 4,
                 "val_samples": 2, "params": 1234, "device": "cpu", "amp": False, "world_size": 1, "out": "runs/x",
                 "resumed": False})
    cb("step", {"step": 1, "loss": 0.5, "it_s": 2.0})
    cb("val", {"step": 1, "psnr": 30.0, "ssim": None, "bicubic": 28.0})
    cb("step", {"step": 2, "loss": 0.25})
    cb("end", {"step": 2, "interrupted": False})
    assert [(p.kind, p.done, p.total) for p in seen] == [("start", 0, 4), ("update", 1, 4), ("update", 1, 4),
                                                          ("update", 2, 4), ("end", 2, 4)]
    assert seen[0].message.startswith("train-sr images d: 8 samples") and "1,234 parameters" in seen[0].message
    assert seen[2].message == "step 1: val PSNR-Y 30.00 dB (bicubic 28.00)"
    assert seen[3].note == "loss 0.2500, val 30.00 dB (bicubic 28.00)"


def test_the_view_renders_every_unit_without_a_terminal():
    text = io.StringIO()
    view = ProgressView(Console(file=text, width=120, force_terminal=False))
    view(Progress("download", 3 * 2 ** 20, 4 * 2 ** 20, "bytes"))
    view(Progress("extract", 5, None, "files", note="clip [3]"))   # unknown total; markup in a note is text
    view(Progress("upscale", 12, 10, "frames", message="a line [b]"))  # a header that undercounts
    view.close()
    out = text.getvalue()
    assert "a line [b]" in out
    assert "download" in out and "3.0 MiB/4.0 MiB" in out
    assert "extract" in out and "5 files" in out and "clip [3]" in out
    assert "12/12 frames" in out
    quiet = io.StringIO()
    off = ProgressView(Console(file=quiet), enabled=False)
    off(Progress("x", 1, 2, "clips", message="hidden"))
    off.close()
    assert quiet.getvalue() == ""


def test_every_command_takes_json_and_quiet():
    import typer.main

    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():
        opts = {o for p in cmd.params for o in p.opts}
        assert {"--json", "--quiet", "-q"} <= opts, name


def test_cli_progress_json_and_quiet_with_a_dumb_terminal(tmp_path):
    """A real process with TERM=dumb, no $COLUMNS and no TTY: the bar's final state on stderr; -q
    draws nothing; --json prints only JSON on stdout."""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    env.update(TERM="dumb", PYTHONPATH=str(ROOT))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "cli.main", "sample", "--root", str(tmp_path / "s"), "--clips",
                               "1", "--seconds", "0.1", "--no-audio", *args], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=300)

    shown = run()
    assert shown.returncode == 0, shown.stderr
    assert "sample" in shown.stderr and "1/1 clips" in ANSI.sub("", shown.stderr)
    quiet = run("-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and "1 clips" in quiet.stdout
    as_json = run("--json", "-q")
    assert as_json.returncode == 0 and as_json.stderr == ""
    data = json.loads(as_json.stdout)
    assert data["clips"] == [str(tmp_path / "s" / "Inter4K" / "60fps" / "UHD" / "1.mp4")]
