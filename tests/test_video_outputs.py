"""What ``upscale`` / ``interpolate`` do with a video beyond the happy path: two runs writing one output,
a truncated input, rotation, containers and their timestamps, 10-bit input, warnings shown once, and
folders made for an output that fails."""

from __future__ import annotations

import json
import threading
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cli.main import main
from inter4k.infer import interpolate, upscale
from inter4k.infer.video_pipeline import OUTPUT_SUFFIXES, PartialInputError
from inter4k.video import count_frames

pytestmark = pytest.mark.usefixtures("one_thread")

W, H = 64, 36
FAST = dict(model="nearest", preset="ultrafast")


@pytest.fixture(autouse=True)
def no_bundled_vfi_weights(tmp_path_factory, monkeypatch):
    """The tests must not depend on what is bundled."""
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path_factory.mktemp("no-weights")))


def noise_clip(path: Path, frames: int = 120, rate: int = 30, options: dict | None = None, rotate: int = 0,
               audio_seconds: float = 0.0) -> Path:
    """``frames`` frames of noise (so every packet has real size), H.264; ``options`` for the container
    (e.g. MP4's faststart: its index first, so that a cut file still opens); an optional display
    rotation; an optional AAC track of ``audio_seconds``."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options or {}) as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "ultrafast"}
        if rotate:
            s.set_display_rotation(rotate)
        if audio_seconds:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
            n = int(48000 * audio_seconds)
            af = av.AudioFrame.from_ndarray(np.zeros((2, n), np.float32), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = 48000, 0, Fraction(1, 48000)
            c.mux(a.encode(af))
            c.mux(a.encode(None))
        for _ in range(frames):
            img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def cut(path: Path, fraction: float = 0.6) -> Path:
    out = path.with_name(f"cut_{path.name}")
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def frame_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [Fraction(f.pts) * f.time_base for f in c.decode(video=0)]


def rotation(path: Path) -> int:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).rotation


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return noise_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=30)


# --- two runs, one output ---------------------------------------------------------------------------

def test_two_runs_writing_one_output_each_publish_only_their_own_complete_file(clip, tmp_path):
    out = tmp_path / "same.mp4"
    a_part_way, b_part_way, a_done = threading.Event(), threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}
    seen: dict[str, int] = {}

    def run(name: str, progress) -> None:
        try:
            upscale(clip, out, scale=2, progress=progress, **FAST)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors[name] = exc

    def progress_a(done, total):
        if done == 2:  # A is writing: let B set up and start writing the same output
            a_part_way.set()
            assert b_part_way.wait(60)

    def progress_b(done, total):
        if done == 2:  # B is writing: let A finish and rename while B is part way
            b_part_way.set()
            assert a_done.wait(60)
            seen["after A"] = count_frames(out)  # what A published

    a = threading.Thread(target=lambda: (run("a", progress_a), a_done.set()))
    a.start()
    assert a_part_way.wait(60)
    b = threading.Thread(target=run, args=("b", progress_b))
    b.start()
    a.join(120)
    b.join(120)
    assert errors == {}
    assert seen["after A"] == 30          # A published its own complete file, not B's partial one
    assert count_frames(out) == 30
    assert files(tmp_path) == ["same.mp4"]  # and no temporary file is left


# --- truncated input --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,options,reason", [
    (".mp4", {"movflags": "faststart"}, "declares 120 frames"),  # the sample table counts the frames
    (".mkv", None, "declares 4.000 s"),                          # Matroska: the track's DURATION
])
def test_a_truncated_input_is_refused_unless_partial_is_allowed(tmp_path, suffix, options, reason):
    full = noise_clip(tmp_path / f"full{suffix}", options=options)
    assert count_frames(full) == 120
    short = cut(full)
    with pytest.raises(PartialInputError, match=rf"{reason}.*frames missing.*--allow-partial"):
        upscale(short, tmp_path / f"x2{suffix}", scale=2, **FAST)
    assert files(tmp_path) == sorted([full.name, short.name])  # nothing written
    with pytest.warns(UserWarning, match="frames missing.*writing the \\d+ frames that decode"):
        r = upscale(short, tmp_path / f"x2{suffix}", scale=2, allow_partial=True, **FAST)
    assert 40 <= r.frames_out < 100 and count_frames(r.output) == r.frames_out
    assert r.missing_frames is not None and abs(r.missing_frames - (120 - r.frames_out)) <= 1
    assert reason in r.partial and any("--allow-partial" in w for w in r.warnings)
    # interpolate: the same rule
    with pytest.raises(PartialInputError):
        interpolate(short, tmp_path / f"i{suffix}", model="vfi-average", preset="ultrafast")
    with pytest.warns(UserWarning, match="frames missing"):
        ri = interpolate(short, tmp_path / f"i{suffix}", model="vfi-average", preset="ultrafast", allow_partial=True)
    assert ri.frames_out == 2 * ri.frames_in and ri.frames_in == r.frames_out
    assert ri.missing_frames == r.missing_frames and ri.partial


def test_a_truncated_input_on_the_command_line(tmp_path, capsys):
    short = cut(noise_clip(tmp_path / "full.mp4", options={"movflags": "faststart"}))
    out = tmp_path / "x2.mp4"
    assert main(["upscale", str(short), "-o", str(out), "--scale", "2", "--model", "nearest"]) == 2
    err = capsys.readouterr().err
    assert "frames missing" in err and "--allow-partial" in err and not out.exists()
    code = main(["upscale", str(short), "-o", str(out), "--scale", "2", "--model", "nearest", "--allow-partial",
                 "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 3 and out.exists()  # a partial result: written, and said so in the exit status
    assert result["missing_frames"] == 120 - result["frames_out"] and "declares 120 frames" in result["partial"]
    assert main(["interpolate", str(short), "-o", str(tmp_path / "i.mp4"), "--model", "vfi-average",
                 "--allow-partial"]) == 3
    table = " ".join(capsys.readouterr().out.split())
    assert "missing" in table and "PARTIAL" in table


def test_complete_inputs_are_not_taken_for_truncated_ones(tmp_path):
    # Matroska with audio longer than the video: the container's duration is the audio's, the video's own
    # DURATION is shorter, and nothing is missing
    longer_audio = noise_clip(tmp_path / "a.mkv", frames=15, audio_seconds=1.0)
    r = upscale(longer_audio, tmp_path / "a_x2.mkv", scale=2, **FAST)
    assert r.frames_out == 15 and r.partial is None and r.missing_frames is None
    # an MP4 with its index at the end, complete
    r = upscale(noise_clip(tmp_path / "b.mp4", frames=20), tmp_path / "b_x2.mp4", scale=2, **FAST)
    assert r.frames_out == 20 and r.partial is None


# --- rotation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_the_display_rotation_is_kept(tmp_path, suffix):
    src = noise_clip(tmp_path / f"phone{suffix}", frames=6, rotate=90)
    assert rotation(src) == 90
    up = upscale(src, tmp_path / f"up{suffix}", scale=2, **FAST)
    assert rotation(up.output) == 90
    vfi = interpolate(src, tmp_path / f"vfi{suffix}", model="vfi-average", preset="ultrafast")
    assert rotation(vfi.output) == 90
    plain = upscale(noise_clip(tmp_path / f"plain{suffix}", frames=3), tmp_path / f"plain_x2{suffix}", scale=2, **FAST)
    assert rotation(plain.output) == 0


# --- containers and timestamps ----------------------------------------------------------------------

def vfr_clip(path: Path) -> tuple[Path, list[Fraction]]:
    """Irregular timestamps (ms), B-frames (x264's default preset)."""
    pts = [0, 33, 50, 120, 130, 200, 333, 340, 400, 500, 517, 800]
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = s.time_base = tb
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), 10 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = p, tb
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path, [p * tb for p in pts]


@pytest.mark.parametrize("suffix", OUTPUT_SUFFIXES)
def test_every_accepted_container_keeps_every_frames_time(tmp_path, suffix):
    src, times = vfr_clip(tmp_path / "vfr.mkv")
    enc = dict(codec="libvpx-vp9", encoder_options={"deadline": "realtime", "cpu-used": "8"}) if suffix == ".webm" \
        else dict(codec="libx264")
    r = upscale(src, tmp_path / f"out{suffix}", scale=2, model="nearest", **enc)
    assert frame_times(r.output) == times
    vfi = interpolate(src, tmp_path / f"vfi{suffix}", model="vfi-average", **enc)
    got = frame_times(vfi.output)
    assert got[::2] == times and got == sorted(got) and len(got) == 2 * len(times)


@pytest.mark.parametrize("suffix", [".avi", ".ts", ".flv", ".mpg", ".h264", ".wmv"])
def test_containers_that_lose_timestamps_are_refused_with_one_line(clip, tmp_path, suffix, capsys):
    out = tmp_path / f"out{suffix}"
    with pytest.raises(ValueError, match=rf"{suffix} outputs are not supported .*use .mp4"):
        upscale(clip, out, scale=2, **FAST)
    with pytest.raises(ValueError, match=rf"{suffix} outputs are not supported"):
        interpolate(clip, out, model="vfi-average")
    assert main(["upscale", str(clip), "-o", str(out), "--model", "nearest"]) == 2
    err = capsys.readouterr().err.strip()
    assert "outputs are not supported" in err and len(err.splitlines()) == 1
    assert files(tmp_path) == []


# --- bit depth --------------------------------------------------------------------------------------

def ten_bit_ramp(path: Path, frames: int = 3) -> Path:
    """Lossless 10-bit grey: a horizontal ramp over every luma level 64..940 (877 levels)."""
    w, h = 1024, 16
    luma = np.tile((64 + np.arange(w) * 876 // (w - 1)).astype(np.uint16), (h, 1))
    chroma = np.full((h // 2, w // 2), 512, np.uint16)
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p10le"
        for i in range(frames):
            f = av.VideoFrame(w, h, "yuv420p10le")
            f.planes[0].update(luma.tobytes())
            f.planes[1].update(chroma.tobytes())
            f.planes[2].update(chroma.tobytes())
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def luma_levels(path: Path, index: int = 0) -> int:
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                assert f.format.name == "yuv420p10le"
                plane = np.frombuffer(bytes(f.planes[0]), np.uint16).reshape(f.height, -1)[:, :f.width]
                return len(np.unique(plane))
    raise AssertionError("no such frame")


def test_ten_bit_input_keeps_more_than_256_levels(tmp_path, capsys):
    src = ten_bit_ramp(tmp_path / "ramp10.mkv")
    assert luma_levels(src) == 877
    # grey through 8-bit RGB has at most 256 levels; lossless 10-bit out keeps the input's
    r = upscale(src, tmp_path / "up.mp4", scale=2, model="bicubic", pix_fmt="yuv420p10le", crf=None,
                encoder_options={"qp": "0"})
    assert luma_levels(r.output) > 800 and "16-bit RGB" in r.streams[0]
    out = tmp_path / "cli.mkv"
    assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", "bicubic", "--codec", "ffv1",
                 "--pix-fmt", "yuv420p10le"]) == 0
    assert luma_levels(out) > 800
    vfi = interpolate(src, tmp_path / "vfi.mkv", model="vfi-average", codec="ffv1", pix_fmt="yuv420p10le")
    assert luma_levels(vfi.output, index=1) > 800  # an interpolated frame


def test_eight_bit_in_and_out_stays_eight_bit(clip, tmp_path):
    r = upscale(clip, tmp_path / "up.mp4", scale=2, **FAST)
    assert "8-bit RGB" in r.streams[0]


# --- warnings, folders ------------------------------------------------------------------------------

def test_the_odd_size_warning_is_printed_once(tmp_path, capsys):
    src = tmp_path / "odd.mp4"
    with av.open(str(src), "w") as c:  # 63x35: x3 is odd, which yuv420p cannot hold
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 63, 35, "yuv444p"
        for i in range(3):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.full((35, 63, 3), 40 * i, np.uint8), format="rgb24")))
        c.mux(s.encode(None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["upscale", str(src), "-o", str(tmp_path / "x3.mp4"), "--scale", "3", "--model", "nearest"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("is odd") == 1 and "the last column and row of the output are cropped" in err
    assert not [w for w in caught if "is odd" in str(w.message)]  # not a second time through Python's warnings


def test_a_failed_run_leaves_no_folder_it_made(clip, tmp_path):
    garbled = tmp_path / "garbled.mp4"
    data = bytearray(clip.read_bytes())
    for off in range(len(data) // 4, len(data) * 3 // 4, 300):
        data[off:off + 120] = bytes(range(120))
    garbled.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="garbled.mp4"):
        upscale(garbled, tmp_path / "new" / "deeper" / "out.mp4", scale=2, **FAST)
    with pytest.raises(ValueError, match="garbled.mp4"):
        interpolate(garbled, tmp_path / "new" / "deeper" / "out.mp4", model="vfi-average")
    assert files(tmp_path) == ["garbled.mp4"]
    (tmp_path / "kept").mkdir()  # a folder that was there stays
    with pytest.raises(ValueError):
        upscale(garbled, tmp_path / "kept" / "out.mp4", scale=2, **FAST)
    assert files(tmp_path) == ["garbled.mp4", "kept"] and files(tmp_path / "kept") == []
