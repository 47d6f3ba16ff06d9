"""Streaming a clip model over a video: chunks with carried state equal the offline pass where they should,
scene cuts reset the state, every frame and time is kept; ``inter4k upscale --model vsr-small``."""

from __future__ import annotations

import pytest
import torch

from inter4k.infer.clip_stream import ClipStreamer
from inter4k.infer.tiling import model_output
from inter4k.models import create_model

SMALL = {"channels": 8, "blocks": 1, "frame_channels": 8, "frame_blocks": 1, "flow_channels": 4}


def _model(**kw) -> torch.nn.Module:
    torch.manual_seed(0)
    m = create_model("vsr-small", scale=2, **SMALL, **kw)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return m.eval()


def _frames(n: int, seed: int = 0, h: int = 12, w: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)   # a smooth texture panning by a pixel per frame: no scene cut
    base = torch.nn.functional.interpolate(torch.rand(1, 3, h // 4, w // 4, generator=g), size=(h, w),
                                           mode="bilinear")
    return torch.stack([(torch.roll(base[0], t, dims=2) * 255).round().to(torch.uint8) for t in range(n)])


def _stream(streamer: ClipStreamer, frames: torch.Tensor, batch: int):
    outs, times = [], []
    for i in range(0, len(frames), batch):
        y, t = streamer.push(frames[i:i + batch], [(i + k, None, None) for k in range(len(frames[i:i + batch]))])
        outs.append(y)
        times += t
    tail = streamer.flush()
    if tail is not None:
        outs.append(tail[0])
        times += tail[1]
    return torch.cat([o for o in outs if o.shape[0]]), times


def _offline(model, frames: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        y = model(frames.float()[None] / 255)[0]
    return model_output(y.permute(0, 2, 3, 1), frames)


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_only_streaming_equals_the_offline_pass(batch):
    m, frames = _model(bidirectional=False), _frames(7)
    out, times = _stream(ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=3, lookahead=0,
                                      scene_threshold=0), frames, batch)
    assert times == [(i, None, None) for i in range(7)]          # every frame, in order, with its time
    assert out.shape == (7, 24, 32, 3) and out.dtype == torch.uint8
    assert (out.int() - _offline(m, frames).int()).abs().max() <= 1   # rounding of float noise only


def test_bidirectional_streaming_equals_offline_when_the_lookahead_reaches_the_end():
    m, frames = _model(), _frames(6)
    out, _ = _stream(ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=2, lookahead=4, scene_threshold=0),
                     frames, 2)
    assert (out.int() - _offline(m, frames).int()).abs().max() <= 1
    short, _ = _stream(ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=2, lookahead=0, scene_threshold=0),
                       frames, 2)
    assert (short.int() - _offline(m, frames).int()).abs().max() > 1   # without lookahead it is an approximation


def test_a_scene_cut_resets_the_state():
    m = _model(bidirectional=False)
    a, b = _frames(4, seed=0), _frames(4, seed=1) // 4            # two scenes (the second dark): a cut before 4
    frames = torch.cat([a, b])
    streamer = ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=3, lookahead=0)
    out, times = _stream(streamer, frames, 2)
    assert streamer.cuts == [4] and len(times) == 8
    want = torch.cat([_offline(m, a), _offline(m, b)])               # each scene on its own
    assert (out.int() - want.int()).abs().max() <= 1
    assert (out[4:].int() - _offline(m, frames)[4:].int()).abs().max() > 1   # not carried across the cut


def test_upscale_a_video_with_vsr_small_keeps_every_frame_and_time(tmp_path, monkeypatch):
    import av

    from inter4k.data.sample import make_sample
    from inter4k.infer.upscale import upscale

    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no-weights"))
    clip = make_sample(tmp_path / "in", clips=1, seconds=0.25, size=(32, 24))[0]
    r = upscale(clip, tmp_path / "out.mp4", scale=2, model="vsr-small", preset="ultrafast")
    assert r.model == "vsr-small (untrained)" and any("untrained" in w for w in r.warnings)
    assert r.frames_in == r.frames_out == 15 and r.size_out == (64, 48) and r.scene_cuts == []

    def times(path):
        with av.open(str(path)) as c:
            return [f.pts * f.time_base for f in c.decode(video=0)]
    assert times(r.output) == times(clip)
    with pytest.raises(ValueError, match="super-resolves videos"):
        img = tmp_path / "a.png"
        import cv2
        import numpy as np

        cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
        upscale(img, scale=2, model="vsr-small")


def test_upscale_chunk_and_lookahead_reach_the_streamer_and_only_clip_models_take_them(tmp_path, monkeypatch):
    from inter4k.data.sample import make_sample
    from inter4k.infer import clip_stream
    from inter4k.infer.upscale import upscale

    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "no-weights"))
    clip = make_sample(tmp_path / "in", clips=1, seconds=0.25, size=(32, 24))[0]
    seen = []
    real_run = clip_stream.ClipStreamer._run

    def spy(self, keep, lookahead, outs, out_times):
        seen.append((self.chunk, self.lookahead, keep, lookahead))
        return real_run(self, keep, lookahead, outs, out_times)

    monkeypatch.setattr(clip_stream.ClipStreamer, "_run", spy)
    r = upscale(clip, tmp_path / "out.mp4", scale=2, model="vsr-small", preset="ultrafast", chunk=5, lookahead=2)
    assert r.frames_out == 15
    assert seen[0] == (5, 2, 5, 2) and sum(keep for *_, keep, _ in seen) == 15   # 5 + 5 + the rest at the end
    with pytest.raises(ValueError, match="chunk and lookahead are settings of clip models"):
        upscale(clip, tmp_path / "b.mp4", scale=2, model="bicubic", chunk=4)
    with pytest.raises(ValueError, match="chunk must be an int >= 1"):
        upscale(clip, tmp_path / "c.mp4", scale=2, model="vsr-small", chunk=0)


def test_the_video_default_is_a_bundled_clip_model_of_the_list_and_images_keep_the_frame_model(tmp_path, monkeypatch):
    import shutil

    import cv2
    import numpy as np

    from inter4k.data.sample import make_sample
    from inter4k.infer.upscale import upscale
    from inter4k.models import weights as W

    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(W.weights_path("sr-lr-small", 2), folder / "sr-lr-small_x2.pt")
    monkeypatch.setenv("INTER4K_WEIGHTS", str(folder))
    clip = make_sample(tmp_path / "in", clips=1, seconds=0.25, size=(32, 24))[0]
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((8, 8, 3), 90, np.uint8))
    # no clip model listed for the scale: videos too go frame by frame with the default SR model
    monkeypatch.setattr(W, "DEFAULT_VIDEO_SR_MODELS", {4: ("vsr-small",)})
    assert upscale(clip, tmp_path / "o1.mp4", scale=2, preset="ultrafast").model == "sr-lr-small"
    monkeypatch.setattr(W, "DEFAULT_VIDEO_SR_MODELS", {2: ("vsr-small",), 4: ("vsr-small",)})
    assert W.default_video_sr_model(2) == "sr-lr-small"   # listed, but no bundled weights for it
    W.save_model(create_model("vsr-small", scale=2, channels=4, blocks=1, frame_channels=4, frame_blocks=1,
                              flow_channels=4), folder / "vsr-small_x2.pt")
    assert W.default_video_sr_model(2) == "vsr-small"
    with pytest.raises(FileNotFoundError, match="no bundled SR weights for x4"):   # nothing at all for x4
        W.default_video_sr_model(4)
    r = upscale(clip, tmp_path / "o2.mp4", scale=2, preset="ultrafast")
    assert r.model == "vsr-small" and r.frames_out == 15
    assert upscale(img, tmp_path / "o.png", scale=2).model == "sr-lr-small"


def test_the_bundled_video_defaults():
    from inter4k.models.weights import default_sr_model, default_video_sr_model

    # x4: vsr-small (it beats per-frame sr-lr-small on the held-out footage); x2: frame by frame
    assert default_video_sr_model(4) == "vsr-small" and default_video_sr_model(2) == default_sr_model(2)


@pytest.mark.parametrize("h,w", [(1080, 1920), (2160, 3840), (721, 1280), (1281, 720), (40000, 40), (4000, 4000)])
def test_auto_clip_tiles_are_the_fewest_that_fit_and_cover_the_frame(h, w):
    from inter4k.infer.clip_stream import CLIP_TILE_PIXELS, clip_tiles
    from inter4k.infer.tiling import tile_starts

    th, tw = clip_tiles(h, w, "auto", overlap=32)
    assert th * tw <= CLIP_TILE_PIXELS
    ys, xs = tile_starts(h, th, min(32, th // 2)), tile_starts(w, tw, min(32, tw // 2))
    assert ys[-1] + th == h and xs[-1] + tw == w                     # covered to the far edges
    assert all(b - a <= th - 32 for a, b in zip(ys, ys[1:])) and all(b - a <= tw - 32 for a, b in zip(xs, xs[1:]))
    fewest = min(ny * nx for ny in range(1, 40) for nx in range(1, 40)
                 if -(-(h + (ny - 1) * 32) // ny) * -(-(w + (nx - 1) * 32) // nx) <= CLIP_TILE_PIXELS)
    assert len(ys) * len(xs) == fewest


def test_clip_tiles_whole_frames_and_square_tiles():
    from inter4k.infer.clip_stream import clip_tiles

    assert clip_tiles(720, 1280, "auto") is None and clip_tiles(1080, 1920, None) is None
    assert clip_tiles(100, 60, 128) is None and clip_tiles(100, 60, 64) == (64, 60)
    with pytest.raises(ValueError, match="tile must be"):
        clip_tiles(1080, 1920, "big")


def _local(model):
    """``model`` with ``inject`` zeroed: each output frame is frame_net's on that frame alone, a conv net
    with a small receptive field, so tiles with a wide enough overlap give the untiled result."""
    with torch.no_grad():
        model.inject.weight.zero_()
        model.inject.bias.zero_()
    return model


def test_tiled_streaming_of_a_local_model_equals_whole_frames():
    m, frames = _local(_model()), _frames(5, h=40, w=52)
    whole, _ = _stream(ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=2, lookahead=1, scene_threshold=0),
                       frames, 2)
    streamer = ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=2, lookahead=1, scene_threshold=0,
                            tile=32, overlap=16)
    tiled, times = _stream(streamer, frames, 2)
    assert streamer.tile == (32, 32) and len(streamer.states) == 2 * 3   # 40 rows: 2 tiles, 52 columns: 3
    assert times == [(i, None, None) for i in range(5)] and tiled.shape == whole.shape == (5, 80, 104, 3)
    assert (tiled.int() - whole.int()).abs().max() <= 1


def test_each_tile_carries_its_own_state_across_chunks():
    """Forward-only, so streaming is exact: tiled streaming in chunks equals each tile's offline pass over
    the whole clip, blended with the tile weights; a mixed-up state would differ."""
    from inter4k.infer.tiling import axis_weights, tile_starts

    m, frames = _model(bidirectional=False), _frames(6, h=40, w=52)
    streamer = ClipStreamer(m, torch.device("cpu"), torch.float32, chunk=2, lookahead=0, scene_threshold=0,
                            tile=32, overlap=12)
    tiled, _ = _stream(streamer, frames, 3)
    ys, xs = tile_starts(40, 32, 12), tile_starts(52, 32, 12)
    wys, wxs = axis_weights(40, ys, 32, 2), axis_weights(52, xs, 32, 2)
    want = torch.zeros(6, 3, 80, 104)
    for y0, wy in zip(ys, wys):
        for x0, wx in zip(xs, wxs):
            with torch.no_grad():
                y = m(frames[:, :, y0:y0 + 32, x0:x0 + 32].float()[None] / 255)[0]
            want[:, :, 2 * y0:2 * y0 + 64, 2 * x0:2 * x0 + 64] += y * (wy[:, None] * wx[None, :])
    want = model_output(want.permute(0, 2, 3, 1), frames)
    assert (tiled.int() - want.int()).abs().max() <= 1
    untiled = _offline(m, frames)
    assert (untiled.int() - want.int()).abs().max() > 1     # the tiles really are run apart


def test_upscale_tiles_a_large_video_for_the_clip_model(tmp_path, monkeypatch):
    from inter4k.data.sample import make_sample
    from inter4k.infer import clip_stream
    from inter4k.infer.upscale import upscale

    monkeypatch.setattr(clip_stream, "CLIP_TILE_PIXELS", 32 * 24 - 1)   # the sample's 32x24 frames: "large"
    clip = make_sample(tmp_path / "in", clips=1, seconds=0.25, size=(32, 24))[0]
    r = upscale(clip, tmp_path / "o.mp4", scale=4, preset="ultrafast", tile_overlap=8)
    assert r.model == "vsr-small" and r.frames_out == 15 and r.size_out == (128, 96)
    assert r.tile == "20x24" and not r.warnings                       # two tiles of 20 columns, whole rows
    r = upscale(clip, tmp_path / "p.mp4", scale=4, preset="ultrafast", tile=0)
    assert r.model == "vsr-small" and r.tile is None
