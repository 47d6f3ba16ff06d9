"""inter4k.metrics.LPIPS: no download, a clear error without trunk weights, and correct maths with them.

The real ImageNet AlexNet weights are not on this machine (and there is no network), so the tests save
a randomly initialised torchvision ``alexnet()`` state dict where torchvision would cache the real one.
The maths is then checked against an independent LPIPS written here from the paper / package layout.
"""

from pathlib import Path

import lpips as lpips_package
import pytest
import torch
import torch.nn.functional as F
import torchvision
import torchvision.models._api as tv_api

import inter4k.metrics.perceptual as perceptual
from inter4k.metrics import LPIPS, LPIPSUnavailable, lpips_status

WEIGHTS_NAME = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1 file
RELU_TAPS = (1, 4, 7, 9, 11)  # the AlexNet ``features`` outputs LPIPS compares (after each ReLU)
# lpips' ScalingLayer: ImageNet mean/std expressed for inputs in [-1, 1].
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def random_trunk_file(tmp_path_factory):
    """A full random torchvision alexnet() state dict (classifier included, as the real file), once per module."""
    torch.manual_seed(1234)
    state = torchvision.models.alexnet().state_dict()
    path = tmp_path_factory.mktemp("torch_home") / "hub" / "checkpoints" / WEIGHTS_NAME
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


def _use_torch_home(monkeypatch, torch_home: Path):
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    # torch.hub.set_dir() (if anything called it) outranks TORCH_HOME: clear it for this test only.
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download weights fails the test instead of hanging on a machine without network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)


@pytest.fixture
def with_trunk(monkeypatch, random_trunk_file, no_download):
    _use_torch_home(monkeypatch, random_trunk_file.parents[2])
    return random_trunk_file


@pytest.fixture(scope="module")
def _metric_cache():
    return {}


@pytest.fixture
def metric(with_trunk, _metric_cache):
    if "cpu" not in _metric_cache:
        _metric_cache["cpu"] = LPIPS(device="cpu")
    return _metric_cache["cpu"]


def _reference_lpips(pred, ref, trunk_state, lin_state):
    """LPIPS v0.1 written out: scale, AlexNet ReLU taps, unit-normalise channels, squared diff, 1x1 lin, mean."""
    trunk = torchvision.models.alexnet().features
    trunk.load_state_dict({k[len("features.") :]: v for k, v in trunk_state.items() if k.startswith("features.")})
    trunk.eval()

    def taps(x):
        x = ((2 * x - 1) - SHIFT) / SCALE
        outs = []
        for index, layer in enumerate(trunk[: RELU_TAPS[-1] + 1]):  # the final max-pool is not used
            x = layer(x)
            if index in RELU_TAPS:
                outs.append(x)
        return outs

    with torch.no_grad():
        total = 0
        for level, (fp, fr) in enumerate(zip(taps(pred), taps(ref))):
            fp = fp / (fp.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            fr = fr / (fr.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            weight = lin_state[f"lin{level}.model.1.weight"]
            total = total + F.conv2d((fp - fr) ** 2, weight).mean((2, 3))
    return total.flatten()


def test_weights_file_name_and_folder_come_from_torchvision_and_torch_hub(monkeypatch, tmp_path):
    _use_torch_home(monkeypatch, tmp_path)
    assert perceptual.trunk_weights_url("alex") == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    assert perceptual.trunk_weights_path("alex") == tmp_path / "hub" / "checkpoints" / WEIGHTS_NAME


def test_absent_weights_raise_with_the_file_and_folder(monkeypatch, tmp_path, no_download):
    _use_torch_home(monkeypatch, tmp_path)
    folder = tmp_path / "hub" / "checkpoints"
    url = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    want = (
        f"LPIPS unavailable: the alex trunk weights file '{WEIGHTS_NAME}' is not in {folder} "
        f"(torch.hub.get_dir()/checkpoints); nothing is downloaded here -- fetch {url} "
        f"on a machine with network and copy it into that folder (or point TORCH_HOME at a cache holding it)"
    )
    with pytest.raises(LPIPSUnavailable) as caught:
        LPIPS(device="cpu")
    assert str(caught.value) == want
    assert isinstance(caught.value, RuntimeError)
    assert lpips_status() == (False, want)


def test_unreadable_or_wrong_weights_are_reported(monkeypatch, tmp_path, no_download):
    _use_torch_home(monkeypatch, tmp_path)
    path = tmp_path / "hub" / "checkpoints" / WEIGHTS_NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(LPIPSUnavailable, match="cannot read trunk weights"):
        LPIPS(device="cpu")
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, path)
    with pytest.raises(LPIPSUnavailable, match=r"features\.0\.bias is missing"):
        LPIPS(device="cpu")


def test_unknown_net_is_a_value_error():
    with pytest.raises(ValueError, match="unknown net 'resnet'; known: alex"):
        lpips_status("resnet")
    with pytest.raises(ValueError, match="unknown net"):
        LPIPS(net="resnet")


def test_trunk_and_linear_layers_hold_the_files_tensors(metric, with_trunk):
    ok, why = lpips_status()
    assert ok and str(with_trunk) in why
    file_state = torch.load(with_trunk, map_location="cpu", weights_only=True)
    trunk = metric.model.net.state_dict()
    assert len(trunk) == 10  # 5 convolutions, weight + bias each
    for name, tensor in trunk.items():
        assert torch.equal(tensor, file_state["features." + name.split(".", 1)[1]]), name
    # A fresh random alexnet differs: equality above is not a coincidence of initialisation.
    assert not torch.equal(torchvision.models.alexnet().features[0].weight, file_state["features.0.weight"])
    lin_file = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "alex.pth"
    lin_state = torch.load(lin_file, map_location="cpu", weights_only=True)
    for level in range(5):
        key = f"lin{level}.model.1.weight"
        assert torch.equal(metric.model.state_dict()[key], lin_state[key]), key
    assert not any(p.requires_grad for p in metric.model.parameters())


def test_lpips_matches_an_independent_implementation(metric, with_trunk, one_thread):
    pred, ref = torch.rand(2, 3, 48, 64), torch.rand(2, 3, 48, 64)
    lin_file = Path(lpips_package.__file__).parent / "weights" / "v0.1" / "alex.pth"
    trunk_state = torch.load(with_trunk, map_location="cpu", weights_only=True)
    lin_state = torch.load(lin_file, map_location="cpu", weights_only=True)
    want = _reference_lpips(pred, ref, trunk_state, lin_state)
    got = metric(pred, ref)
    assert got.shape == (2,) and got.dtype == torch.float32 and not got.requires_grad
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_lpips_identity_symmetry_batch_and_shapes(metric, one_thread):
    a = torch.rand(3, 3, 40, 52)
    b = (a + 0.2 * torch.randn_like(a)).clamp(0, 1)
    assert metric(a, a).tolist() == [0.0, 0.0, 0.0]
    d_ab = metric(a, b)
    assert (d_ab > 0).all()
    torch.testing.assert_close(d_ab, metric(b, a), rtol=1e-4, atol=1e-6)
    per_image = torch.cat([metric(p, r) for p, r in zip(a, b)])  # (3, H, W) inputs give (1,)
    torch.testing.assert_close(d_ab, per_image, rtol=1e-4, atol=1e-6)
    # Inputs out of [0, 1] are compared as the clamped images.
    torch.testing.assert_close(metric(a * 1.5 - 0.2, b), metric((a * 1.5 - 0.2).clamp(0, 1), b))
    assert metric(torch.rand(1, 3, 31, 31), torch.rand(1, 3, 31, 31)).shape == (1,)


def test_lpips_input_errors(metric):
    with pytest.raises(ValueError, match="differ in shape"):
        metric(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 33))
    with pytest.raises(ValueError, match=r"\(30, 64\) are too small for the alex trunk"):
        metric(torch.zeros(1, 3, 30, 64), torch.zeros(1, 3, 30, 64))
    with pytest.raises(ValueError, match=r"expected \(N, 3, H, W\) RGB images"):
        metric(torch.zeros(1, 4, 32, 32), torch.zeros(1, 4, 32, 32))


def test_lpips_on_every_device_matches_cpu(metric, device, with_trunk):
    on_device = LPIPS(device=device)
    pred, ref = torch.rand(2, 3, 40, 48), torch.rand(2, 3, 40, 48)
    got = on_device(pred.to(device), ref.to(device))
    assert got.device.type == device.type
    # Loose: cuDNN convolutions may run in TF32 (PyTorch's default for convolutions), ~1e-3 relative.
    torch.testing.assert_close(got.cpu(), metric(pred, ref), rtol=1e-2, atol=1e-4)
    # CPU inputs are moved to the metric's device and the result comes back on the inputs' device.
    assert on_device(pred, ref).device.type == "cpu"
