"""InceptionConv2d, replace_conv, make_supernet and the EDO search (inter4k.models.layers)."""

from __future__ import annotations

import copy
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inter4k.models.layers import (InceptionConv2d, crop_pattern, default_dilations, edo_convert, edo_search,
                                   make_body, make_supernet, replace_conv)

torch.set_num_threads(1)

MIXED = [(1, 1), (2, 1), (1, 3), (2, 2), (1, 1), (3, 1), (2, 1)]   # unsorted, repeated pairs


def per_channel(conv: InceptionConv2d, x: torch.Tensor) -> torch.Tensor:
    """The issue's definition: output channel o is one F.conv2d with that channel's pair."""
    outs = []
    for o, d in enumerate(conv.dilations):
        b = None if conv.bias is None else conv.bias[o:o + 1]
        outs.append(F.conv2d(x, conv.weight[o:o + 1], b, padding=d, dilation=d))
    return torch.cat(outs, 1)


# ------------------------------------------------------------------------------------ the layer

@pytest.mark.parametrize("dilations", [MIXED, sorted(MIXED), [(2, 3)] * 7], ids=["unsorted", "sorted", "one-pair"])
@pytest.mark.parametrize("bias", [True, False])
def test_each_output_channel_is_its_own_dilated_conv(dilations, bias):
    conv = InceptionConv2d(5, 7, dilations, bias=bias)
    assert conv.weight.shape == (7, 5, 3, 3) and conv.dilations == dilations
    assert (conv.bias is None) == (not bias)
    x = torch.randn(2, 5, 11, 9)
    torch.testing.assert_close(conv(x), per_channel(conv, x), rtol=1e-5, atol=1e-6)


def test_one_conv_per_distinct_pair(monkeypatch):
    conv = InceptionConv2d(3, 7, MIXED)
    calls = []
    real = F.conv2d

    def spy(*args, **kwargs):
        calls.append(kwargs["dilation"])
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "conv2d", spy)
    conv(torch.randn(1, 3, 8, 8))
    assert sorted(calls) == sorted(set(MIXED))


@pytest.mark.parametrize("hw", [(1, 1), (2, 7), (13, 4)])
def test_keeps_height_and_width(hw):
    conv = InceptionConv2d(2, 4, [(1, 1), (3, 2), (4, 4), (1, 2)])
    x = torch.randn(3, 2, *hw)
    assert conv(x).shape == (3, 4, *hw)
    torch.testing.assert_close(conv(x), per_channel(conv, x), rtol=1e-5, atol=1e-6)


def test_gradcheck_float64():
    conv = InceptionConv2d(2, 4, [(2, 1), (1, 1), (1, 2), (2, 1)]).double()
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_()
    b = conv.bias.detach().clone().requires_grad_()

    def f(x, w, b):
        return torch.func.functional_call(conv, {"weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, w, b))


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="list of out_channels=3"):
        InceptionConv2d(2, 3, [(1, 1)] * 2)
    with pytest.raises(ValueError, match=r"dilations\[1\] must be a pair of ints >= 1"):
        InceptionConv2d(2, 2, [(1, 1), (0, 1)])
    with pytest.raises(ValueError, match=r"dilations\[0\]"):
        InceptionConv2d(2, 1, [(True, 1)])
    with pytest.raises(ValueError, match="in_channels must be an int >= 1"):
        InceptionConv2d(0, 1, [(1, 1)])
    with pytest.raises(ValueError, match=r"expected \(N, 2, H, W\)"):
        InceptionConv2d(2, 1, [(1, 1)])(torch.randn(1, 3, 4, 4))


def test_state_dict_round_trip_restores_the_dilations(tmp_path):
    src = nn.Sequential(InceptionConv2d(3, 7, MIXED), nn.ReLU())
    dst = nn.Sequential(InceptionConv2d(3, 7, [(1, 1)] * 7), nn.ReLU())
    path = tmp_path / "ic.pt"
    torch.save(src.state_dict(), path)
    sd = torch.load(path, weights_only=True)
    assert sd["0.dilation_pairs"].tolist() == [list(d) for d in MIXED]
    dst.load_state_dict(sd)
    assert dst[0].dilations == MIXED
    x = torch.randn(2, 3, 10, 10)
    torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)
    twin = copy.deepcopy(dst)                                  # a copy keeps the restoring hook
    twin.load_state_dict(nn.Sequential(InceptionConv2d(3, 7, [(3, 3)] * 7), nn.ReLU()).state_dict())
    assert twin[0].dilations == [(3, 3)] * 7 and dst[0].dilations == MIXED
    with pytest.raises(RuntimeError, match="size mismatch"):
        InceptionConv2d(3, 6, [(1, 1)] * 6).load_state_dict(InceptionConv2d(3, 7, MIXED).state_dict())


def test_device_and_dtype_moves_keep_the_dilations():
    conv = InceptionConv2d(2, 3, [(2, 1), (1, 1), (1, 2)]).double()
    assert conv.weight.dtype == torch.float64 and conv.dilation_pairs.dtype == torch.int64
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(conv(x), per_channel(conv, x))


def test_default_dilations():
    assert default_dilations(8, 2) == [(1, 1), (1, 1), (1, 2), (1, 2), (2, 1), (2, 1), (2, 2), (2, 2)]
    assert default_dilations(3, 2) == [(1, 1), (1, 2), (2, 1)]
    assert default_dilations(4, 1) == [(1, 1)] * 4
    with pytest.raises(ValueError, match="max_dilation"):
        default_dilations(4, 0)


def _compare_compiled(conv, compiled, x):
    r = torch.randn(x.shape[0], conv.out_channels, *x.shape[2:])
    grads = []
    for fn in (conv, compiled):
        conv.zero_grad()
        xg = x.clone().requires_grad_()
        y = fn(xg)
        (y * r).sum().backward()
        grads.append((y.detach(), xg.grad, conv.weight.grad.clone(), conv.bias.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_torch_compile_fullgraph_aot_eager():
    torch._dynamo.reset()
    conv = InceptionConv2d(3, 5, [(1, 1), (2, 2), (1, 1), (1, 2), (2, 2)])
    _compare_compiled(conv, torch.compile(conv, fullgraph=True, backend="aot_eager"), torch.randn(2, 3, 7, 6))


@pytest.mark.slow
def test_torch_compile_fullgraph_inductor():
    torch._dynamo.reset()
    conv = InceptionConv2d(3, 4, [(1, 1), (2, 2), (1, 1), (1, 2)])
    _compare_compiled(conv, torch.compile(conv, fullgraph=True), torch.randn(2, 3, 7, 6))


# ------------------------------------------------------------------------------------ replace_conv

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        shared = nn.Conv2d(8, 8, 3, padding=1)
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(shared, nn.ReLU(), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 3, padding=2, dilation=2))
        self.again = shared
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)

    def forward(self, x):
        return self.down(self.again(self.body(self.stem(x))))


def test_replace_conv_keeps_weights_and_function():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(2, 3, 12, 12)
    ref = net(x)
    with pytest.warns(UserWarning, match=r"left 1 3x3 conv.*down \(stride=\(2, 2\)"):
        out, names = replace_conv(net, (1, 1), inplace=False, return_names=True)
    assert names == ["stem", "body.0", "body.3", "again"]
    assert isinstance(net.stem, nn.Conv2d)                    # not in place: the original is untouched
    assert out.body[0] is out.again and isinstance(out.again, InceptionConv2d)   # sharing kept
    assert isinstance(out.body[2], nn.Conv2d) and isinstance(out.down, nn.Conv2d)  # 1x1 and strided left
    assert out.body[3].dilations == [(1, 1)] * 8               # its own dilation 2 is replaced too
    out.body[3].set_dilations([(2, 2)] * 8)                    # ... so give it back to compare
    torch.testing.assert_close(out(x), ref, rtol=1e-5, atol=1e-6)


def test_replace_conv_by_name_and_by_list():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)).double()
    pats = [(1, 1), (1, 2), (2, 1), (2, 2)]
    out = replace_conv(net, {"1": pats}, inplace=False)
    assert isinstance(out[0], nn.Conv2d) and out[1].dilations == pats and out[1].weight.dtype == torch.float64
    torch.testing.assert_close(out[1].weight, net[1].weight)
    out = replace_conv(net, pats, inplace=False)
    assert out[0].dilations == pats and out[1].dilations == pats
    with pytest.raises(ValueError, match="no 3x3 nn.Conv2d named \\['2'\\]"):
        replace_conv(net, {"2": pats}, inplace=False)
    with pytest.raises(ValueError, match="replace_conv: 0: dilations must be a list of out_channels=4"):
        replace_conv(net, pats[:3], inplace=False)
    strided = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2))
    with pytest.raises(ValueError, match="0 cannot become an InceptionConv2d: stride"):
        replace_conv(strided, {"0": (1, 1)})
    with pytest.warns(UserWarning, match="nothing was replaced"):
        replace_conv(nn.Sequential(nn.Conv2d(3, 4, 1)))
    assert isinstance(replace_conv(nn.Conv2d(2, 2, 3, padding="same")), InceptionConv2d)  # the model is a conv


# ------------------------------------------------------------------------------------ EDO

def planted_supernet(cin: int, pats: list, d: int, gen: torch.Generator) -> nn.Conv2d:
    """A supernet conv whose channel o is exactly a dilated 3x3 kernel with pattern pats[o]."""
    sup = nn.Conv2d(cin, len(pats), 2 * d + 1, padding=d)
    with torch.no_grad():
        sup.weight.zero_()
        for o, (dy, dx) in enumerate(pats):
            sup.weight[o, :, d - dy: d + dy + 1: dy, d - dx: d + dx + 1: dx] = torch.randn(cin, 3, 3, generator=gen)
        sup.bias.normal_(generator=gen)
    return sup


@pytest.mark.parametrize("d", [2, 3])
def test_edo_recovers_planted_patterns(d):
    gen = torch.Generator().manual_seed(d)
    every = [(dy, dx) for dy in range(1, d + 1) for dx in range(1, d + 1)]
    pats = every + random.Random(d).choices(every, k=5)
    sup = planted_supernet(4, pats, d, gen)
    x = torch.randn(3, 4, 14, 13, generator=gen)
    ic = edo_search(sup, [x[:2], x[2:]], max_dilation=d)      # an iterable of batches
    assert ic.dilations == pats
    torch.testing.assert_close(ic(x), sup(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ic.bias, sup.bias)


def test_edo_picks_the_smallest_mean_absolute_error():
    """On a dense (not planted) supernet, the pick is the argmin of the issue's criterion, per channel."""
    sup = nn.Conv2d(3, 6, 5, padding=2)
    x = torch.randn(2, 3, 9, 10)
    ic = edo_search(sup, x, max_dilation=2)
    ref = sup(x)
    for o in range(6):
        errs = {}
        for p in [(1, 1), (1, 2), (2, 1), (2, 2)]:
            w = crop_pattern(sup.weight[o:o + 1], p)
            errs[p] = (F.conv2d(x, w, sup.bias[o:o + 1], padding=p, dilation=p) - ref[:, o:o + 1]).abs().mean().item()
        assert ic.dilations[o] == min(errs, key=errs.get)
        torch.testing.assert_close(ic.weight[o], crop_pattern(sup.weight, ic.dilations[o])[o])


def test_edo_search_rejects_a_conv_that_is_not_a_supernet():
    with pytest.raises(ValueError, match="has kernel_size=\\(3, 3\\); a supernet layer for max_dilation=2"):
        edo_search(nn.Conv2d(2, 2, 3, padding=1), torch.randn(1, 2, 5, 5), 2)
    with pytest.raises(ValueError, match="no inputs were given"):
        edo_search(nn.Conv2d(2, 2, 5, padding=2), [], 2)
    with pytest.raises(ValueError, match=r"inputs must be \(N, 2, H, W\)"):
        edo_search(nn.Conv2d(2, 2, 5, padding=2), torch.randn(1, 3, 5, 5), 2)


def test_make_supernet_keep_weights_starts_as_the_model():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=(2, 1), dilation=(2, 1)))
    x = torch.randn(2, 3, 9, 9)
    sup, names = make_supernet(net, 2, inplace=False, keep_weights=True, return_names=True)
    assert names == ["0", "2"] and sup[0].kernel_size == (5, 5) and sup[2].padding == (2, 2)
    torch.testing.assert_close(sup(x), net(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="dilation \\(2, 1\\) > max_dilation=1"):
        make_supernet(net, 1, inplace=False, keep_weights=True)


def test_edo_convert_a_whole_supernet_then_replace_conv_a_fresh_body():
    """The workflow: body -> supernet -> (planted 'training') -> EDO -> patterns -> a fresh IC body."""
    gen = torch.Generator().manual_seed(0)
    body = make_body("plain", 4, 2)
    sup = make_supernet(body, 2)
    every = [(1, 1), (1, 2), (2, 1), (2, 2)]
    planted = {}
    for name, m in sup.named_modules():
        if isinstance(m, nn.Conv2d):
            planted[name] = [every[int(i)] for i in torch.randint(0, 4, (4,), generator=gen)]
            m.weight.data = planted_supernet(4, planted[name], 2, gen).weight.data
    x = torch.randn(4, 4, 10, 10, generator=gen)
    ref = sup(x)
    sup.train()
    searched, patterns = edo_convert(sup, [x[:2], x[2:]], 2)
    assert patterns == planted and sup.training and searched.training
    assert all(isinstance(m, InceptionConv2d) for n, m in searched.named_modules() if n in planted)
    torch.testing.assert_close(searched(x), ref, rtol=1e-4, atol=1e-5)
    fresh = make_body("ic", 4, 2, dilations=patterns)
    assert {n: m.dilations for n, m in fresh.named_modules() if isinstance(m, InceptionConv2d)} == planted
    unused = nn.ModuleDict({"used": nn.Conv2d(4, 4, 5, padding=2), "spare": nn.Conv2d(4, 4, 5, padding=2)})
    unused.forward = lambda x: unused["used"](x)
    with pytest.raises(ValueError, match="supernet conv spare received no input"):
        edo_convert(unused, [x], 2)
    with pytest.raises(ValueError, match="no supernet conv for max_dilation=3"):
        edo_convert(make_supernet(make_body("plain", 4, 1), 2), [x], 3)
