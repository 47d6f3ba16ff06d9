"""LPIPS (docs/EVALUATE.md#lpips): the ``lpips`` package, AlexNet trunk, version 0.1, on RGB scaled to [-1, 1].

The package ships its calibrated linear layers, but its AlexNet trunk is torchvision's ImageNet model,
which torchvision would download into the torch hub cache. This machine may have no network, and a
download attempt there can hang, so nothing is fetched here: the trunk weights are read from the file
torchvision would have cached (``torch.hub.get_dir()/checkpoints/<url basename>``), and when it is
absent the metric is unavailable and says which file to put where.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import torch

from ._inputs import as_image_batch

LPIPS_VERSION = "0.1"
# lpips trunk name -> (torchvision weights enum, member): the weights lpips' own trunk would download.
_TRUNK_WEIGHTS = {"alex": ("AlexNet_Weights", "IMAGENET1K_V1")}
KNOWN_NETS = tuple(_TRUNK_WEIGHTS)
# Smallest side AlexNet's strides and poolings accept (conv 11/4, pool 3/2, pool 3/2).
MIN_SIDE = {"alex": 31}


class LPIPSUnavailable(RuntimeError):
    """LPIPS cannot be built here: the trunk weights file is missing or unreadable, or ``lpips`` is absent."""


def _check_net(net: str) -> None:
    if net not in _TRUNK_WEIGHTS:
        raise ValueError(f"LPIPS: unknown net {net!r}; known: {', '.join(KNOWN_NETS)}")


def trunk_weights_url(net: str = "alex") -> str:
    """The URL torchvision downloads the ``net`` trunk weights from (read from torchvision's weights enum).

    Examples:
        >>> trunk_weights_url("alex").rsplit("/", 1)[-1]
        'alexnet-owt-7be5be79.pth'
    """
    _check_net(net)
    from torchvision import models

    enum_name, member = _TRUNK_WEIGHTS[net]
    return getattr(models, enum_name)[member].url


def trunk_weights_path(net: str = "alex") -> Path:
    """Where torchvision keeps the ``net`` trunk weights: ``torch.hub.get_dir()/checkpoints/<url basename>``.

    Follows ``TORCH_HOME`` and ``torch.hub.set_dir`` as torchvision's own loader does. The file need not exist.
    """
    file_name = os.path.basename(urlparse(trunk_weights_url(net)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def _missing_reason(net: str) -> str | None:
    """Why LPIPS(net) cannot be built (cheap checks only: packages present, weights file present), or None."""
    _check_net(net)
    for package in ("lpips", "torchvision"):
        if importlib.util.find_spec(package) is None:
            return f"LPIPS unavailable: the {package!r} package is not installed"
    path = trunk_weights_path(net)
    if not path.is_file():
        return (
            f"LPIPS unavailable: the {net} trunk weights file {path.name!r} is not in {path.parent} "
            f"(torch.hub.get_dir()/checkpoints); nothing is downloaded here -- fetch {trunk_weights_url(net)} "
            f"on a machine with network and copy it into that folder (or point TORCH_HOME at a cache holding it)"
        )
    return None


def lpips_status(net: str = "alex") -> tuple[bool, str]:
    """Whether ``LPIPS(net)`` can be built here, and a one-line explanation (the fix when it cannot).

    Only checks that the packages and the trunk weights file are present (it does not load the file).

    Examples:
        >>> ok, why = lpips_status()
        >>> isinstance(ok, bool) and "alexnet" in why
        True
    """
    reason = _missing_reason(net)
    if reason is not None:
        return False, reason
    return True, f"LPIPS ({net}, v{LPIPS_VERSION}) ready: trunk weights at {trunk_weights_path(net)}"


def _load_trunk(model: torch.nn.Module, path: Path) -> None:
    """Copy torchvision's ``features.<i>.*`` tensors from ``path`` into lpips' ``net.slice<k>.<i>.*``.

    lpips' trunk keeps torchvision's layer indices inside its slices, so each trunk tensor has exactly
    one source; a file without all of them (or with other shapes) is rejected rather than half-loaded.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- any unreadable file means the same thing to the caller
        raise LPIPSUnavailable(f"LPIPS unavailable: cannot read trunk weights {path}: {error}") from error
    trunk = model.net.state_dict()
    loaded = {}
    for name, tensor in trunk.items():
        source = "features." + name.split(".", 1)[1]  # "slice2.3.weight" -> "features.3.weight"
        if source not in state or state[source].shape != tensor.shape:
            found = tuple(state[source].shape) if source in state else "missing"
            raise LPIPSUnavailable(
                f"LPIPS unavailable: {path} is not torchvision's trunk for lpips: {source} is {found}, "
                f"expected {tuple(tensor.shape)}"
            )
        loaded[name] = state[source]
    model.net.load_state_dict(loaded, strict=True)


class LPIPS:
    """LPIPS distance (``lpips`` package, v0.1) between RGB images in [0, 1]; lower is more similar.

    Built without any download: the trunk weights must already be in the torch hub cache (see
    :func:`lpips_status`), otherwise the constructor raises :class:`LPIPSUnavailable` naming the file
    and the folder. ``device=None`` picks CUDA when available, else the CPU. Images are compared whole
    (no border crop), each scaled to [-1, 1] as the package expects.

    Examples:
        >>> metric = LPIPS()  # doctest: +SKIP
        >>> metric(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)).shape  # doctest: +SKIP
        torch.Size([2])
    """

    def __init__(self, net: str = "alex", device: torch.device | str | None = None):
        reason = _missing_reason(net)
        if reason is not None:
            raise LPIPSUnavailable(reason)
        import lpips

        self.net = net
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        with warnings.catch_warnings():
            # pnet_rand=True: lpips asks torchvision for an untrained trunk (through its deprecated
            # ``pretrained=`` argument) instead of downloading one; the trunk is filled from the file below.
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version=LPIPS_VERSION, pretrained=True, pnet_rand=True, verbose=False)
        _load_trunk(model, trunk_weights_path(net))
        self.model = model.eval().requires_grad_(False).to(self.device)

    def __call__(self, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """LPIPS of (N, 3, H, W) (or (3, H, W)) images in [0, 1]: one float32 value per image.

        Inputs are clamped to [0, 1], as an image file would be; no gradient is kept. The result is on
        ``pred``'s device. Both sides must be at least 31 pixels (AlexNet's poolings need that much).

        Shape: ``pred``, ``ref``: ``(N, 3, H, W)`` or ``(3, H, W)`` -> ``(N,)``.
        """
        pred, ref = as_image_batch(pred, ref, "lpips")
        min_side = MIN_SIDE[self.net]
        if min(pred.shape[-2:]) < min_side:
            raise ValueError(
                f"lpips: images of {tuple(pred.shape[-2:])} are too small for the {self.net} trunk "
                f"(both sides must be at least {min_side})"
            )
        with torch.inference_mode():
            p = pred.to(self.device, torch.float32).clamp(0, 1) * 2 - 1
            r = ref.to(self.device, torch.float32).clamp(0, 1) * 2 - 1
            distance = self.model(p, r).flatten()
        return distance.to(pred.device)

    def __repr__(self) -> str:
        return f"LPIPS(net={self.net!r}, version={LPIPS_VERSION!r}, device={str(self.device)!r})"
