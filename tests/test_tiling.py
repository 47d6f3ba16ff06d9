"""Tiled inference (inter4k.infer.tiling): seamless blending, only tiles on the device, out-of-memory retries."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inter4k.infer.tiling import (OOMAbove, TileRunner, axis_weights, is_oom, parse_tile, tile_starts)





pytestmark = pytest.mark.usefixtures("one_thread")

class ConvSR(nn.Module):
    """Nearest x``scale`` after ``layers`` 3x3 convs (receptive-field radius ``layers`` LR pixels)."""

    def __init__(self, scale: int = 2, layers: int = 3):
        super().__init__()
        self.scale = scale
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 8, 8 if i < layers - 1 else 3, 3, padding=1)
                                   for i in range(layers))

    def forward(self, x):
        for i, c in enumerate(self.convs):
            x = c(x)
            if i < len(self.convs) - 1:
                x = torch.tanh(x)
        return F.interpolate(torch.sigmoid(x), scale_factor=self.scale, mode="nearest")


class Recorder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return self.model(x)


@pytest.mark.parametrize("size,tile,overlap", [(100, 32, 16), (70, 32, 16), (33, 32, 8), (257, 64, 32), (64, 64, 16),
                                               (40, 32, 0), (1000, 48, 24)])
def test_tiles_cover_with_at_least_the_overlap_and_weights_sum_to_one(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    assert starts[0] == 0 and min(tile, size - starts[-1]) + starts[-1] == size
    for a, b in zip(starts, starts[1:]):
        assert a + tile - b >= overlap  # every overlap is at least the requested one
        assert b > a
    for scale in (1, 2, 4):
        ws = axis_weights(size, starts, tile, scale)
        total = torch.zeros(size * scale)
        for s, w in zip(starts, ws):
            assert w.numel() == min(tile, size - s) * scale
            assert float(w.min()) >= 0
            total[s * scale: s * scale + w.numel()] += w
        assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def test_ramp_gives_no_weight_to_a_tiles_outer_third_of_an_overlap():
    starts = tile_starts(96, 64, 32)  # two tiles, overlap 32: [0, 64) and [32, 96)
    assert starts == [0, 32]
    w0, w1 = axis_weights(96, starts, 64, 1)
    # tile 1 at the start of the overlap (pixels 32..42): no weight; tile 0 near its right edge: none
    assert torch.all(w1[:10] == 0) and torch.all(w0[-10:] == 0)
    assert torch.all(w0[:32] == 1) and torch.all(w1[-32:] == 1)
    mid = w1[10:22]
    assert torch.all(mid[1:] > mid[:-1])  # a linear ramp in between


@pytest.mark.parametrize("batch", [1, 3])
def test_tiled_equals_untiled_for_a_receptive_field_inside_the_overlap(batch):
    model = ConvSR(scale=2, layers=3)  # radius 3 <= overlap 16 / 3
    x = torch.randint(0, 256, (batch, 3, 70, 100), dtype=torch.uint8)
    whole = TileRunner(model, 2, tile=None)
    tiled = TileRunner(Recorder(model), 2, tile=32, overlap=16)
    xf = x.float() / 255
    a, b = whole(xf), tiled(xf)
    assert a.shape == b.shape == (batch, 3, 140, 200)
    assert (a - b).abs().max() < 1e-5
    # the model only ever saw tiles of at most 32x32
    assert max(s[2] for s in tiled.model.shapes) <= 32 and max(s[3] for s in tiled.model.shapes) <= 32
    assert len(tiled.model.shapes) > 4
    # uint8 in -> uint8 out, equal but for rounding ties
    a8, b8 = whole(x), tiled(x)
    assert a8.dtype == torch.uint8 and (a8.int() - b8.int()).abs().max() <= 1


def test_a_non_finite_tile_is_found_by_one_check_after_the_frames_last_tile(monkeypatch):
    class InfInFirstTile(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            y = F.interpolate(x, scale_factor=2)
            if self.calls == 1:
                y[0, 1, 0, 0] = float("inf")  # the frame's corner: weight 1 in the blend
            return y

    checks = []
    monkeypatch.setattr(TileRunner, "_check_finite", staticmethod(
        lambda total, y, check=TileRunner._check_finite: checks.append(total.dim()) or check(total, y)))
    model = InfInFirstTile()
    with pytest.raises(RuntimeError, match=r"the model produced 1 non-finite value\(s\) \(NaN or inf\) of 38400"):
        TileRunner(model, 2, tile=32, overlap=8)(torch.rand(1, 3, 40, 80))
    assert model.calls == len(tile_starts(40, 32, 8)) * len(tile_starts(80, 32, 8)) == 6  # every tile ran first
    assert checks == [0]  # one check, of one device scalar
    model.calls = 0
    with pytest.raises(RuntimeError, match=r"the model produced 1 non-finite value\(s\) \(NaN or inf\) of 28800"):
        TileRunner(model, 2, tile=None)(torch.rand(1, 3, 40, 60))


def test_a_receptive_field_wider_than_the_overlap_shows_the_seams():
    """The check above can fail: with 12 conv layers (radius 12) and overlap 8 the tiles differ."""
    model = ConvSR(scale=2, layers=12)
    x = torch.rand(1, 3, 70, 100)
    a = TileRunner(model, 2, tile=None)(x)
    b = TileRunner(model, 2, tile=32, overlap=8)(x)
    assert (a - b).abs().max() > 1e-4


def test_channels_last_output():
    model = ConvSR(scale=2, layers=2)
    x = torch.randint(0, 256, (2, 3, 40, 50), dtype=torch.uint8)
    r = TileRunner(model, 2, tile=32, overlap=8)
    nchw, nhwc = r(x), r(x, channels_last=True)
    assert nhwc.shape == (2, 80, 100, 3) and nhwc.is_contiguous()
    assert torch.equal(nchw.permute(0, 2, 3, 1), nhwc)


def test_oom_halves_the_tile_and_reruns_the_same_frames():
    model = ConvSR(scale=2, layers=2)
    x = torch.randint(0, 256, (2, 3, 64, 90), dtype=torch.uint8)
    expected = TileRunner(model, 2, tile=None)(x)
    oom = OOMAbove(model, max_pixels=2 * 40 * 40)
    events = []
    r = TileRunner(oom, 2, tile="auto", overlap=8, on_oom=events.append)
    y = r(x)
    # whole frame (64x90) fails -> 64 fails (2x64x64 > 3200) -> 32 fits
    assert r.tile == 32 and r.oom_retries == 2 and len(events) == 2
    assert events[0].failed_tile is None and events[0].new_tile == 64
    assert events[1].failed_tile == 64 and events[1].new_tile == 32
    assert (y.int() - expected.int()).abs().max() <= 1  # radius 2 <= 8 / 3: same result
    # the smaller tile is kept: the next call raises no more
    raised = oom.raised
    r(x)
    assert oom.raised == raised and r.oom_retries == 2


def test_oom_below_the_minimum_tile_splits_the_batch_then_raises():
    model = ConvSR(scale=2, layers=1)
    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    r = TileRunner(OOMAbove(model, max_pixels=32 * 32), 2, tile="auto", overlap=8)
    y = r(x)  # 64 -> 32 tiles (4x32x32 still too much) -> batches of 2 -> 1
    assert y.shape == (4, 3, 128, 128)
    assert r.tile == 32 and r.max_batch == 1 and r.oom_retries == 3
    r2 = TileRunner(OOMAbove(model, max_pixels=100), 2, tile="auto", overlap=8)
    with pytest.raises(RuntimeError, match="out of memory .* minimum tile is 32"):
        r2(x[:1])


def test_no_room_for_the_whole_output_is_said_at_once_not_retried_with_smaller_tiles(monkeypatch):
    import inter4k.infer.tiling as tiling

    zeros = torch.zeros

    def host_cannot_hold_the_output(*size, **kw):  # the CPU allocator on a machine with little memory
        shape = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        if torch.Size(shape).numel() >= 3 * 128 * 128:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 196608 bytes. Error code 12 (Cannot allocate memory)")
        return zeros(*size, **kw)

    monkeypatch.setattr(tiling.torch, "zeros", host_cannot_hold_the_output)
    model = OOMAbove(ConvSR(scale=2, layers=1), max_pixels=40 * 40)  # whole 64x64 frames run out of memory
    r = TileRunner(model, 2, tile="auto", overlap=8)
    with pytest.raises(tiling.HostMemoryError, match=r"128x128 output .* smaller tiles do not help"):
        r(torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8))
    # one retry from the whole frame to tiles (the model's own memory), then no more: the first tile's
    # output could not be blended, and smaller tiles need the same accumulator
    assert r.oom_retries == 1 and model.calls == 2


def test_sixteen_bit_frames_keep_sixteen_bits():
    x = (torch.arange(3 * 16 * 16, dtype=torch.int32).reshape(1, 3, 16, 16) * 85).to(torch.uint16)
    r = TileRunner(nn.Upsample(scale_factor=2, mode="nearest"), 2, tile=None)
    y = r(x)
    assert y.dtype == torch.uint16 and torch.equal(y[..., ::2, ::2], x)  # every one of the 768 levels back
    assert len(torch.unique(y.to(torch.int32))) == 768


def test_tiling_off_reraises_oom_with_a_hint_and_other_errors_pass_through():
    model = ConvSR(scale=2, layers=1)
    with pytest.raises(RuntimeError, match="tiling off; use --tile auto"):
        TileRunner(OOMAbove(model, max_pixels=10), 2, tile=None)(torch.rand(1, 3, 40, 40))

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch somewhere")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        TileRunner(Broken(), 2, tile="auto")(torch.rand(1, 3, 40, 40))


def test_wrong_scale_is_a_clear_error():
    with pytest.raises(ValueError, match="not x4"):
        TileRunner(ConvSR(scale=2, layers=1), 4, tile=None)(torch.rand(1, 3, 20, 20))


def test_is_oom_and_parse_tile():
    assert is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_oom(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_oom(MemoryError())
    assert not is_oom(RuntimeError("expected scalar type Float"))
    assert not is_oom(ValueError("out of memory"))
    assert parse_tile("auto") == "auto" and parse_tile("0") is None and parse_tile(None) is None
    assert parse_tile("256") == 256 and parse_tile(128) == 128
    with pytest.raises(ValueError):
        parse_tile("big")
    with pytest.raises(ValueError, match="at least 32"):
        TileRunner(ConvSR(), 2, tile=16)
    with pytest.raises(ValueError, match="fp16 is not supported on the CPU"):
        TileRunner(ConvSR(), 2, dtype=torch.float16)


def test_bf16_on_the_cpu_runs_close_to_fp32():
    model = ConvSR(scale=2, layers=2)
    x = torch.randint(0, 256, (1, 3, 40, 40), dtype=torch.uint8)
    a = TileRunner(model, 2, tile=None)(x)
    b = TileRunner(ConvSR(scale=2, layers=2).requires_grad_(False), 2, dtype=torch.bfloat16, tile=None)
    b.model.load_state_dict({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})
    out = b(x)
    assert out.dtype == torch.uint8 and (a.int() - out.int()).abs().float().mean() < 3


class _HidesRadius(nn.Module):
    """The model without its ``receptive_radius``: the tiles overlap by what was asked for, no more."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def test_a_deep_model_stays_seamless_at_the_default_overlap():
    """sr-lr-large (10 blocks: radius 23 LR pixels) needs an overlap of 69; the default is 32."""
    from inter4k.models import create_model
    from inter4k.infer.tiling import DEFAULT_OVERLAP, seamless_overlap

    torch.manual_seed(0)
    model = create_model("sr-lr-large", scale=2).eval()
    for conv in model.modules():  # He init: far pixels matter (the default init fades them) ...
        if isinstance(conv, nn.Conv2d):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    for conv in (model.out.values, model.out.logits):  # ... and the output stays mostly inside [0, 1]
        nn.init.normal_(conv.weight, std=1e-4)
    assert model.receptive_radius == 10 * 2 + 3
    assert seamless_overlap(model, DEFAULT_OVERLAP) == 69 and seamless_overlap(model, 100) == 100
    x = torch.rand(1, 3, 140, 248)  # across: 3 tiles overlapping by 86 (>= 69); by 32 it would be 2 tiles
    with torch.no_grad():
        whole = TileRunner(model, 2, tile=None)(x)
        recorder = Recorder(model)
        recorder.receptive_radius = model.receptive_radius
        tiled = TileRunner(recorder, 2, tile=140)   # the default overlap asked for
        assert tiled.overlap == 69
        out = tiled(x)
        assert len(tiled.model.shapes) == 3
        assert (out - whole).abs().max() < 1e-5
        seams = TileRunner(_HidesRadius(model), 2, tile=140)(x)  # overlap 32: the old rule
    assert (seams - whole).abs().max() > 1e-4
