"""``inter4k.data.videos``: real videos as frame-interpolation samples (every other frame dropped), on small
videos made here: the plan (kept samples, a scene cut and uneven timing dropped with their reasons,
unused frames), the corpus folder and its manifest, the dataset against the decoded frames, and its use
by ``evaluate --task vfi --data videos:DIR`` and ``train-vfi --val-data videos:DIR``."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from inter4k.data import videos as V
from inter4k.data.videos import OPENCV_VIDEOS, VideoTripletsVFI, build_video_corpus, plan_samples
from inter4k.metrics import psnr
from inter4k.video import iter_frames

pytestmark = pytest.mark.usefixtures("one_thread")

H, W = 48, 64


def picture(i: int, scene: int = 0) -> np.ndarray:
    """A gradient moving 3 px a frame (scene 0), or a red / green checkerboard (scene 1): a cut between them."""
    ys, xs = np.mgrid[0:H, 0:W]
    if scene == 0:
        v = 40 + 150 * (((xs + 3 * i) % W) / W)
        return np.stack([v, v * 0.8, 255 - v], -1).astype(np.uint8)
    g = np.where((ys // 8 + xs // 8) % 2 == 0, 230.0, 30.0)
    return np.stack([np.full((H, W), 200.0), g, np.full((H, W), 60.0 + i)], -1).astype(np.uint8)


def write(path: Path, frames: list[np.ndarray], pts: list[int], time_base=Fraction(1, 10), fmt=None,
          codec="libx264") -> Path:
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=10)
        s.width, s.height = W, H
        s.pix_fmt = "yuv444p" if codec == "libx264" else "yuv420p"
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "qp": "0"}
        s.codec_context.time_base = time_base
        s.time_base = time_base
        for img, p in zip(frames, pts):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts, f.time_base = p, time_base
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three small videos under the names of the opencv-doc ones: 12 frames with a cut before frame 7;
    9 frames of which frame 3 is late (uneven timing); 11 plain frames (AVI, MPEG-4 part 2)."""
    folder = tmp_path_factory.mktemp("opencv")
    write(folder / "vtest.avi", [picture(i, int(i >= 7)) for i in range(12)], list(range(12)), fmt="matroska")
    write(folder / "tree.avi", [picture(i) for i in range(9)], [0, 1, 2, 4, 5, 6, 7, 8, 9], fmt="matroska")
    write(folder / "Megamind.avi", [picture(i) for i in range(11)], list(range(11)), fmt="avi", codec="mpeg4")
    return folder


@pytest.fixture(scope="module")
def corpus(clips, tmp_path_factory) -> Path:
    return build_video_corpus(tmp_path_factory.mktemp("cache") / "videos", source=clips)


@pytest.fixture(scope="module")
def long_corpus(clips, tmp_path_factory) -> Path:
    """The corpus with a Megamind.avi of 21 plain frames: 10 samples of span 2, enough for a val sample."""
    folder = tmp_path_factory.mktemp("opencv-long")
    for name in ("vtest.avi", "tree.avi"):
        shutil.copyfile(clips / name, folder / name)
    write(folder / "Megamind.avi", [picture(i) for i in range(21)], list(range(21)), fmt="avi", codec="mpeg4")
    return build_video_corpus(tmp_path_factory.mktemp("cache-long") / "videos", source=folder)


def test_the_val_samples_lie_between_the_test_samples_and_share_no_frame_with_them():
    assert V.part_positions(20, 4) == [2, 7, 12, 17] and V.part_positions(20, 4, "val") == [5, 10, 15]
    assert V.part_positions(3, None) == [0, 1, 2] and V.part_positions(3, None, "val") == []
    assert V.part_positions(4, 2) == [1, 3] and V.part_positions(4, 2, "val") == []  # 2 is next to both
    for n in range(1, 60):
        for k in range(1, 25):
            test, val = V.part_positions(n, k), V.part_positions(n, k, "val")
            assert len(test) == min(n, k) and test == sorted(set(test))
            assert all(min(abs(v - t) for t in test) >= 2 for v in val)  # samples 2 apart share no frame
    with pytest.raises(ValueError, match="split must be 'val' or 'test'"):
        V.part_positions(10, 2, "train")


def test_the_footage_val_split_for_evaluation_and_training(long_corpus, tmp_path, monkeypatch):
    from inter4k.evaluate import evaluate
    from inter4k.train.vfi import train_vfi

    test = evaluate(task="vfi", data=f"videos:{long_corpus}", metrics="psnr", model="vfi-average", frames=2)
    val = evaluate(task="vfi", data=f"videos:{long_corpus}", metrics="psnr", model="vfi-average", frames=2,
                   split="val")
    assert [(f.clip, f.index) for f in test.primary.frames] == [("vtest", 3), ("vtest", 9), ("tree", 1),
                                                                 ("tree", 7), ("Megamind", 5), ("Megamind", 15)]
    assert [(f.clip, f.index) for f in val.primary.frames] == [("Megamind", 11)]  # samples 10..12
    with pytest.raises(ValueError, match="never trained on"):
        evaluate(task="vfi", data=f"videos:{long_corpus}", model="vfi-average", frames=2, split="train")
    # training validates on the val samples between the benchmarks' test samples (here 2 per video)
    monkeypatch.setattr("inter4k.data.videos.VIDEO_TEST_SAMPLES", 2)
    train_vfi(dict(data="synthetic", val_data=f"videos:{long_corpus}", model="vfi-small", steps=1, batch=1,
                   patch=16, workers=0, val_every=1, out=str(tmp_path / "run")))
    rec = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
           if json.loads(x)["type"] == "val"]
    assert rec[0]["samples"] == 1


def test_plan_keeps_whole_samples_and_says_why_it_drops_the_others(clips):
    cut = plan_samples(clips / "vtest.avi")
    assert (cut["frames"], cut["size"], cut["cuts"]) == (12, [W, H], [7])
    assert cut["starts"] == [0, 2, 4, 8]  # 6..8 holds the cut; 10..12 would need a 13th frame
    assert cut["dropped"] == [{"start": 6, "reason": "scene cut between frames 6 and 7"}]
    assert cut["unused"] == 1 and cut["times"] == pytest.approx([i / 10 for i in range(12)])
    uneven = plan_samples(clips / "tree.avi")
    assert uneven["starts"] == [0, 4, 6]
    assert uneven["dropped"] == [{"start": 2, "reason": "uneven timing: frame 3 is at t = 0.667, not 1/2"}]
    assert uneven["unused"] == 0
    four = plan_samples(clips / "Megamind.avi", span=4)
    assert (four["starts"], four["dropped"], four["unused"]) == ([0, 4], [], 2)
    with pytest.raises(ValueError, match="span must be an int >= 2"):
        plan_samples(clips / "tree.avi", span=1)


def test_frames_without_seeking_are_numbered_in_output_order(clips):
    every = list(iter_frames(clips / "vtest.avi", seek=False))
    assert len(every) == 12 and all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in every)
    assert np.abs(every[3].astype(int) - picture(3)).max() <= 3  # lossless H.264, up to the RGB <-> YUV rounding
    part = list(iter_frames(clips / "vtest.avi", start=5, count=3, seek=False))
    assert all(np.array_equal(a, b) for a, b in zip(part, every[5:8])) and len(part) == 3
    # tree.avi's fourth frame is late (timestamps 0, 1, 2, 4, ...): output order and timestamps number apart
    fifth = next(iter_frames(clips / "tree.avi", start=4, count=1, seek=False))
    at_four = next(iter_frames(clips / "tree.avi", start=4, count=1))
    assert np.abs(fifth.astype(int) - picture(4)).max() <= 3 and np.abs(at_four.astype(int) - picture(3)).max() <= 3


def test_the_corpus_copies_the_videos_and_records_the_plans(clips, corpus, monkeypatch):
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert [v["file"] for v in manifest["videos"]] == [f"val/{n}" for n in OPENCV_VIDEOS]
    for v in manifest["videos"]:
        name = Path(v["file"]).name
        assert (corpus / v["file"]).read_bytes() == (clips / name).read_bytes()
        assert v["split"] == "val" and len(v["sha256"]) == 64 and v["span"] == 2
        assert v["starts"] == plan_samples(clips / name)["starts"]
    assert not [p for p in corpus.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    # a finished corpus is returned as it is (nothing fetched); a source without the videos is an error
    monkeypatch.setattr(V, "plan_samples", lambda *a, **k: pytest.fail("rebuilt"))
    assert build_video_corpus(corpus) == corpus
    with pytest.raises(FileNotFoundError, match="lacks vtest.avi, tree.avi, Megamind.avi"):
        build_video_corpus(corpus.parent / "other", source=corpus.parent)
    assert not (corpus.parent / "other").exists()


def test_the_dataset_gives_the_kept_samples_as_decoded(clips, corpus):
    ds = VideoTripletsVFI(corpus)
    assert len(ds) == 4 + 3 + 5 and ds.name(0) == "vtest@0" and ds.name(4) == "tree@0"
    frames = {n: list(iter_frames(clips / n, seek=False)) for n in OPENCV_VIDEOS}
    order = list(range(len(ds))) + [5, 0, 11, 4]  # forward, then backward (reopens the video)
    for i in order:
        inputs, targets, t = ds[i]
        name, s = ds.sample(i)
        ref = frames[f"{name}.avi"]
        assert inputs.shape == (2, 3, H, W) and targets.shape == (1, 3, H, W) and t.tolist() == [0.5]
        for got, k in ((inputs[0], s), (targets[0], s + 1), (inputs[1], s + 2)):
            assert torch.equal(got, torch.from_numpy(ref[k]).permute(2, 0, 1).float() / 255)
    crop = VideoTripletsVFI(corpus, patch_size=32, videos=["tree"])
    assert len(crop) == 3 and crop[0][0].shape == (2, 3, 32, 32)
    assert torch.equal(crop[0][0], ds[4][0][..., 8:40, 16:48])
    assert len(VideoTripletsVFI(corpus, mode="15to60")) == 1 + 1 + 2  # vtest 4..8 holds the cut, tree 0..4 is uneven
    with pytest.raises(ValueError, match="unknown videos nope"):
        VideoTripletsVFI(corpus, videos=["nope"])
    with pytest.raises(ValueError, match="larger than the frames"):
        VideoTripletsVFI(corpus, patch_size=50)
    with pytest.raises(FileNotFoundError, match="no video corpus"):
        VideoTripletsVFI(corpus.parent / "none")


def test_evaluate_on_the_videos_scores_every_kept_sample(corpus, monkeypatch, tmp_path):
    from inter4k.evaluate import evaluate

    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no_weights"))
    r = evaluate(task="vfi", data=f"videos:{corpus}", metrics="psnr", model="vfi-average")
    avg = r.method("vfi-average")
    assert [m.name for m in r.methods] == ["vfi-average", "vfi-nearest", "vfi-ffmpeg"]
    assert [c.name for c in avg.clips] == ["vtest", "tree", "Megamind"] and len(avg.frames) == 12
    ds = VideoTripletsVFI(corpus)
    for i, rec in enumerate(avg.frames):
        inputs, targets, _ = ds[i]
        name, start = ds.sample(i)
        assert ds.name(i) == f"{name}@{start}"
        assert (rec.clip, rec.index, rec.inputs, rec.t) == (name, start + 1, (start, start + 2), 0.5)
        direct = ((inputs[0] + inputs[1]) / 2).clamp(0, 1)
        assert rec.values["psnr_y"] == pytest.approx(float(psnr(direct, targets[0])), abs=1e-9)
    few = evaluate(task="vfi", data=f"videos:{corpus}", metrics="psnr", model="vfi-average", limit=1, frames=2)
    assert [(f.clip, f.index) for f in few.primary.frames] == [("vtest", 3), ("vtest", 9)]


def test_video_sr_clips_are_the_kept_samples_frames_with_their_8_bit_lr(clips, corpus, monkeypatch):
    from inter4k.data.datasets import bicubic_lr
    from inter4k.data.videos import VideoClipsVSR

    samples = VideoTripletsVFI(corpus, mode="15to60")   # 5-frame clips: the samples of span 4
    ds = VideoClipsVSR(corpus, frames=5, scale=4)
    assert len(ds) == len(samples) == 4 and ds.names == [samples.name(i) for i in range(4)]
    frames = {n: list(iter_frames(clips / n, seek=False)) for n in OPENCV_VIDEOS}
    for i in range(len(ds)):
        lr, hr = ds[i]
        name, s = samples.sample(i)
        want = torch.stack([torch.from_numpy(frames[f"{name}.avi"][s + k]).permute(2, 0, 1) for k in range(5)])
        assert torch.equal(hr, want.float() / 255) and lr.shape == (5, 3, H // 4, W // 4)
        assert torch.equal(lr, bicubic_lr(hr, 4, quantize=True))
    # sizes that are not a multiple of the scale are cropped at the bottom / right (48x64 at x5 -> 45x60)
    lr5, hr5 = VideoClipsVSR(corpus, frames=5, scale=5)[0]
    assert hr5.shape[-2:] == (45, 60) and lr5.shape[-2:] == (9, 12)
    few = VideoClipsVSR(corpus, frames=3, scale=2, limit=3)   # evenly spaced over all 12 kept samples
    assert few.names == ["vtest@0", "tree@6", "Megamind@8"]   # samples 0, 6 and 11
    # the val split: the clips midway between the test clips, sharing no frame with them
    val = VideoClipsVSR(corpus, frames=3, scale=2, split="val", test_clips=3)
    span3 = VideoTripletsVFI(corpus, mode="30to60")
    assert val.indices == [3, 8] and val.names == [span3.name(3), span3.name(8)]
    used = {(span3.sample(i)[0], span3.sample(i)[1] + k) for i in few.indices for k in range(3)}
    assert not used & {(span3.sample(i)[0], span3.sample(i)[1] + k) for i in val.indices for k in range(3)}
    assert VideoClipsVSR(corpus, frames=3, scale=2, split="val", test_clips=3, limit=1).indices == [3]
    from inter4k.data import sources
    spec = sources.parse_data(f"videos:{corpus}", "vsr")
    monkeypatch.setattr("inter4k.data.videos.VIDEO_TEST_CLIPS", 3)
    assert sources.open_dataset(spec, "vsr", "val", frames=3, scale=2).names == val.names
    assert sources.open_dataset(spec, "vsr", "test", frames=3, scale=2, limit=3).names == few.names
    with pytest.raises(ValueError, match="no val clips between 12 test clips of 12"):
        VideoClipsVSR(corpus, frames=3, scale=2, split="val", test_clips=24)
    with pytest.raises(ValueError, match="frames must be one of 3, 5, 9"):
        VideoClipsVSR(corpus, frames=4)


def test_evaluate_vsr_on_the_videos(corpus, monkeypatch, tmp_path):
    from inter4k.evaluate import evaluate

    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no_weights"))
    r = evaluate(task="vsr", data=f"videos:{corpus}", scale=2, metrics="psnr", limit=2, frames=3)
    assert [m.name for m in r.methods] == ["vsr-small (untrained)", "bicubic"]
    assert [c.name for c in r.primary.clips] == ["0: vtest@0", "1: Megamind@8"] and len(r.primary.frames) == 6


def test_a_video_name_with_an_at_sign_is_one_clip(corpus, monkeypatch, tmp_path):
    import shutil

    from inter4k.evaluate import evaluate

    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no_weights"))
    copy = shutil.copytree(corpus, tmp_path / "videos")
    manifest = json.loads((copy / "manifest.json").read_text())
    for v in manifest["videos"]:  # "tree.avi" -> "tree@2@x.avi": the name's own "@"s besides the label's
        if Path(v["file"]).stem == "tree":
            (copy / v["file"]).rename(copy / v["file"].replace("tree", "tree@2@x"))
            v["file"] = v["file"].replace("tree", "tree@2@x")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    ds = VideoTripletsVFI(copy, videos=["tree@2@x"])
    assert ds.sample(1) == ("tree@2@x", 4) and ds.name(1) == "tree@2@x@4"
    r = evaluate(task="vfi", data=f"videos:{copy}", metrics="psnr", model="vfi-average")
    avg = r.method("vfi-average")
    assert [c.name for c in avg.clips] == ["vtest", "tree@2@x", "Megamind"]
    assert [f.index for f in avg.frames if f.clip == "tree@2@x"] == [1, 5, 7]


def test_train_vfi_refuses_to_train_on_the_videos(corpus, tmp_path):
    from inter4k.train.vfi import train_vfi

    # (validating on them: test_the_footage_val_split_for_evaluation_and_training)
    with pytest.raises(ValueError, match="holds the real validation videos"):
        train_vfi(dict(data=f"videos:{corpus}", steps=1, workers=0, out=str(tmp_path / "bad")))


def test_train_vsr_validates_on_the_videos_and_refuses_to_train_on_them(corpus, photo_corpus, tmp_path, monkeypatch):
    from inter4k.train.vsr import train_vsr

    monkeypatch.setattr("inter4k.data.videos.VIDEO_TEST_CLIPS", 3)  # the val split: the 2 clips between them

    small = {"channels": 4, "blocks": 1, "frame_channels": 4, "frame_blocks": 1, "flow_channels": 4}
    train_vsr(dict(data=f"photos:{photo_corpus}", val_data=f"videos:{corpus}", scale=2, frames=3, patch=16,
                   batch=1, steps=1, workers=0, val_every=1, val_clips=2, model_kwargs=small, out=str(tmp_path / "run")))
    val = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
           if json.loads(x)["type"] == "val"]
    assert val[0]["clips"] == 2 and val[0]["frames"] == 6 and val[0]["bicubic_psnr_y"] > 20
    with pytest.raises(ValueError, match="holds the real validation videos"):
        train_vsr(dict(data=f"videos:{corpus}", scale=2, frames=3, patch=16, steps=1, workers=0,
                       model_kwargs=small, out=str(tmp_path / "bad")))
