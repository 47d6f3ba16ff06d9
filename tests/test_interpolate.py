"""``inter4k interpolate`` end to end on tiny synthetic videos: frame counts, exact timestamps and durations,
audio, scene cuts, --fps, raw streams, the default model, errors, the CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app, main
from inter4k import api
from inter4k.infer.interpolate import default_output, interpolate, parse_fps
from inter4k.infer.upscale import OutputExistsError
from inter4k.models import create_model
from inter4k.models.weights import save_model

pytestmark = pytest.mark.usefixtures("one_thread")

EXACT = (av.video.reformatter.Interpolation.BILINEAR | av.video.reformatter.Interpolation.ACCURATE_RND
         | av.video.reformatter.Interpolation.FULL_CHR_H_INT)
W, H = 64, 48
FAST = dict(preset="ultrafast", crf=0, pix_fmt="yuv444p")   # (nearly) lossless: pictures compare closely
runner = CliRunner()


@pytest.fixture(autouse=True)
def no_bundled_vfi_weights(tmp_path_factory, monkeypatch):
    """Point the weights folder at an empty one: the tests must not depend on what is bundled."""
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path_factory.mktemp("no-weights")))


def scene_a(i: int) -> np.ndarray:
    """A horizontal gradient whose brightness rises by 16 levels a frame (a mean difference of 6 %)."""
    base = np.linspace(20, 120, W, dtype=np.float32)[None, :, None]
    return np.broadcast_to(base + 16 * i, (H, W, 3)).astype(np.uint8).copy()


def scene_b(i: int) -> np.ndarray:
    """Another picture: 8-pixel blocks of bright and dark green over red, darkening by 4 levels a frame
    (a mean luma difference of about 20 % from scene_a: a cut)."""
    ys, xs = np.mgrid[0:H, 0:W]
    g = np.where((ys // 8 + xs // 8) % 2 == 0, 235.0, 25.0)
    img = np.stack([np.full((H, W), 200.0), g, np.linspace(40, 160, H)[:, None] + 0 * xs], -1)
    return np.clip(img - 4 * i, 0, 255).astype(np.uint8)


def write_clip(path: Path, frames: list[np.ndarray], pts: list[int], time_base: Fraction, rate=30,
               audio_seconds: float | None = None, fmt: str | None = None) -> Path:
    """H.264 (lossless) with exactly the given pts, optionally a stereo AAC track of ``audio_seconds``."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuv444p"
        s.options = {"preset": "ultrafast", "qp": "0"}
        s.codec_context.time_base = time_base
        s.time_base = time_base
        a = None
        if audio_seconds:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
        for img, p in zip(frames, pts):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts, f.time_base = p, time_base
            c.mux(s.encode(f))
        c.mux(s.encode(None))
        if a is not None:
            n = int(round(audio_seconds * 48000))
            tone = (0.2 * np.sin(np.arange(n) / 7.0)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = 48000, 0, Fraction(1, 48000)
            c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


def facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(None if f.pts is None else Fraction(f.pts) * f.time_base,
                   None if not f.duration else Fraction(f.duration) * f.time_base,
                   f.to_ndarray(format="rgb24", interpolation=EXACT).astype(np.float64)) for f in c.decode(v)]
        out = {"duration": Fraction(v.duration) * v.time_base if v.duration else None, "rate": v.average_rate,
               "audio": len(c.streams.audio)}
    with av.open(str(path)) as c:
        out["audio_packets"] = ([(Fraction(p.pts) * p.time_base, Fraction(p.duration) * p.time_base, bytes(p))
                                 for p in c.demux(*c.streams.audio) if p.size] if c.streams.audio else [])
    out["times"] = [t for t, _, _ in frames]
    out["durations"] = [d for _, d, _ in frames]
    out["frames"] = [a for _, _, a in frames]
    return out


def expected_times(times: list[Fraction], last_duration: Fraction, f: int) -> list[Fraction]:
    """The rule, computed independently: f frames per interval, the last frame's duration split evenly."""
    out = []
    for a, b in zip(times, times[1:]):
        out += [a + k * (b - a) / f for k in range(f)]
    return out + [times[-1] + k * last_duration / f for k in range(f)]


def close(a: np.ndarray, b: np.ndarray, tol: float = 1.5) -> bool:
    return float(np.abs(a - b).mean()) < tol


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """8 frames at 30 fps (time base 1/15360), scene_a only, with 8/30 s of AAC audio."""
    folder = tmp_path_factory.mktemp("clip")
    tb = Fraction(1, 15360)
    return write_clip(folder / "ramp.mp4", [scene_a(i) for i in range(8)], [512 * i for i in range(8)], tb,
                      audio_seconds=8 / 30)


# --- the timing rule --------------------------------------------------------------------------------

def test_factor_2_doubles_the_frames_with_exact_times_same_duration_and_audio(clip, tmp_path):
    calls = []
    with pytest.warns(UserWarning, match="no trained VFI weights are bundled yet"):
        r = interpolate(clip, tmp_path / "out.mp4", factor=2, progress=lambda d, t: calls.append((d, t)), **FAST)
    src, out = facts(clip), facts(r.output)
    assert r.model == "vfi-average" and any("vfi-average" in w for w in r.warnings)
    assert len(src["frames"]) == r.frames_in == 8 and len(out["frames"]) == r.frames_out == 16
    assert out["times"] == expected_times(src["times"], src["durations"][-1], 2)
    assert all(b > a for a, b in zip(out["times"], out["times"][1:]))
    assert out["duration"] == src["duration"] == Fraction(8, 30)
    assert r.time_base == "1/30720" and r.fps_out == 60 and out["rate"] == 60
    assert out["audio"] == 1 and out["audio_packets"] == src["audio_packets"]   # copied, same length
    assert r.synthesized == 7 and r.duplicated == 0 and r.scene_cuts == []
    # the pictures: input frames kept, midpoints are the average (the vfi-average default), the tail repeats
    for i in range(8):
        assert close(out["frames"][2 * i], src["frames"][i])
    for i in range(7):
        assert close(out["frames"][2 * i + 1], (src["frames"][i] + src["frames"][i + 1]) / 2)
        assert not close(out["frames"][2 * i + 1], src["frames"][i], tol=4)
    assert close(out["frames"][15], src["frames"][7])
    assert calls[0] == (0, 16) and calls[-1] == (16, 16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]   # no temporary file left


def test_factor_4_with_irregular_timestamps(tmp_path):
    pts = [0, 40, 70, 150, 160, 230]   # ms: a variable frame rate
    src = write_clip(tmp_path / "vfr.mp4", [scene_a(i % 6) for i in range(6)], pts, Fraction(1, 1000))
    with pytest.warns(UserWarning, match="vfi-small has no trained weights"):
        r = interpolate(src, factor=4, model="vfi-small", scene_threshold=0, **FAST)
    assert r.output == tmp_path / "vfr_x4.mp4"
    s, o = facts(src), facts(r.output)
    assert s["times"] == [Fraction(p, 1000) for p in pts]
    assert len(o["frames"]) == 24 == 4 * len(pts)
    assert o["times"] == expected_times(s["times"], s["durations"][-1], 4)
    with av.open(str(src)) as c:   # the mp4 muxer keeps ms at a finer timescale; the output's is 4x finer
        assert r.time_base == str(c.streams.video[0].time_base / 4)
    assert o["duration"] == s["duration"]   # the last frame's duration (as decoded) split evenly
    assert "untrained" in r.model and r.synthesized == 5 * 3


def test_scene_cut_gives_duplicates_across_it_and_interpolation_elsewhere(tmp_path):
    frames = [scene_a(i) for i in range(4)] + [scene_b(i) for i in range(4)]
    src = write_clip(tmp_path / "cut.mp4", frames, [512 * i for i in range(8)], Fraction(1, 15360))
    r = interpolate(src, factor=4, model="vfi-average", **FAST)
    s, o = facts(src), facts(r.output)
    assert r.scene_cuts == [3] and r.duplicated == 3 and r.synthesized == 6 * 3
    assert len(o["frames"]) == 32
    # across the cut (input 3 -> 4): t = 1/4 shows frame 3, t = 2/4 and 3/4 show frame 4; no blend
    assert close(o["frames"][13], s["frames"][3]) and close(o["frames"][14], s["frames"][4])
    assert close(o["frames"][15], s["frames"][4])
    # elsewhere: interpolated, e.g. between inputs 1 and 2 at t = 1/4, and between 5 and 6 at t = 3/4
    assert close(o["frames"][5], 0.75 * s["frames"][1] + 0.25 * s["frames"][2])
    assert close(o["frames"][23], 0.25 * s["frames"][5] + 0.75 * s["frames"][6])
    # with detection off the cut is morphed like everything else
    r = interpolate(src, tmp_path / "morph.mp4", factor=4, model="vfi-average", scene_threshold=0, **FAST)
    o = facts(r.output)
    assert r.scene_cuts == [] and r.duplicated == 0
    assert close(o["frames"][14], 0.5 * s["frames"][3] + 0.5 * s["frames"][4])


def test_fps_resamples_at_exact_times(tmp_path):
    src = write_clip(tmp_path / "a.mp4", [scene_a(i) for i in range(8)], [512 * i for i in range(8)],
                     Fraction(1, 15360))
    r = interpolate(src, fps="75", model="vfi-average", **FAST)
    assert r.output == tmp_path / "a_75fps.mp4" and r.factor is None and r.fps_out == 75
    s, o = facts(src), facts(r.output)
    n = math.ceil(Fraction(8, 30) * 75)    # output frames before the input's end (8/30 s)
    assert len(o["frames"]) == r.frames_out == n == 20
    assert o["times"] == [Fraction(k, 75) for k in range(n)]
    assert r.time_base == "1/76800"       # the largest time base holding both 1/15360 and 1/75
    # frame k at k/75 s lies between inputs i = floor(k * 30 / 75) and i + 1 at t = k * 30 / 75 - i
    for k in (1, 2, 7, 12):
        pos = Fraction(k * 30, 75)
        i, t = int(pos), float(pos - int(pos))
        assert close(o["frames"][k], (1 - t) * s["frames"][i] + t * s["frames"][i + 1])
    assert close(o["frames"][19], s["frames"][7])   # after the last input frame: that frame
    assert o["duration"] == Fraction(20, 75)


def test_raw_stream_without_timestamps(tmp_path):
    src = write_clip(tmp_path / "raw.h264", [scene_a(i % 5) for i in range(6)], list(range(6)), Fraction(1, 25),
                     rate=25, fmt="h264")
    assert all(t is None for t in facts(src)["times"])
    r = interpolate(src, factor=2, model="vfi-average", **FAST)
    assert r.output == tmp_path / "raw_x2.mp4"
    assert facts(r.output)["times"] == [Fraction(k, 50) for k in range(12)]


# --- model choice, names, errors ------------------------------------------------------------------------

def test_bundled_weights_become_the_default(clip, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    save_model(create_model("vfi-small", channels=8), folder / "vfi-small.pt")
    monkeypatch.setenv("INTER4K_WEIGHTS", str(folder))
    r = interpolate(clip, tmp_path / "o.mp4", **FAST)
    assert r.model == "vfi-small (vfi-small.pt)" and r.frames_out == 16 and not r.warnings
    r = api.interpolate(clip, tmp_path / "p.mp4", model=str(folder / "vfi-small.pt"), **FAST)
    assert r.model == str(folder / "vfi-small.pt")


def test_default_names_and_fps_parsing(tmp_path):
    assert default_output(Path("/v/clip.mkv"), factor=4) == Path("/v/clip_x4.mkv")
    assert default_output(Path("/v/clip.avi"), factor=2) == Path("/v/clip_x2.mp4")
    assert default_output(Path("/v/clip.mp4"), fps=parse_fps("59.94")) == Path("/v/clip_59.94fps.mp4")
    assert parse_fps("60000/1001") == parse_fps("59.94") == Fraction(60000, 1001)
    assert parse_fps(120) == 120 and parse_fps("12.5") == Fraction(25, 2)
    for bad in ("fast", "0", "-5", "1/0", "5000"):
        with pytest.raises(ValueError, match="fps must"):
            parse_fps(bad)


def test_corrupt_input_is_a_clear_error_and_leaves_nothing(clip, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(ValueError, match="junk.mp4"):
        interpolate(junk, model="vfi-average")
    garbled = tmp_path / "garbled.mp4"   # a readable header, damaged frames: fails mid-pipeline
    data = bytearray(clip.read_bytes())
    for off in range(len(data) // 4, len(data) * 3 // 4, 300):
        data[off:off + 120] = bytes(range(120))
    garbled.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="garbled.mp4"):
        interpolate(garbled, model="vfi-average", preset="ultrafast")
    with pytest.raises(FileNotFoundError):
        interpolate(tmp_path / "missing.mp4", model="vfi-average")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["garbled.mp4", "junk.mp4"], left  # no output, no temporary file


def test_bad_arguments(clip, tmp_path):
    out = tmp_path / "o.mp4"
    for bad in (0, 1, 17, -2, 2.5, True, "2"):
        with pytest.raises(ValueError, match="factor must be an int from 2 to 16"):
            interpolate(clip, out, factor=bad, model="vfi-average")
    with pytest.raises(ValueError, match="not both"):
        interpolate(clip, out, factor=2, fps=60, model="vfi-average")
    with pytest.raises(ValueError, match="scene threshold"):
        interpolate(clip, out, scene_threshold=-1, model="vfi-average")
    with pytest.raises(ValueError, match="super-resolution model"):
        interpolate(clip, out, model="bicubic")
    with pytest.raises(ValueError, match="unknown VFI model 'vfi-huge'"):
        interpolate(clip, out, model="vfi-huge")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        interpolate(clip, out, model=str(tmp_path / "nope.pt"))
    with pytest.raises(ValueError, match="not an image"):
        interpolate(clip, tmp_path / "o.png", model="vfi-average")
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        interpolate(clip, out, model="vfi-average", dtype="fp16", device="cpu")
    with pytest.raises(ValueError, match="is the input"):
        interpolate(clip, clip, model="vfi-average", overwrite=True)
    out.write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        interpolate(clip, out, model="vfi-average")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"] and out.read_bytes() == b"x"


# --- the command line -------------------------------------------------------------------------------

def test_cli(clip, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    res = runner.invoke(app, ["interpolate", str(clip), "-o", str(out), "--factor", "4", "--preset", "ultrafast",
                              "--tile", "32", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames_in"] == 8 and report["frames_out"] == 32 and report["model"] == "vfi-average"
    assert Path(report["output"]) == out and out.is_file()
    assert "no trained VFI weights are bundled yet" in res.stderr   # said as it happens, not in the JSON only
    res = runner.invoke(app, ["interpolate", str(clip), "-o", str(tmp_path / "f.mp4"), "--fps", "45",
                              "--model", "vfi-nearest", "--preset", "ultrafast"])
    assert res.exit_code == 0, res.output
    assert "45 fps" in res.stdout and "vfi-nearest" in res.stdout
    assert main(["interpolate", str(clip), "--factor", "1"]) == 2
    assert main(["interpolate", str(clip), "--factor", "2", "--fps", "60"]) == 2
    assert main(["interpolate", str(tmp_path / "missing.mp4")]) == 2
    assert main(["interpolate", str(clip), "-o", str(out)]) == 2      # exists, no --overwrite
    err = capsys.readouterr().err
    assert "factor must be an int" in err and "not both" in err and "exists; pass --overwrite" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli.mp4", "f.mp4"]
