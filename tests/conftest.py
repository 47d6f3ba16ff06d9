"""Shared pytest setup for the adaunpool test suite.

* ``ADAUNPOOL_BACKEND`` defaults to ``compiled`` *before* adaunpool is imported, so a kernel build
  that fails makes the suite fail instead of silently falling back to the pure-PyTorch reference.
  Run with ``ADAUNPOOL_BACKEND=reference`` to exercise the test logic against the reference only;
  the tests that need the compiled ops then skip and say so.
* Every test gets its own deterministic RNG seed, derived from its node id.
* Tests marked ``cuda`` skip when no CUDA GPU is visible.
* Every test renders rich output for the same fixed terminal, whatever the one pytest runs from.
"""

from __future__ import annotations

import os

os.environ.setdefault("ADAUNPOOL_BACKEND", "compiled")

import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

CUDA = torch.cuda.is_available()


def pytest_configure(config):
    # Also declared in pyproject.toml; declaring it here too keeps `--strict-markers` happy when the
    # tests run from a checkout whose pyproject lacks it.
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU")


def pytest_collection_modifyitems(config, items):
    if CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fixed_terminal(monkeypatch):
    """Rich (and typer) read the width from $COLUMNS (80 when unset and no terminal) and colour from
    FORCE_COLOR / NO_COLOR / TTY_*: pin them so that no test passes or fails with the caller's shell.
    Wide, so that a table cell holding a temporary path does not wrap; a test about widths sets its own."""
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _seed(request):
    """A fixed, per-test seed: reruns reproduce, and tests do not depend on their order."""
    seed = zlib.crc32(request.node.nodeid.encode())
    torch.manual_seed(seed)
    if CUDA:
        torch.cuda.manual_seed_all(seed)
    yield


def forced_reference() -> bool:
    return os.environ.get("ADAUNPOOL_BACKEND", "").strip().lower() == "reference"


@pytest.fixture
def compiled_backend():
    """For tests that call the compiled ``torch.ops.adaunpool`` ops directly.

    Fails (does not skip) when the compiled kernels are not what runs, unless the reference backend
    was asked for explicitly with ADAUNPOOL_BACKEND=reference.
    """
    if forced_reference():
        pytest.skip("ADAUNPOOL_BACKEND=reference: the compiled ops are not loaded")
    from adaunpool._loader import backend, backend_info

    name = backend()
    assert name == "compiled", f"compiled kernels expected, got backend_info() = {backend_info()}"
    return name


@pytest.fixture
def cpu():
    return torch.device("cpu")


@pytest.fixture
def cuda_device():
    if not CUDA:
        pytest.skip("needs a CUDA GPU")
    return torch.device("cuda")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    """Every device this machine has: cpu, and cuda where a GPU is visible."""
    return torch.device(request.param)


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    """A tiny synthetic Inter4K tree (3 clips of 0.5 s = 30 frames at 384x216, no audio), per module."""
    from inter4k.data.sample import make_sample

    root = tmp_path_factory.mktemp("inter4k")
    make_sample(root, clips=3, seconds=0.5, audio=False)
    return root


@pytest.fixture
def one_thread():
    """Tiny convolutions run faster, and steadier on a busy 2-core machine, on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --- a full disk ----------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs), where this machine lets the tests mount one (root on Linux);
    otherwise the test skips and says why. Every full-disk case is also tested with :func:`disk_full_after`,
    which runs everywhere."""
    import shutil
    import subprocess
    import sys

    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if not sys.platform.startswith("linux") or not shutil.which("mount"):
        pytest.skip("mounting a 1 MiB tmpfs needs Linux and mount(8); the injected-ENOSPC variant covers this case")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here ({' '.join(r.stderr.split()) or f'exit {r.returncode}'}); "
                    "the injected-ENOSPC variant covers this case")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def disk_full_after(monkeypatch):
    """``disk_full_after(n)``: from now on, every file opened for writing by :mod:`inter4k.atomic` fails
    with ENOSPC once ``n`` bytes in all have been written (as a full disk does)."""
    import builtins
    import errno

    from inter4k import atomic

    written = [0]

    class FullDisk:
        def __init__(self, fh, limit):
            self.fh, self.limit = fh, limit

        def write(self, data):
            n = memoryview(data).nbytes
            if written[0] + n > self.limit:
                keep = max(self.limit - written[0], 0)
                self.fh.write(memoryview(data).cast("B")[:keep])
                written[0] += keep
                raise OSError(errno.ENOSPC, "No space left on device")
            written[0] += n
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def arm(limit: int) -> None:
        def full_open(file, mode="r", *args, **kwargs):
            fh = builtins.open(file, mode, *args, **kwargs)
            return FullDisk(fh, limit) if any(c in mode for c in "wxa") else fh

        monkeypatch.setattr(atomic, "open", full_open, raising=False)

    return arm


@pytest.fixture(scope="session")
def photo_corpus(tmp_path_factory) -> Path:
    """A small corpus in the layout build_photo_corpus writes (its manifest makes it a finished corpus)."""
    import json

    import cv2
    import numpy as np
    import skimage.data

    root = tmp_path_factory.mktemp("corpus") / "photos"
    for split, names in (("train", ("astronaut", "coffee", "chelsea")), ("val", ("rocket", "camera")),
                        ("test", ("clock",))):
        (root / split).mkdir(parents=True)
        for name in names:
            img = getattr(skimage.data, name)()
            img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
            cv2.imwrite(str(root / split / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (root / "manifest.json").write_text(json.dumps({"corpus": "photos", "files": []}))
    return root
