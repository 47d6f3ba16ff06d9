"""Temporal metrics on clips whose answer is known: error flicker and the flow-warping error."""

import pytest
import torch
import torch.nn.functional as F

from inter4k.metrics.temporal import error_flicker, reference_flow, warping_error

Y_PER_RGB = 219.0  # 8-bit Y levels per unit of a grey RGB change (BT.601 limited range: 16..235)


def _texture(h: int = 64, w: int = 80, seed: int = 0) -> torch.Tensor:
    """A smooth random RGB texture in [0.2, 0.8] (trackable by a flow method)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return (0.2 + 0.6 * F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1))[0]


def _moving_clip(frames: int = 4, dx: int = 2, dy: int = 1) -> torch.Tensor:
    """Frame t is the texture shifted by (t dx, t dy): the backward flow t -> t-1 is (-dx, -dy)."""
    tex = _texture(96, 112)
    return torch.stack([torch.roll(tex, (t * dy, t * dx), dims=(1, 2)) for t in range(frames)])[:, :, 16:80, 16:96]


def test_constant_error_has_no_flicker_and_no_warping_error():
    ref = _texture()[None].repeat(5, 1, 1, 1)
    pred = ref + 0.03
    torch.testing.assert_close(error_flicker(pred, ref), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(warping_error(pred, ref, torch.zeros(4, 2, 64, 80)), torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("delta", [1 / 255, 4 / 255])
def test_alternating_error_has_flicker_two_d(delta):
    ref = _texture()[None].repeat(6, 1, 1, 1)
    sign = torch.tensor([1.0, -1.0] * 3).view(6, 1, 1, 1)
    pred = ref + sign * delta
    d = Y_PER_RGB * delta   # the error on Y, in levels
    torch.testing.assert_close(error_flicker(pred, ref), torch.full((5,), 2 * d, dtype=torch.float64))
    torch.testing.assert_close(warping_error(pred, ref, torch.zeros(5, 2, 64, 80)),
                               torch.full((5,), 2 * d, dtype=torch.float64), rtol=1e-5, atol=1e-4)
    # the flow estimated from a static reference is about zero, so the default gives about the same answer
    torch.testing.assert_close(warping_error(pred, ref), torch.full((5,), 2 * d, dtype=torch.float64),
                               rtol=0.01, atol=0)


def test_an_error_that_moves_with_the_content_flickers_but_is_temporally_consistent():
    ref = _moving_clip()
    noise = (torch.rand(1, 96, 112, generator=torch.Generator().manual_seed(5)) - 0.5) * 0.1
    moving = torch.stack([torch.roll(noise, (t, 2 * t), dims=(1, 2)) for t in range(4)])[:, :, 16:80, 16:96]
    pred = ref + moving                     # a texture glued to the scene: consistent along the motion
    flows = torch.zeros(3, 2, 64, 80)
    flows[:, 0], flows[:, 1] = -2.0, -1.0   # the true backward flow
    assert warping_error(ref, ref, flows).max() < 1e-3
    assert warping_error(pred, ref, flows).max() < 1e-3
    assert error_flicker(pred, ref).min() > 3.0
    still = ref + noise[:, 16:80, 16:96]    # the same pattern fixed on the screen while the scene moves
    assert warping_error(still, ref, flows).min() > 3.0


def test_reference_flow_recovers_a_translation():
    ref = _moving_clip(frames=2, dx=2, dy=1)
    flow = reference_flow(ref)[0, :, 16:-16, 16:-16]
    assert flow.shape[0] == 2
    assert abs(float(flow[0].median()) + 2.0) < 0.25 and abs(float(flow[1].median()) + 1.0) < 0.25
    # with the estimated flow the reference explains itself: small warping error of the reference
    assert float(warping_error(ref, ref).max()) < 2.0


def test_crop_border_and_bad_input():
    ref = _texture()[None].repeat(3, 1, 1, 1)
    pred = ref.clone()
    pred[1, :, :4] += 0.1                   # an error only in the top 4 rows of frame 1
    assert error_flicker(pred, ref)[0] > 0 and error_flicker(pred, ref, crop_border=4).abs().max() == 0
    with pytest.raises(ValueError, match="T >= 2"):
        error_flicker(ref[:1], ref[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        error_flicker(ref, ref[:2])
    with pytest.raises(ValueError, match=r"flows must be \(T - 1, 2, H, W\)"):
        warping_error(ref, ref, torch.zeros(3, 2, 64, 80))
    with pytest.raises(ValueError, match="crop_border 40 leaves nothing"):
        error_flicker(ref, ref, crop_border=40)
