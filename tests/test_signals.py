"""Ctrl-C (SIGINT) and SIGTERM stop ``upscale``, ``interpolate`` and ``derive`` cleanly: one line on
stderr, exit 130 / 143, no temporary file and no worker process left. Each test runs the real CLI in a
subprocess and signals it while it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from inter4k.data.sample import make_sample

ROOT = Path(__file__).resolve().parents[1]


def start_cli(*args: str) -> subprocess.Popen:
    """``python -m cli.main ARGS`` in its own session (so its whole process group can be checked), with
    no terminal: TERM=dumb, no COLUMNS, stdin closed."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(TERM="dumb", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name]


def signal_while_writing(proc: subprocess.Popen, folder: Path, sig: int) -> tuple[int, str]:
    """Wait until ``proc`` has a temporary file in ``folder``, send ``sig``; (exit status, stderr)."""
    deadline = time.monotonic() + 120
    while not parts(folder):
        if proc.poll() is not None:
            raise AssertionError(f"finished before it was signalled: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no temporary file appeared")
        time.sleep(0.05)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # e.g. orphaned workers holding its pipes: leave nothing running
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the command did not stop") from None
    return proc.returncode, err


def assert_group_gone(proc: subprocess.Popen) -> None:
    """No process of the command's group is left (workers included)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("a process of the command outlived it")
        time.sleep(0.1)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Error:")]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """8 s at 30 fps, 320x180: long enough to be signalled part way."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        s.options = {"preset": "ultrafast"}
        base = np.linspace(0, 255, 320, dtype=np.float32)[None, :, None]
        for i in range(240):
            img = np.broadcast_to((base + 3 * i) % 256, (180, 320, 3)).astype(np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("sig,code,line", [(signal.SIGTERM, 143, "Error: terminated (SIGTERM)"),
                                           (signal.SIGINT, 130, "Error: interrupted")])
def test_upscale_stops_cleanly(long_clip, tmp_path, sig, code, line):
    out = tmp_path / "out" / "up.mp4"
    proc = start_cli("upscale", str(long_clip), "-o", str(out), "--scale", "2", "--model", "bicubic",
                     "--preset", "ultrafast")
    rc, err = signal_while_writing(proc, tmp_path, sig)
    assert rc == code and error_lines(err) == [line], err
    assert list(tmp_path.rglob("*")) == []  # no output, no temporary file, not even the folder made for it
    assert_group_gone(proc)


def test_interpolate_stops_cleanly_on_sigterm(long_clip, tmp_path):
    out = tmp_path / "x2.mp4"
    proc = start_cli("interpolate", str(long_clip), "-o", str(out), "--model", "vfi-average", "--preset", "ultrafast")
    rc, err = signal_while_writing(proc, tmp_path, signal.SIGTERM)
    assert rc == 143 and error_lines(err) == ["Error: terminated (SIGTERM)"], err
    assert list(tmp_path.iterdir()) == []
    assert_group_gone(proc)


@pytest.mark.parametrize("workers", [1, 2])
def test_derive_stops_cleanly_on_sigterm(tmp_path, workers):
    root = tmp_path / "root"
    make_sample(root, clips=2, seconds=1.0, size=(640, 360), audio=False)
    before = sorted(p for p in root.rglob("*") if p.is_file())
    proc = start_cli("derive", "--root", str(root), "--workers", str(workers), "--preset", "ultrafast")
    rc, err = signal_while_writing(proc, root, signal.SIGTERM)
    assert rc == 143 and error_lines(err) == ["Error: terminated (SIGTERM)"], err
    assert parts(root) == []  # every worker's partial file is gone
    assert_group_gone(proc)   # and so are the workers
    made = sorted(p for p in root.rglob("*") if p.is_file())
    assert set(before) <= set(made)  # the sources are untouched; finished outputs may stay (resumable)
