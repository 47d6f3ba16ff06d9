"""vsr-small: shapes, starts at bicubic, streaming equals the offline pass where it should, cost, resolver."""

import pytest
import torch

from inter4k.models import create_model, resolve
from inter4k.models.layers import count_macs
from inter4k.models.upsamplers import bicubic_upsample
from inter4k.models.vsr import TinyFlowNet, VSRSmall, is_clip_model


def _perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """The model with every parameter moved at random (the zero-initialised heads included), so that
    flows, warps and both branches really act."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_untrained_model_is_exact_bicubic_per_frame(scale, bidirectional):
    torch.manual_seed(0)
    m = create_model("vsr-small", scale=scale, bidirectional=bidirectional)
    clip = torch.rand(2, 4, 3, 9, 14)   # sizes that are not multiples of the flow net's factor 4
    out = m(clip)
    assert out.shape == (2, 4, 3, 9 * scale, 14 * scale)
    want = bicubic_upsample(clip.flatten(0, 1), scale).view_as(out)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-6)
    assert m.model_name == "vsr-small" and VSRSmall(**m.config).config == m.config and is_clip_model(m)


def test_flow_net_starts_at_zero_flow_and_keeps_constant_flows():
    net = TinyFlowNet(8)
    assert net(torch.rand(1, 3, 7, 9), torch.rand(1, 3, 7, 9)).abs().max() == 0
    with torch.no_grad():
        net.head.bias.copy_(torch.tensor([0.75, -0.5]))   # a constant flow at 1/2 LR
    flow = net(torch.rand(1, 3, 8, 12), torch.rand(1, 3, 8, 12))
    # guided upsampling keeps a constant constant, and values double with the resolution
    torch.testing.assert_close(flow[0, 0], torch.full((8, 12), 1.5))
    torch.testing.assert_close(flow[0, 1], torch.full((8, 12), -1.0))


def test_forward_only_streaming_in_chunks_equals_the_offline_pass():
    torch.manual_seed(1)
    m = _perturbed(create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, frame_blocks=1,
                                flow_channels=4, bidirectional=False))
    clip = torch.rand(1, 7, 3, 12, 16)
    with torch.no_grad():
        whole = m(clip)
        state, parts = None, []
        for a, b in ((0, 3), (3, 4), (4, 7)):
            out, state = m.run(clip[:, a:b], state)
            parts.append(out)
        fresh = m.run(clip[:, 3:], None)[0]
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=0, atol=1e-5)
    # the carried state matters: without it (a scene cut) the first frames differ
    assert (fresh[:, 0] - whole[:, 3]).abs().max() > 1e-3


def test_bidirectional_chunks_with_lookahead_to_the_clip_end_equal_the_offline_pass():
    torch.manual_seed(2)
    m = _perturbed(create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, frame_blocks=0,
                                flow_channels=4))
    clip = torch.rand(1, 6, 3, 8, 12)
    with torch.no_grad():
        whole = m(clip)
        first, state = m.run(clip, None, lookahead=3)       # frames 0-2, the backward branch sees 0-5
        rest, _ = m.run(clip[:, 3:], state)
        short, _ = m.run(clip[:, :4], None, lookahead=1)    # the backward branch sees only 0-3
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, rtol=0, atol=1e-5)
    assert first.shape[1] == 3 and short.shape[1] == 3
    assert (short[:, 2] - whole[:, 2]).abs().max() > 1e-3   # less lookahead: the backward branch differs


def test_gradients_reach_every_part():
    torch.manual_seed(3)
    m = _perturbed(create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, flow_channels=4))
    m.train()
    out = m(torch.rand(1, 3, 3, 8, 8))
    out.square().mean().backward()
    for name in ("flownet.head.weight", "forward_branch.fuse.weight", "backward_branch.fuse.weight",
                 "inject.weight", "frame_net.head.weight", "frame_net.out.values.weight"):
        assert dict(m.named_parameters())[name].grad.abs().sum() > 0, name


@pytest.mark.parametrize("scale", [2, 4])
def test_cost_is_within_one_and_a_half_times_sr_lr_small(scale):
    clip = torch.rand(1, 3, 3, 16, 16)
    vsr = count_macs(create_model("vsr-small", scale=scale), clip) / (3 * 16 * 16)
    per_frame = count_macs(create_model("sr-lr-small", scale=scale), clip[:, 0]) / (16 * 16)
    assert vsr <= 1.5 * per_frame
    assert vsr > count_macs(create_model("vsr-small", scale=scale, bidirectional=False), clip) / (3 * 16 * 16)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_with_a_single_frame_models_weights_it_starts_as_that_model(bidirectional):
    # the temporal parts (inject) start at zero: a VSR model whose per-frame network got a trained
    # sr-lr-small's weights returns exactly what that model returns frame by frame, deadzone included
    torch.manual_seed(4)
    frame = _perturbed(create_model("sr-lr-small", scale=2, channels=8, blocks=1, deadzone=0.25))
    vsr = create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, frame_blocks=1,
                       flow_channels=4, deadzone=0.25, bidirectional=bidirectional).eval()
    with torch.no_grad():
        for p in vsr.flownet.parameters():   # moving flows and branches: still nothing reaches the output
            p.add_(0.05 * torch.randn_like(p))
    vsr.load_frame_weights(frame)
    clip = torch.rand(1, 4, 3, 10, 12)
    with torch.no_grad():
        out = vsr(clip)
        want = frame(clip[0])
    torch.testing.assert_close(out[0], want, rtol=0, atol=1e-6)
    assert (out[0] - bicubic_upsample(clip[0], 2)).abs().max() > 1e-3   # not bicubic: the weights arrived


def test_frame_weights_of_another_architecture_are_refused():
    vsr = create_model("vsr-small", scale=2, channels=8, blocks=1, frame_channels=8, frame_blocks=1, flow_channels=4)
    with pytest.raises(ValueError, match="per-frame weights must come from a LowResSRNet"):
        vsr.load_frame_weights(create_model("sr-lr-small", scale=2, channels=16, blocks=1))
    with pytest.raises(ValueError, match="per-frame weights must come from a LowResSRNet"):
        vsr.load_frame_weights(create_model("sr-small", scale=2))


def test_bad_input_is_one_clear_error():
    m = create_model("vsr-small", scale=2)
    with pytest.raises(ValueError, match=r"expected a clip \(N, T, 3, h, w\)"):
        m(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="lookahead"):
        m.run(torch.rand(1, 2, 3, 8, 8), None, lookahead=2)
    with pytest.raises(ValueError, match="channels must be an int >= 1"):
        VSRSmall(channels=0)


def test_resolver_runs_vsr_small_untrained_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path))
    said = []
    r = resolve("vsr-small", task="sr", scale=4, warn=said.append)
    assert (r.label, r.source) == ("vsr-small (untrained)", "untrained") and "bicubic" in said[0]
    assert r.module.scale == 4 and not r.module.training
    with pytest.raises(ValueError, match="super-resolution model"):
        resolve("vsr-small", task="vfi")
