"""inter4k.video: probing, frame-exact seeking, the atomic writer."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from inter4k.video import (FrameConverter, VideoError, VideoWriter, count_frames, iter_frames, make_folders, part_path, probe,
                           remove_folders, remove_stale_parts)


def _frames(n, size=(64, 48)):
    """Frames whose mean encodes their index (robust to lossy coding)."""
    w, h = size
    return [np.full((h, w, 3), 8 + 6 * i, np.uint8) for i in range(n)]


def _write(path, frames, fps=30, audio=False, **kw):
    h, w = frames[0].shape[:2]
    with VideoWriter(path, fps, (w, h), audio_rate=48000 if audio else None, crf=10, **kw) as vw:
        for f in frames:
            vw.write(f)
        if audio:
            vw.write_audio(np.zeros((2, int(48000 * len(frames) / fps)), np.float32))
    return path


def test_probe_reports_the_streams(tmp_path):
    p = _write(tmp_path / "a.mp4", _frames(12), fps=Fraction(30000, 1001), audio=True)
    info = probe(p)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == Fraction(30000, 1001)
    assert info.frames == 12 and info.codec == "h264" and info.has_audio
    assert info.duration == pytest.approx(12 * 1001 / 30000, abs=0.05)


def test_probe_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoError, match="junk.mp4: not a readable video"):
        probe(junk)


@pytest.mark.parametrize("start,count", [(0, 3), (7, 4), (20, None), (29, 1)])
def test_iter_frames_seeks_to_the_exact_frame(tmp_path, start, count):
    frames = _frames(30)
    # a keyframe every 8 frames, so seeking lands before `start` and must decode forward
    p = _write(tmp_path / "b.mp4", frames, options={"g": "8", "keyint_min": "8"})
    got = list(iter_frames(p, start=start, count=count))
    want = frames[start:] if count is None else frames[start:start + count]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert abs(float(g.mean()) - float(w.mean())) < 2.5  # neighbours differ by 6


def test_count_frames_decodes_and_truncation_is_reported(tmp_path):
    p = _write(tmp_path / "c.mp4", _frames(30))
    assert count_frames(p) == 30
    data = p.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError):
        probe(cut)
        count_frames(cut)


def test_writer_is_atomic(tmp_path):
    final = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(final, 30, (64, 48)) as vw:
            for f in _frames(40) * 2:  # past the encoder's look-ahead, so packets reach the file
                vw.write(f)
            assert vw.tmp.exists() and not final.exists()  # in progress under the temporary name
            assert vw.tmp.name.startswith(".out.part-") and vw.tmp.suffix == ".mp4"
            raise RuntimeError("boom")
    assert sorted(tmp_path.iterdir()) == []
    (tmp_path / ".out.part.mp4").write_bytes(b"an older version's, killed")
    _write(final, _frames(5))
    assert sorted(tmp_path.iterdir()) == [final] and count_frames(final) == 5  # the stale file went too


def test_write_audio_needs_an_audio_stream(tmp_path):
    with VideoWriter(tmp_path / "x.mp4", 30, (64, 48)) as vw:
        vw.write(_frames(1)[0])
        with pytest.raises(RuntimeError, match="without an audio stream"):
            vw.write_audio(np.zeros((2, 100), np.float32))


def test_part_paths_are_unique_per_call_and_keep_the_suffix(tmp_path):
    final = tmp_path / "clip.mkv"
    names = {part_path(final) for _ in range(50)}
    assert len(names) == 50  # two runs (even in one process) never share a temporary file
    for p in names:
        assert p.parent == tmp_path and p.suffix == ".mkv" and p.name.startswith(".clip.part-")


def test_remove_stale_parts_keeps_a_live_runs_file(tmp_path):
    final = tmp_path / "out.mp4"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a process that has exited
    stale = tmp_path / f".out.part-{dead}-0badc0de.mp4"
    legacy = tmp_path / ".out.part.mp4"  # the fixed name of older versions
    live = part_path(final)              # this process is running
    other = tmp_path / f".other.part-{dead}-0badc0de.mp4"  # another output's: not ours to touch
    from inter4k.atomic import _HOST

    here = tmp_path / f".out.part-{_HOST}-{dead}-0badc0de.mp4"          # this machine's, dead: stale
    elsewhere = tmp_path / f".out.part-{'0' * 6 if _HOST != '0' * 6 else '1' * 6}-{dead}-0badc0de.mp4"
    for p in (stale, legacy, live, other, here, elsewhere):
        p.write_bytes(b"x")
    assert live.name.startswith(f".out.part-{_HOST}-{os.getpid()}-")
    # the pid of another machine says nothing about this one's processes: its file is left alone
    assert sorted(remove_stale_parts(final)) == sorted([stale, legacy, here])
    assert live.exists() and other.exists() and elsewhere.exists()
    assert not stale.exists() and not legacy.exists() and not here.exists()
    assert remove_stale_parts(tmp_path / "no" / "such" / "folder.mp4") == []


def test_make_and_remove_folders_undo_only_what_was_made_and_is_empty(tmp_path):
    (tmp_path / "a").mkdir()
    made = make_folders(tmp_path / "a" / "b" / "c")
    assert made == [tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"] and (tmp_path / "a" / "b" / "c").is_dir()
    assert make_folders(tmp_path / "a" / "b") == []
    (tmp_path / "a" / "b" / "keep.txt").write_text("another run's file")
    remove_folders(made)  # c goes; b holds a file, so it and a stay
    assert not (tmp_path / "a" / "b" / "c").exists() and (tmp_path / "a" / "b" / "keep.txt").exists()
    (tmp_path / "a" / "b" / "keep.txt").unlink()
    remove_folders(made)
    assert not (tmp_path / "a" / "b").exists() and (tmp_path / "a").is_dir()  # a was there before


def test_a_first_frame_that_fails_to_decode_is_named_as_such(tmp_path):
    p = tmp_path / "bad.mp4"
    with av.open(str(p), "w", options={"movflags": "faststart"}) as c:  # the index first: readable when damaged
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for f in _frames(5):
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode(None))
    data = bytearray(p.read_bytes())
    at = data.find(b"mdat") + 4
    data[at:] = b"\x00" * (len(data) - at)  # every frame's data zeroed
    p.write_bytes(bytes(data))
    with pytest.raises(VideoError, match=r"bad.mp4: decoding failed at its first frame") as info:
        list(iter_frames(p))
    assert "None" not in str(info.value)


def test_the_one_writer_keeps_times_durations_16_bits_colour_and_rotation(tmp_path):
    """The features the upscale / interpolate pipeline needs, in the writer derive and sample use."""
    out = tmp_path / "new" / "deep.mkv"
    frames = [np.full((48, 64, 3), 4000 * (i + 1), np.uint16) for i in range(4)]
    vw = VideoWriter(out, 30, (64, 48), pix_fmt="yuv420p10le", crf=10, preset="ultrafast", tag_colour=True)
    vw.display_matrix = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]  # 90 degrees
    vw.start(Fraction(1, 1000))
    for i, (pts, dur) in enumerate(zip((0, 40, 70, 150), (40, 30, 80, 250))):
        vw.write(frames[i], pts=pts, duration=dur)
    vw.close()
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.pix_fmt == "yuv420p10le" and v.codec_context.colorspace == 6  # BT.601 below 720 lines
        decoded = list(c.decode(v))
        times = [round(float(f.pts * f.time_base), 3) for f in decoded]
        levels = [int(f.to_ndarray(format="rgb48le").mean()) for f in decoded]
        matrix = [sd for f in decoded[:1] if (sd := f.side_data.get("DISPLAYMATRIX")) is not None]
    assert times == [0.0, 0.04, 0.07, 0.15] and len(matrix) == 1
    assert all(abs(a - 4000 * (i + 1)) < 400 for i, a in enumerate(levels))  # 16 bits in, not 8
    assert probe(out).duration == pytest.approx(0.4, abs=0.002)  # the last frame lasts its 250 ms


def test_a_writer_that_cannot_start_says_why_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"x\.nosuchformat: cannot write this kind of file"):
        VideoWriter(tmp_path / "a" / "b" / "x.nosuchformat", 30, (64, 48))
    with pytest.raises(ValueError, match=r"the webm container cannot hold libx264 video"):
        VideoWriter(tmp_path / "a" / "x.webm", 30, (64, 48))
    assert list(tmp_path.iterdir()) == []  # no partial file, no folder made for it


def _decode_and_encode(path, out, n):
    """In a forked child: the conversions of a DataLoader or ``prepare`` worker (exit code 1 if wrong)."""
    frames = list(iter_frames(path))
    _write(out, frames, tag_colour=True)  # the writer's RGB -> YUV conversion
    os._exit(0 if len(frames) == n and len(list(iter_frames(out))) == n else 1)


def test_decoding_and_encoding_in_a_forked_process_do_not_hang(tmp_path):
    # PyAV >= 18.1.1 keeps one swscale context per thread for to_ndarray(format=...); a forked child
    # inherits it without its slice threads and waited for them for ever (CI hung in a DataLoader worker).
    # The parent uses both that shared context and this module's converters before forking.
    path = _write(tmp_path / "a.mp4", _frames(6, size=(384, 216)))
    with av.open(str(path)) as c:
        shared = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(shared) == len(list(iter_frames(path))) == 6
    child = multiprocessing.get_context("fork").Process(target=_decode_and_encode,
                                                        args=(path, tmp_path / "b.mp4", 6))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("a forked process hung converting frames")
    assert child.exitcode == 0


def test_frame_converter_matches_pyav_conversion(tmp_path):
    path = _write(tmp_path / "a.mp4", _frames(3))
    convert = FrameConverter()
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            for fmt in ("rgb24", "yuv420p", "yuvj444p"):
                assert np.array_equal(convert.array(f, fmt), f.to_ndarray(format=fmt)), fmt
