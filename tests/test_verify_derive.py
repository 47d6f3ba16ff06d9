"""``inter4k verify`` and ``inter4k derive`` on tiny synthetic samples (384x216, 0.5 s clips)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app, main
from inter4k.data import layout
from inter4k.data.derive import (DEFAULT_FRAME_RATES, DEFAULT_RESOLUTIONS, derive, output_frames, plan_pairs,
                                 source_index)
from inter4k.data.sample import make_sample
from inter4k.data.verify import check_clip, verify
from inter4k.video import VideoWriter, count_frames, part_path, probe

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SECONDS = 0.5
SIZE = (384, 216)
# round(0.5 s x fps), half up
FRAMES = {60: 30, 50: 25, 30: 15, 24: 12, 15: 8}


def plain(text: str) -> str:
    return ANSI.sub("", text)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory) -> Path:
    """A pristine 5-clip sample; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("sample")
    make_sample(root, clips=5, seconds=SECONDS)
    return root


@pytest.fixture
def sample_copy(sample_root, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(sample_root, root)
    return root


def _write_clip(path: Path, fps: int, size: tuple[int, int], seconds: float) -> None:
    path.unlink(missing_ok=True)
    frames = int(round(seconds * fps))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with VideoWriter(path, fps, size, crf=20, preset="ultrafast") as w:
        for i in range(frames):
            w.write(np.roll(base, i, axis=1))


# ----------------------------------------------------------------------------------------------- verify


def test_verify_passes_on_a_fresh_sample(sample_root):
    report = verify(sample_root, workers=2)
    assert report.ok, [c.problems for c in report.failures]
    assert report.expected.sample and (report.expected.width, report.expected.height) == SIZE
    assert [c.clip for c in report.clips] == [1, 2, 3, 4, 5]
    assert report.missing == [] and report.unexpected == []
    for c in report.clips:
        assert c.decoded_frames == 30 and c.fps == 60 and (c.width, c.height) == SIZE and c.has_audio
    result = runner.invoke(app, ["verify", "--root", str(sample_root), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "5 of 5 clips ok" in plain(result.stdout)


def test_verify_flags_truncated_wrong_rate_size_duration_and_missing(sample_copy):
    root = sample_copy
    clip1 = layout.clip_path(root, 1)
    data = clip1.read_bytes()
    clip1.write_bytes(data[: len(data) // 2])               # truncated (its index is lost)
    _write_clip(layout.clip_path(root, 2), 30, SIZE, SECONDS)   # 30 fps
    _write_clip(layout.clip_path(root, 3), 60, (192, 108), SECONDS)  # wrong size
    _write_clip(layout.clip_path(root, 4), 60, SIZE, 0.25)      # too short
    layout.clip_path(root, 5).unlink()                          # missing
    _write_clip(layout.clip_path(root, 9), 60, SIZE, SECONDS)   # outside the sample's 1..5: reported only

    report = verify(root, workers=2)
    assert not report.ok
    by = {c.clip: c for c in report.clips}
    assert sorted(by) == [1, 2, 3, 4, 9]
    assert [c.clip for c in report.failures] == [1, 2, 3, 4]
    assert by[9].ok
    assert report.missing == [5] and report.unexpected == [9]
    assert any("does not open" in p and "truncated" in p for p in by[1].problems), by[1].problems
    assert any("30 fps, expected 60" in p for p in by[2].problems), by[2].problems
    assert any("size 192x108, expected 384x216" in p for p in by[3].problems), by[3].problems
    assert any(p.startswith("duration 0.250 s") for p in by[4].problems), by[4].problems
    assert all(len(by[n].problems) == 1 for n in (2, 3, 4)), [by[n].problems for n in (2, 3, 4)]

    result = runner.invoke(app, ["verify", "--root", str(root), "--workers", "2"])
    assert result.exit_code == 1, result.output
    out = plain(result.stdout)
    assert "30 fps, expected 60" in out and "192x108" in out and "missing 1 clip(s): 5" in out
    assert main(["verify", "--root", str(root)]) == 1
    result = runner.invoke(app, ["verify", "--root", str(root), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["failed"] == 4 and data["missing"] == [5]


def test_verify_flags_a_clip_cut_short_with_its_index_intact(sample_copy, tmp_path):
    """A file whose index is at the front (faststart) still opens when cut: the frames that do not decode
    are what gives it away."""
    src = layout.clip_path(sample_copy, 1)
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as i, av.open(str(fast), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is not None:
                p.stream = streams[p.stream.index]
                o.mux(p)
    exp = layout.expected(sample_copy)
    assert check_clip(fast, exp).ok
    data = fast.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    c = check_clip(src, exp, 1)
    assert not c.ok and c.decoded_frames < 30
    assert any(p.startswith("truncated") for p in c.problems), c.problems


def test_verify_without_clips_is_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no clips"):
        verify(tmp_path)
    assert main(["verify", "--root", str(tmp_path)]) == 2


# ----------------------------------------------------------------------------------------------- derive


def test_plan_and_frame_picking_rules():
    pairs = plan_pairs()
    assert len(pairs) == 5 + 4 * 6 and (60, "UHD") not in pairs
    assert {(f, r) for f in DEFAULT_FRAME_RATES for r in layout.RESOLUTIONS} <= set(pairs)
    assert {(60, r) for r in DEFAULT_RESOLUTIONS} <= set(pairs)
    assert plan_pairs("FHD", "30") == [(60, "FHD"), (30, "UHD"), (30, "FHD")]
    assert plan_pairs("", "24,15") == [(24, "UHD"), (15, "UHD")]
    with pytest.raises(ValueError, match="unknown resolution"):
        plan_pairs("FHD,8K", "30")
    with pytest.raises(ValueError, match="out of range"):
        plan_pairs("FHD", "120")
    f60 = Fraction(60)
    # nearest source frame to k/fps; ties (k x 2.5 = x.5 at 24 fps) go to the later frame
    assert [source_index(k, f60, Fraction(24)) for k in range(6)] == [0, 3, 5, 8, 10, 13]
    assert [source_index(k, f60, Fraction(50)) for k in range(7)] == [0, 1, 2, 4, 5, 6, 7]
    assert [source_index(k, f60, Fraction(15)) for k in range(3)] == [0, 4, 8]
    assert [output_frames(300, f60, Fraction(f)) for f in (60, 50, 30, 24, 15)] == [300, 250, 150, 120, 75]
    assert [output_frames(30, f60, Fraction(f)) for f in FRAMES] == list(FRAMES.values())


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """Every default (fps, resolution) for a 2-clip sample."""
    root = tmp_path_factory.mktemp("derived")
    make_sample(root, clips=2, seconds=SECONDS)
    report = derive(root, workers=2)
    return root, report


def test_derive_makes_every_pair_with_exact_size_rate_frames_and_audio(derived):
    root, report = derived
    assert report.ok, [c.error for c in report.failures]
    assert report.made == 2 * 29 and report.skipped == 0
    for n in (1, 2):
        src = probe(layout.clip_path(root, n))
        for fps, res in report.pairs:
            path = layout.clip_path(root, n, fps, res)
            info = probe(path)
            assert (info.width, info.height) == layout.scaled_size(SIZE, res), (path, info)
            assert info.fps == Fraction(fps), path
            assert info.codec == "h264" and info.pix_fmt == "yuv420p"
            assert count_frames(path) == FRAMES[fps] == info.frames, path
            assert info.has_audio, path
            with av.open(str(path)) as c:
                a = c.streams.audio[0]
                assert abs(float(a.duration * a.time_base) - SECONDS) < 0.03
            assert abs(info.duration - FRAMES[fps] / fps) < 1e-3
        assert src.has_audio
    assert not list(Path(root).rglob("*.part*"))


def test_derive_copies_the_audio_packets(derived):
    root, _ = derived

    def payloads(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    src = payloads(layout.clip_path(root, 1))
    assert len(src) > 10
    assert payloads(layout.clip_path(root, 1, 24, "nHD")) == src
    assert payloads(layout.clip_path(root, 1, 60, "QHD")) == src


def _luma(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="yuv420p")[: f.height].astype(np.float64))
        return out


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("fps, res", [(60, "QHD"), (50, "HD"), (30, "UHD"), (24, "FHD"), (15, "nHD")])
def test_derived_frame_k_is_the_downscaled_source_frame_nearest_k_over_fps(derived, fps, res):
    root, _ = derived
    size = layout.scaled_size(SIZE, res)
    for n in (1, 2):
        src = [cv2.resize(y, size, interpolation=cv2.INTER_AREA) for y in _luma(layout.clip_path(root, n))]
        out = _luma(layout.clip_path(root, n, fps, res))
        assert len(out) == FRAMES[fps]
        clear_wins = 0
        for k, frame in enumerate(out):
            s = int(np.floor(k * 60 / fps + 0.5))  # the nearest source frame, ties to the later one
            assert s == source_index(k, Fraction(60), Fraction(fps))
            here = _psnr(frame, src[s])
            assert here > 35, (n, k, s, here)
            neighbours = [j for j in (s - 1, s + 1) if 0 <= j < len(src)]
            others = [_psnr(frame, src[j]) for j in neighbours]
            for j, other in zip(neighbours, others):
                if _psnr(src[s], src[j]) < 40:  # frames that differ (the eased ends barely move)
                    assert here > other, (n, k, s, j, here, other)
            clear_wins += here > max(others) + 1
        assert clear_wins >= len(out) // 2, (n, clear_wins)


def test_derive_resumes_skips_and_ignores_stale_part_files(sample_root, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(sample_root, root)
    opts = dict(resolutions="HD", fps="30", workers=2, clips=[1, 2])
    first = derive(root, **opts)
    assert first.ok and first.made == 6 and first.skipped == 0
    outputs = sorted(p for p in (root / "Inter4K").rglob("*.mp4") if "60fps/UHD" not in p.as_posix())
    assert len(outputs) == 6
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}

    again = derive(root, **opts)
    assert again.ok and again.made == 0 and again.skipped == 6
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes

    gone = layout.clip_path(root, 2, 30, "HD")
    gone.unlink()
    third = derive(root, **opts)
    assert third.made == 1 and third.skipped == 5
    assert [p for c in third.clips for p in c.made] == [gone]
    assert count_frames(gone) == FRAMES[30]

    # a killed run leaves a .part file and no final file: it is not taken as done
    final = layout.clip_path(root, 1, 60, "HD")
    final.unlink()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()  # the pid of a process that has exited
    stale = final.with_name(f".{final.stem}.part-{dead}-0badc0de{final.suffix}")
    stale.write_bytes(b"half a file")
    # and a stale .part beside a finished file (an older version's name) is cleaned up
    finished = layout.clip_path(root, 2, 30, "UHD")
    other_stale = finished.with_name(f".{finished.stem}.part{finished.suffix}")
    other_stale.write_bytes(b"junk")
    live = part_path(finished)  # a running process's (this one's) partial file is left alone
    live.write_bytes(b"being written")
    fourth = derive(root, **opts)
    assert fourth.made == 1 and [p for c in fourth.clips for p in c.made] == [final]
    assert not stale.exists() and not other_stale.exists() and live.exists()
    assert count_frames(final) == FRAMES[60] and probe(final).has_audio


def test_derive_reports_a_broken_source_and_leaves_no_partial_file(sample_root, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(sample_root, root)
    bad = layout.clip_path(root, 2)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    report = derive(root, resolutions="nHD", fps="15", workers=1, clips=[1, 2])
    assert not report.ok
    assert [c.clip for c in report.failures] == [2] and report.failures[0].error
    assert report.made == 3
    assert not layout.clip_path(root, 2, 15, "nHD").exists()
    assert not list((root / "Inter4K").rglob("*.part*"))

    result = runner.invoke(app, ["derive", "--root", str(root), "-r", "nHD", "--fps", "15", "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert "clips that failed" in plain(result.stdout)


def test_derive_cli(sample_root, tmp_path):
    root = tmp_path / "c"
    shutil.copytree(sample_root, root)
    result = runner.invoke(app, ["derive", "--root", str(root), "-r", "nHD", "--fps", "15", "--clips", "1",
                                 "--preset", "ultrafast", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["made"] == 3 and data["pairs"] == ["60fps/nHD", "15fps/UHD", "15fps/nHD"]
    assert data["encoding"] == {"codec": "libx264", "crf": 10, "preset": "ultrafast", "pix_fmt": "yuv420p"}
    assert layout.list_clips(root, 15, "nHD") == [1]
    result = runner.invoke(app, ["derive", "--root", str(root), "-r", "nHD", "--fps", "15", "--clips", "1"])
    assert result.exit_code == 0
    assert "0 files made, 3 already there" in plain(result.stdout)
    assert main(["derive", "--root", str(root), "-r", "8K"]) == 2
    assert main(["derive", "--root", str(root), "--fps", "120"]) == 2
    assert main(["derive", "--root", str(root), "--codec", "no-such-codec"]) == 2
    assert main(["derive", "--root", str(tmp_path / "empty")]) == 2
