"""``inter4k upscale`` end to end on tiny files: frames, timestamps, audio/subtitles, VFR, no frame count,
corrupt input, images, out-of-memory retries, interruption, the CLI."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from cli.main import app, main
from inter4k.data.sample import make_sample
from inter4k.infer import OOMAbove, OutputExistsError, upscale

# read frames back with exact rounding (swscale's default YUV -> RGB is about one level dark)

pytestmark = pytest.mark.usefixtures("one_thread")

EXACT = (av.video.reformatter.Interpolation.BILINEAR | av.video.reformatter.Interpolation.ACCURATE_RND
         | av.video.reformatter.Interpolation.FULL_CHR_H_INT)

runner = CliRunner()
SIZE = (64, 36)


class TinySR(nn.Module):
    """Nearest x``scale`` then one 3x3 conv that starts as the identity (receptive field 1 HR pixel)."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.zero_()
            for c in range(3):
                self.conv.weight[c, c, 1, 1] = 0.9
                self.conv.weight[c, (c + 1) % 3, 1, 0] = 0.1

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))




@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """0.5 s at 60 fps (30 frames), 64x36, H.264 + stereo AAC, in an .mp4."""
    return make_sample(tmp_path_factory.mktemp("clip"), clips=1, seconds=0.5, size=SIZE)[0]


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("silent"), clips=1, seconds=0.5, size=SIZE, audio=False)[0]


def video_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = {"size": (v.codec_context.width, v.codec_context.height), "rate": v.average_rate,
                 "declared": v.frames, "audio": len(c.streams.audio), "subtitles": len(c.streams.subtitles),
                 "audio_codec": c.streams.audio[0].codec_context.name if c.streams.audio else None,
                 "duration": Fraction(v.duration) * v.time_base if v.duration else None,
                 "audio_duration": (Fraction(c.streams.audio[0].duration) * c.streams.audio[0].time_base
                                    if c.streams.audio and c.streams.audio[0].duration else None)}
        frames = [(Fraction(f.pts) * f.time_base if f.pts is not None else None,
                   f.to_ndarray(format="rgb24", interpolation=EXACT))
                  for f in c.decode(v)]
    facts["times"] = [t for t, _ in frames]
    facts["frames"] = [a for _, a in frames]
    with av.open(str(path)) as c:
        facts["audio_packets"] = [(Fraction(p.pts) * p.time_base, Fraction(p.duration) * p.time_base, bytes(p))
                                  for p in c.demux(*c.streams.audio) if p.size] if c.streams.audio else []
        facts["sub_packets"] = [(Fraction(p.pts) * p.time_base, bytes(p))
                                for p in c.demux(*c.streams.subtitles) if p.size] if c.streams.subtitles else []
    return facts


def leftovers(folder: Path) -> list[str]:
    """Outputs and temporary files in ``folder`` (anything an upscale call may have written)."""
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name or "_x" in p.name
                  or p.name.startswith(("out", "cli", "never")))


def write_video(path: Path, pts: list[int], time_base: Fraction, fmt: str | None = None, rate: int = 30,
                size=SIZE) -> None:
    """Frames with exactly the given pts (a moving gradient), H.264."""
    w, h = size
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast"}
        s.codec_context.time_base = time_base
        s.time_base = time_base
        base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        for i, p in enumerate(pts):
            img = np.broadcast_to((base + 7 * i) % 256, (h, w, 3)).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts = p
            f.time_base = time_base
            c.mux(s.encode(f))
        c.mux(s.encode(None))


# --- video ---------------------------------------------------------------------------------------

def test_video_x4_keeps_frames_timestamps_and_audio(clip, tmp_path):
    calls = []
    r = upscale(clip, tmp_path / "out.mp4", scale=4, model="nearest", progress=lambda d, t: calls.append((d, t)))
    src, out = video_facts(clip), video_facts(r.output)
    assert out["size"] == (SIZE[0] * 4, SIZE[1] * 4) == r.size_out
    assert len(out["frames"]) == len(src["frames"]) == 30 == r.frames_in == r.frames_out
    assert out["times"] == src["times"]                       # every frame at its own time
    assert out["rate"] == src["rate"] == 60
    assert out["duration"] == src["duration"] == Fraction(1, 2)
    assert out["audio_duration"] == src["audio_duration"] == Fraction(1, 2)
    assert out["audio"] == 1 and out["audio_codec"] == "aac"
    assert out["audio_packets"] == src["audio_packets"]       # copied packet for packet, same times
    # the picture: nearest x4 of each decoded frame, through one more lossy encode
    for i in (0, 10, 29):
        up = np.repeat(np.repeat(src["frames"][i], 4, axis=0), 4, axis=1).astype(float)
        diff = out["frames"][i].astype(float) - up
        assert np.abs(diff).mean() < 5 and np.abs(diff.mean(axis=(0, 1))).max() < 0.75  # CRF 18; no colour shift
    assert calls[-1] == (30, 30) and calls[0] == (0, 30)
    assert r.tile is None and r.oom_retries == 0 and r.kind == "video" and r.fps > 0
    assert leftovers(tmp_path) == ["out.mp4"]  # the temporary name is gone


def test_default_output_name_and_overwrite(clip, tmp_path):
    src = tmp_path / "movie.mp4"
    src.write_bytes(clip.read_bytes())
    r = upscale(src, scale=2, model="nearest", preset="ultrafast")
    assert r.output == tmp_path / "movie_x2.mp4" and r.output.is_file()
    with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
        upscale(src, scale=2, model="nearest")
    mtime = r.output.stat().st_mtime_ns
    upscale(src, scale=2, model="nearest", preset="ultrafast", overwrite=True)
    assert r.output.stat().st_mtime_ns != mtime
    with pytest.raises(ValueError, match="is the input"):
        upscale(src, src, scale=2, model="nearest", overwrite=True)


def test_video_without_audio(silent_clip, tmp_path):
    r = upscale(silent_clip, tmp_path / "out.mp4", scale=2, model=TinySR(2), preset="ultrafast")
    facts = video_facts(r.output)
    assert facts["audio"] == 0 and len(facts["frames"]) == 30 and facts["size"] == (128, 72)
    assert facts["times"] == video_facts(silent_clip)["times"]


def test_variable_frame_rate_mkv_without_a_frame_count_keeps_exact_timestamps(tmp_path):
    pts = [0, 33, 50, 120, 130, 200, 333, 340, 400, 500, 517, 800, 801, 950]  # ms, irregular
    src = tmp_path / "vfr.mkv"
    write_video(src, pts, Fraction(1, 1000))
    assert video_facts(src)["declared"] == 0  # Matroska declares no frame count
    calls = []
    r = upscale(src, scale=2, model=TinySR(2), batch=4, preset="ultrafast", progress=lambda d, t: calls.append((d, t)))
    assert r.output == tmp_path / "vfr_x2.mkv"
    out = video_facts(r.output)
    assert out["times"] == [Fraction(p, 1000) for p in pts]
    assert r.frames_out == len(pts) and r.declared_frames is None
    assert all(t is None for _, t in calls) and [d for d, _ in calls] == [0, 4, 8, 12, 14]


def test_raw_h264_stream_without_timestamps_or_frame_count(tmp_path):
    src = tmp_path / "raw.h264"
    write_video(src, list(range(12)), Fraction(1, 25), fmt="h264", rate=25)
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 0
        assert all(f.pts is None for f in c.decode(video=0))  # nothing to copy: timed i / rate
    r = upscale(src, scale=2, model="nearest", preset="ultrafast")
    assert r.output == tmp_path / "raw_x2.mp4"  # an elementary stream becomes an .mp4
    out = video_facts(r.output)
    assert len(out["frames"]) == 12 and out["times"] == [Fraction(i, 25) for i in range(12)]


def test_audio_the_container_cannot_take_is_reencoded_and_subtitles_dropped(tmp_path):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nHello\n\n2\n00:00:00,300 --> 00:00:00,450\nWorld\n")
    src = tmp_path / "in.mkv"
    with av.open(str(srt)) as sub, av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height = SIZE
        s.options = {"preset": "ultrafast"}
        a = c.add_stream("pcm_u8", rate=48000)   # Matroska takes 8-bit PCM, MP4 does not
        a.layout = "mono"
        t = c.add_stream_from_template(sub.streams[0])
        for i in range(15):
            f = av.VideoFrame.from_ndarray(np.full((SIZE[1], SIZE[0], 3), 8 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 30)
            c.mux(s.encode(f))
        tone = (128 + 60 * np.sin(np.arange(24000) / 5)).astype(np.uint8)[None]
        af = av.AudioFrame.from_ndarray(tone, format="u8", layout="mono")
        af.sample_rate, af.pts, af.time_base = 48000, 0, Fraction(1, 48000)
        c.mux(a.encode(af))
        c.mux(a.encode(None))
        for p in sub.demux():
            if p.dts is not None:
                p.stream = t
                c.mux(p)
        c.mux(s.encode(None))
    # into .mkv everything is copied
    r = upscale(src, scale=2, model="nearest", preset="ultrafast")
    same = video_facts(r.output)
    assert same["audio_codec"] == "pcm_u8" and same["subtitles"] == 1
    assert same["sub_packets"] == video_facts(src)["sub_packets"] and not r.warnings
    # into .mp4: the audio becomes AAC of the same length, the subtitles go, both with a warning
    with pytest.warns(UserWarning) as caught:
        r = upscale(src, tmp_path / "out.mp4", scale=2, model="nearest", preset="ultrafast")
    out = video_facts(r.output)
    assert out["audio_codec"] == "aac" and out["subtitles"] == 0 and len(out["frames"]) == 15
    end = max(float(t + d) for t, d, _ in out["audio_packets"])
    assert abs(end - 0.5) < 0.025  # ends with the source's 0.5 s of PCM, to an AAC frame (21 ms)
    text = " ".join(str(w.message) for w in caught)
    assert "re-encoding it to AAC" in text and "dropped" in text
    assert len(r.warnings) == 2 and any("audio #1: pcm_u8 re-encoded to AAC" in s for s in r.streams)


def test_corrupt_and_unreadable_inputs_are_clear_errors_and_leave_nothing(clip, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(ValueError, match="bad.mp4"):
        upscale(bad, scale=2, model="nearest")
    cut = tmp_path / "cut.mp4"  # an mp4 cut short loses its index (written at the end): unreadable
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.mp4"):
        upscale(cut, scale=2, model="nearest")
    garbled = tmp_path / "garbled.mp4"  # readable header, damaged frames: fails part way, mid-pipeline
    data = bytearray(clip.read_bytes())
    for off in range(len(data) // 4, len(data) * 3 // 4, 600):
        data[off:off + 100] = bytes(range(100))
    garbled.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"garbled.mp4: decoding failed after \d+ frames"):
        upscale(garbled, scale=2, model="nearest")
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a video\n" * 20)
    with pytest.raises(ValueError, match="not an image or a video"):
        upscale(text, tmp_path / "notes_x2.mp4", scale=2, model="nearest")
    png = tmp_path / "broken.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ValueError, match="broken.png: cannot decode"):
        upscale(png, scale=2, model="nearest")
    with pytest.raises(FileNotFoundError):
        upscale(tmp_path / "missing.mp4", scale=2, model="nearest")
    assert leftovers(tmp_path) == []


def test_oom_is_retried_with_smaller_tiles_and_no_frame_is_dropped(clip, tmp_path):
    lossless = dict(preset="ultrafast", crf=0)  # so that the pictures can be compared
    ref = upscale(clip, tmp_path / "ref.mp4", scale=2, model=TinySR(2), **lossless)
    oom = OOMAbove(TinySR(2), max_pixels=40 * 36)  # whole 64x36 frames "run out of memory"
    r = upscale(clip, tmp_path / "oom.mp4", scale=2, model=oom, tile="auto", tile_overlap=16, **lossless)
    assert r.oom_retries == 1 and r.tile == 32 and oom.raised == 1
    assert r.frames_out == r.frames_in == 30
    assert all(s[2] <= 32 and s[3] <= 32 for s in oom.shapes[1:])  # after the failure only tiles ran
    assert any("out of memory" in w and "32px tiles" in w for w in r.warnings)
    a, b = video_facts(ref.output), video_facts(r.output)
    assert a["times"] == b["times"] and len(b["frames"]) == 30
    assert max(np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a["frames"], b["frames"])) < 0.5
    # too little memory for even the smallest tile: a clear error, no output
    with pytest.raises(RuntimeError, match="out of memory .* minimum tile"):
        upscale(clip, tmp_path / "never.mp4", scale=2, model=OOMAbove(TinySR(2), max_pixels=100), preset="ultrafast")
    assert "never.mp4" not in leftovers(tmp_path) and not [n for n in leftovers(tmp_path) if ".part" in n]


def _pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("inter4k-")]


def test_ctrl_c_or_an_error_mid_video_leaves_no_output(clip, tmp_path):
    out = tmp_path / "out.mp4"

    def interrupt(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upscale(clip, out, scale=2, model="nearest", batch=2, progress=interrupt)
    assert leftovers(tmp_path) == [] and _pipeline_threads() == []

    class FailsLater(TinySR):
        calls = 0

        def forward(self, x):
            FailsLater.calls += 1
            if FailsLater.calls == 5:
                raise RuntimeError("model exploded on call 5")
            return super().forward(x)

    with pytest.raises(RuntimeError, match="exploded"):
        upscale(clip, out, scale=2, model=FailsLater(2))
    assert leftovers(tmp_path) == [] and _pipeline_threads() == []


def test_bad_arguments(clip, tmp_path):
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        upscale(clip, tmp_path / "a.mp4", model="nearest", dtype="fp16", device="cpu")
    with pytest.raises(ValueError, match="no such video encoder"):
        upscale(clip, tmp_path / "a.mp4", model="nearest", codec="nope264")
    with pytest.raises(ValueError, match="preset"):
        upscale(clip, tmp_path / "a.mp4", model="nearest", preset="warp")
    with pytest.raises(ValueError, match="tile must be"):
        upscale(clip, tmp_path / "a.mp4", model="nearest", tile="huge")
    with pytest.raises(ValueError, match="a video input needs a video output"):
        upscale(clip, tmp_path / "a.png", model="nearest")
    with pytest.raises(ValueError, match="not x4"):
        upscale(clip, tmp_path / "a.mp4", scale=4, model=TinySR(2))
    assert leftovers(tmp_path) == []


# --- images --------------------------------------------------------------------------------------

def test_png_image(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "pic.png"), img)
    r = upscale(tmp_path / "pic.png", scale=3, model="nearest", tile=32, tile_overlap=8)
    assert r.output == tmp_path / "pic_x3.png" and r.kind == "image" and r.frames_out == 1
    out = cv2.imread(str(r.output), cv2.IMREAD_UNCHANGED)
    assert out.shape == (90, 150, 3) and out.dtype == np.uint8 and r.size_out == (150, 90)
    assert np.array_equal(out, np.repeat(np.repeat(img, 3, axis=0), 3, axis=1))  # nearest, lossless, BGR kept


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_show_the_image(tmp_path, orientation):
    from PIL import Image

    rgb = np.zeros((32, 64, 3), np.uint8)
    rgb[:8, :16] = (255, 0, 0)      # a red block at the stored top-left
    rgb[24:, 56:] = (0, 0, 255)     # a blue one at the stored bottom-right
    rgb[:, 30:34, 1] = 200
    exif = Image.Exif()
    exif[0x0112] = orientation      # 6: a phone held upright, the stored picture lies on its side
    src = tmp_path / "phone.jpg"
    Image.fromarray(rgb).save(src, "JPEG", quality=95, exif=exif.tobytes())
    upright = cv2.imread(str(src), cv2.IMREAD_COLOR)  # OpenCV's converting decoder turns it as viewers do
    if orientation in (5, 6, 7, 8):
        assert upright.shape[:2] == (64, 32)
    r = upscale(src, tmp_path / "up.png", scale=2, model="nearest")
    out = cv2.imread(str(r.output), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(out, np.repeat(np.repeat(upright, 2, axis=0), 2, axis=1))
    assert r.size_in == (upright.shape[1], upright.shape[0])


def test_rgba_16bit_and_grey_images_keep_their_format(tmp_path):
    rgba = np.zeros((20, 24, 4), np.uint16)
    rgba[..., :3] = 40000
    rgba[..., 3] = 65535
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    out = cv2.imread(str(upscale(tmp_path / "a.png", scale=2, model="bicubic", dtype="bf16").output),
                     cv2.IMREAD_UNCHANGED)
    assert out.shape == (40, 48, 4) and out.dtype == np.uint16
    assert abs(int(out[20, 20, 0]) - 40000) < 400 and out[..., 3].min() == 65535
    grey = (np.arange(20 * 24) % 256).astype(np.uint8).reshape(20, 24)
    cv2.imwrite(str(tmp_path / "g.jpg"), grey)
    out = cv2.imread(str(upscale(tmp_path / "g.jpg", scale=2, model="nearest").output), cv2.IMREAD_UNCHANGED)
    assert out.shape == (40, 48)


# --- the command line ----------------------------------------------------------------------------

def test_cli_happy_path_and_bad_input(clip, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    res = runner.invoke(app, ["upscale", str(clip), "-o", str(out), "--scale", "2", "--model", "nearest",
                              "--preset", "ultrafast", "--tile", "32", "--tile-overlap", "8", "--batch", "3", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["frames_out"] == 30 and report["size_out"] == [128, 72] and report["tile"] == 32
    assert Path(report["output"]) == out and out.is_file()
    assert main(["upscale", str(tmp_path / "missing.mp4"), "--model", "nearest"]) == 2
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01\x02" * 100)
    assert main(["upscale", str(junk), "--model", "nearest"]) == 2
    assert main(["upscale", str(clip), "-o", str(out), "--model", "nearest"]) == 2  # exists, no --overwrite
    err = capsys.readouterr().err
    assert "junk.bin" in err and "exists; pass --overwrite" in err
    assert leftovers(tmp_path) == ["cli.mp4"]


def test_png_exif_orientation_is_found_and_a_png_without_exif_is_not_decoded_twice(tmp_path, monkeypatch):
    import io

    from PIL import Image

    from inter4k.data import images

    rgb = np.zeros((8, 16, 3), np.uint8)
    rgb[:2, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", exif=exif.tobytes())
    assert b"eXIf" in buf.getvalue() and images.exif_orientation(buf.getvalue()) == 6
    plain = io.BytesIO()
    Image.fromarray(rgb).save(plain, "PNG")

    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **kw: opened.append(1) or real_open(*a, **kw))
    assert images.exif_orientation(plain.getvalue()) == 1
    assert opened == []               # PIL would decode the whole PNG looking for a chunk that is not there
    assert images.exif_orientation(buf.getvalue()) == 6 and opened == [1]
