"""SR models: upsamplers, SRNet presets, baselines, checkpoints and a quick learning check."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import inter4k.models as M
from inter4k.data.resize import imresize
from inter4k.metrics import psnr
from inter4k.models import weights as W
from inter4k.models.baselines import BASELINES, is_baseline
from inter4k.models.registry import register_model
from inter4k.models.sr import SRNet, count_params, srnet_params
from inter4k.models.upsamplers import (
    UPSAMPLERS, TransposedUpsample, bicubic_upsample, create_upsampler, register_upsampler,
    upsampler_params, PixelShuffleUpsample,
)

SCALES = (2, 3, 4)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: these small tensors gain little from more, and on a busy machine (other
    test runs alongside) two spinning threads on two cores ran the learning check 4-8x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def learned_models() -> list[str]:
    """The SRNet presets (their upsamplers and match_params; LowResSRNet's are in test_lowres_sr.py)."""
    return sorted(M.SR_PRESETS)


def test_registry_contents():
    assert {"sr-small", "sr-base", "bicubic", "bilinear", "nearest"} <= set(M.list_models("sr"))
    assert UPSAMPLERS[0] == "adaunpool"
    assert set(UPSAMPLERS) == {"adaunpool", "pixelshuffle", "transposed", "bilinear", "nearest"}


@pytest.mark.parametrize("scale", SCALES)
def test_every_model_and_upsampler_shape(scale):
    x = torch.rand(2, 3, 7, 10)
    for name in learned_models():
        for up in UPSAMPLERS:
            model = M.create_model(name, scale=scale, upsampler=up)
            y = model(x)
            assert y.shape == (2, 3, 7 * scale, 10 * scale), (name, up)
            assert torch.isfinite(y).all(), (name, up)
            assert model.config["upsampler"] == up and model.config["scale"] == scale
            assert model.scale == scale and model.model_name == name
    for name in BASELINES:
        y = M.create_model(name, scale=scale)(x)
        assert y.shape == (2, 3, 7 * scale, 10 * scale), name


@pytest.mark.parametrize("kind", UPSAMPLERS)
@pytest.mark.parametrize("scale", SCALES)
def test_upsampler_shape_and_params(kind, scale):
    up = create_upsampler(kind, 6, scale)
    assert up(torch.randn(2, 6, 5, 3)).shape == (2, 6, 5 * scale, 3 * scale)
    # the closed forms documented in upsamplers.py / docs/MODELS.md
    c, s = 6, scale
    k = 2 * s if s % 2 == 0 else 3 * s
    expected = {"adaunpool": 36 * c * s * s + 4 * s * s + 9 * c * c + c + 1,
                "pixelshuffle": 9 * c * c * s * s + c * s * s,
                "transposed": c * c * k * k + c,
                "bilinear": 9 * c * c + c, "nearest": 9 * c * c + c}[kind]
    assert count_params(up) == upsampler_params(kind, c, s) == expected


def test_unknown_upsampler_lists_known():
    with pytest.raises(ValueError, match="pixelshuffle"):
        create_upsampler("lanczos", 8, 2)
    with pytest.raises(ValueError, match="adaunpool"):
        M.create_model("sr-small", scale=2, upsampler="lanczos")


@pytest.mark.parametrize("scale", SCALES)
def test_untrained_srnet_is_exactly_bicubic(scale):
    x = torch.rand(2, 3, 9, 6)
    ref = imresize(x, scale=scale)
    bic = M.create_model("bicubic", scale=scale)(x)
    for name in learned_models():
        for up in UPSAMPLERS:
            y = M.create_model(name, scale=scale, upsampler=up)(x)
            assert torch.equal(y, bic), (name, up)
    torch.testing.assert_close(bic, ref, atol=1e-5, rtol=0)


def test_bicubic_upsample_equals_matlab_imresize():
    for scale in (1, 2, 3, 4, 5):
        for h, w in ((1, 1), (1, 4), (2, 3), (5, 8), (17, 12)):
            x = torch.rand(2, 3, h, w, dtype=torch.float64)
            torch.testing.assert_close(bicubic_upsample(x, scale), imresize(x, scale=scale), atol=1e-12, rtol=0)
    x = torch.rand(3, 10, 11)
    assert bicubic_upsample(x.bfloat16(), 2).dtype == torch.bfloat16
    with pytest.raises(ValueError):
        bicubic_upsample(x, 1.5)


@pytest.mark.parametrize("scale", SCALES)
def test_baselines_match_references(scale):
    x = torch.rand(2, 3, 8, 11)
    torch.testing.assert_close(M.create_model("bicubic", scale=scale)(x), imresize(x, scale=scale),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(M.create_model("bilinear", scale=scale)(x),
                               F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False))
    assert torch.equal(M.create_model("nearest", scale=scale)(x), x.repeat_interleave(scale, -2).repeat_interleave(scale, -1))
    for name in BASELINES:
        m = M.create_model(name, scale=scale)
        assert count_params(m) == 0 and len(m.state_dict()) == 0


def test_is_baseline_names_exactly_the_models_without_parameters():
    # one list per task (BASELINES, VFI_BASELINES) behind is_baseline, which the loader and the resolver ask
    for name in M.list_models():
        model = M.create_model(name, **({"scale": 2} if M.registry.model_task(name) == "sr" else {}))
        assert is_baseline(name) == (count_params(model) == 0), name
    assert set(M.BASELINES) | set(M.VFI_BASELINES) == {n for n in M.list_models() if is_baseline(n)}


def test_transposed_starts_bilinear_and_pixelshuffle_icnr():
    x = torch.rand(1, 4, 10, 12)
    for s in SCALES:
        y = TransposedUpsample(4, s)(x)
        ref = F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        torch.testing.assert_close(y[..., s:-s, s:-s], ref[..., s:-s, s:-s], atol=1e-5, rtol=0)
        y = PixelShuffleUpsample(4, s)(x)  # ICNR: every s x s block is constant
        assert torch.allclose(y, y[..., ::s, ::s].repeat_interleave(s, -2).repeat_interleave(s, -1), atol=1e-6)


@pytest.mark.parametrize("up", UPSAMPLERS)
def test_gradients_reach_every_parameter(up):
    model = M.create_model("sr-small", scale=3, upsampler=up)
    x, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 24, 24)
    # at init the tail is zero, so only the tail gets a gradient; after it moves, everything does
    (model(x) - target).abs().mean().backward()
    assert model.tail.weight.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for n, p in model.named_parameters() if not n.startswith("tail"))
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    model.zero_grad()
    (model(x) - target).abs().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n


def test_parameter_counts(capsys):
    rows = []
    for name in learned_models():
        for s in SCALES:
            for up in UPSAMPLERS:
                n = count_params(M.create_model(name, scale=s, upsampler=up))
                mm = M.create_model(name, scale=s, upsampler=up, match_params=True)
                nm = count_params(mm)
                rows.append(f"{name:9s} x{s} {up:12s} {n:9d}  matched: C={mm.config['channels']:3d} {nm:9d}")
                ref = srnet_params(**{**mm.config, "upsampler": "adaunpool", "channels": M.SR_PRESETS[name]["channels"]})
                # one channel more or less moves sr-small by ~6%, so the closest width is within ~3%
                assert abs(nm - ref) / ref < 0.035, (name, s, up, nm, ref)
                assert srnet_params(**mm.config) == nm
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert count_params(M.create_model("sr-small", scale=4)) < 100_000
    assert 500_000 < count_params(M.create_model("sr-base", scale=4)) < 1_000_000
    m = M.create_model("sr-small", scale=2, upsampler="pixelshuffle", match_params=50_000)
    assert abs(count_params(m) - 50_000) < 3_000
    with pytest.raises(ValueError, match="match_params"):
        M.create_model("sr-small", scale=2, match_params=-5)


def test_fully_convolutional_any_size():
    model = M.create_model("sr-small", scale=3)
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    for h, w in ((1, 1), (3, 17), (16, 5)):
        assert model(torch.rand(1, 3, h, w)).shape == (1, 3, 3 * h, 3 * w)
    # a crop of the input gives the same interior output (no global state, translation equivariant)
    # (receptive field: 8 LR convs, the upsampler's guide conv, 2 HR convs: about 10 LR pixels)
    x = torch.rand(1, 3, 32, 32)
    full, part = model(x), model(x[..., :24, :24])
    torch.testing.assert_close(part[..., : 3 * 12, : 3 * 12], full[..., : 3 * 12, : 3 * 12], atol=1e-5, rtol=0)
    assert not torch.allclose(part[..., -3:, -3:], full[..., 69:72, 69:72], atol=1e-3)
    with pytest.raises(ValueError):
        model(torch.rand(1, 4, 8, 8))


def _perturbed(name="sr-small", scale=2, **kw):
    model = M.create_model(name, scale=scale, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def test_save_load_round_trip(tmp_path):
    x = torch.rand(1, 3, 12, 10)
    model = _perturbed("sr-small", 2, upsampler="pixelshuffle", match_params=True)
    path = W.save_model(model, tmp_path / "sub" / "m.pt", meta={"psnr": np.float64(31.5), "root": tmp_path})
    assert not [p for p in path.parent.iterdir() if p.name != "m.pt"], "temp file left behind"
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == "inter4k-model/1" and ckpt["name"] == "sr-small"
    loaded = W.load_model(path)
    assert loaded.config == model.config and not loaded.training
    assert loaded.meta == {"psnr": 31.5, "root": str(tmp_path)}
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert torch.equal(W.load_model(str(path), scale=2)(x), loaded(x))
    with pytest.raises(ValueError, match="x2"):
        W.load_model(path, scale=4)
    # a baseline round-trips too
    b = W.load_model(W.save_model(M.create_model("bicubic", scale=3), tmp_path / "b.pt"))
    assert torch.equal(b(x), imresize(x, scale=3)) or torch.allclose(b(x), imresize(x, scale=3), atol=1e-5)


def test_load_training_style_checkpoint(tmp_path):
    x = torch.rand(2, 3, 9, 9)
    model = _perturbed("sr-small", 3, upsampler="transposed")
    sd = {"module." + k: v for k, v in model.state_dict().items()}  # as DDP would save it
    ckpt = {"model": sd, "optimizer": {"state": {}}, "step": 1200, "epoch": 3,
            "config": {"model": "sr-small", "model_kwargs": {"upsampler": "transposed"}, "scale": 3, "lr": 2e-4}}
    torch.save(ckpt, tmp_path / "last.pt")
    loaded = W.load_model(tmp_path / "last.pt", device="cpu")
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded.meta["step"] == 1200 and loaded.meta["train_config"]["lr"] == 2e-4
    # the trainer's layout: model_name + model_config (model.config) next to the training config
    m2 = _perturbed("sr-small", 2, upsampler="bilinear", match_params=True)
    torch.save({"format": "inter4k-sr-checkpoint", "version": 1, "step": 7, "model_name": "sr-small",
                "model_config": m2.config, "model": m2.state_dict(), "metrics": {"best_psnr_y": 30.0},
                "config": {"model": "sr-small", "scale": 2, "upsampler": "bilinear",
                           "model_kwargs": {"upsampler": "bilinear", "match_params": True}}},
               tmp_path / "trainer.pt")
    loaded2 = W.load_model(tmp_path / "trainer.pt", scale=2)
    assert loaded2.config == m2.config and loaded2.meta["metrics"]["best_psnr_y"] == 30.0
    with torch.no_grad():
        assert torch.equal(loaded2(x), m2(x))
    # weights of another architecture are refused with the names of what does not fit
    ckpt["config"]["model_kwargs"]["upsampler"] = "adaunpool"
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit"):
        W.load_model(tmp_path / "bad.pt")


def test_load_model_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(ValueError, match="sr-small") as e:
        W.load_model("sr-huge", scale=2)
    assert "bicubic" in str(e.value)
    with pytest.raises(FileNotFoundError) as e:
        W.load_model("sr-small", scale=4)
    assert str(tmp_path / "w" / "sr-small_x4.pt") in str(e.value) and "train-sr" in str(e.value)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        W.load_model(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="scale"):
        W.load_model("sr-small")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="not an inter4k model checkpoint"):
        W.load_model(tmp_path / "junk.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a loadable checkpoint"):
        W.load_model(tmp_path / "text.pt")
    m = W.load_model("bicubic", scale=2)
    assert m(torch.rand(1, 3, 4, 4)).shape == (1, 3, 8, 8)


def test_bundled_weights_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("INTER4K_WEIGHTS", str(tmp_path))
    assert W.weights_dir() == tmp_path and W.bundled_weights() == []
    with pytest.raises(FileNotFoundError, match="sr-base_x2.pt"):
        W.default_sr_model(2)
    model = _perturbed("sr-small", 2)
    W.save_model(model, W.weights_path("sr-small", 2))
    assert W.bundled_weights() == [{"name": "sr-small", "scale": 2, "path": tmp_path / "sr-small_x2.pt"}]
    assert W.default_sr_model(2) == "sr-small"
    with pytest.raises(FileNotFoundError, match="x4"):
        W.default_sr_model(4)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(W.load_model("sr-small", scale=2)(x), model(x))
    monkeypatch.delenv("INTER4K_WEIGHTS")
    assert W.weights_dir().parts[-2:] == ("data", "weights")


def test_registry_rejects_duplicates():
    with pytest.raises(ValueError, match="twice"):
        register_model("sr-small")(lambda **kw: None)
    with pytest.raises(ValueError, match="twice"):
        register_upsampler("adaunpool")(lambda c, s: None)
    with pytest.raises(ValueError, match="unknown model"):
        M.create_model("no-such-model")


def test_srnet_config_rebuilds():
    m = SRNet(scale=3, channels=12, blocks=2, upsampler="nearest", res_scale=0.1)
    assert count_params(SRNet(**m.config)) == count_params(m)
    m2 = M.create_model("sr-base", **m.config)
    assert m2.config == m.config
    with pytest.raises(ValueError):
        SRNet(scale=1)


def _img(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float().div(255).unsqueeze(0)


def test_sr_small_learns_beyond_bicubic():
    skimage_data = pytest.importorskip("skimage.data")
    astro, coffee = _img(skimage_data.astronaut()), _img(skimage_data.coffee())
    hr_test = coffee[..., 100:228, 200:328]
    lr_test = imresize(hr_test, scale=0.5)
    torch.manual_seed(0)
    model = M.create_model("sr-small", scale=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    h, w = astro.shape[-2:]
    t0 = time.perf_counter()
    for _ in range(150):
        ys = torch.randint(0, h - 48, (8,), generator=g).tolist()
        xs = torch.randint(0, w - 48, (8,), generator=g).tolist()
        hr = torch.cat([astro[..., y:y + 48, x:x + 48] for y, x in zip(ys, xs)])
        loss = (model(imresize(hr, scale=0.5)) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        sr = model.eval()(lr_test).clamp(0, 1)
    bic = M.create_model("bicubic", scale=2)(lr_test).clamp(0, 1)
    p_bic, p_sr = psnr(bic, hr_test, crop_border=2).item(), psnr(sr, hr_test, crop_border=2).item()
    print(f"\nsr-small x2, 150 Adam steps ({seconds:.1f} s): coffee crop PSNR-Y bicubic {p_bic:.2f} dB, "
          f"sr-small {p_sr:.2f} dB ({p_sr - p_bic:+.2f})")
    assert p_sr > p_bic + 0.5, (p_bic, p_sr)
