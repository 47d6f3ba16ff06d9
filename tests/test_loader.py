"""The backend loader: first-use build message, build cache keys, the fallback and its one warning."""

from __future__ import annotations

import warnings

import pytest
import torch

import adaunpool as au
from adaunpool import _loader


@pytest.fixture
def fresh_state(monkeypatch):
    """Run with an empty loader state; the real state comes back afterwards."""
    saved = dict(_loader._STATE)
    _loader._STATE.clear()
    yield
    _loader._STATE.clear()
    _loader._STATE.update(saved)


def test_failed_build_falls_back_with_one_warning(fresh_state, monkeypatch):
    monkeypatch.delenv("ADAUNPOOL_BACKEND", raising=False)

    def broken_build():
        raise RuntimeError("Error building extension 'adaunpool_cpu_ops'\nc++: not found")

    monkeypatch.setattr(_loader, "_load_compiled", broken_build)
    with pytest.warns(RuntimeWarning, match=r"compiled kernels unavailable \(RuntimeError: c\+\+: not found\)"):
        assert _loader.backend() == "reference"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call must not warn again
        assert _loader.backend() == "reference"
    info = _loader.backend_info()
    assert info["backend"] == "reference" and "c++: not found" in info["reason"]


def test_forced_compiled_build_failure_is_an_error(fresh_state, monkeypatch):
    monkeypatch.setenv("ADAUNPOOL_BACKEND", "compiled")
    monkeypatch.setattr(_loader, "_load_compiled", lambda: (_ for _ in ()).throw(OSError("no compiler")))
    with pytest.raises(RuntimeError, match="ADAUNPOOL_BACKEND=compiled but the kernels could not be built: no compiler"):
        _loader.backend()


def test_forced_reference_never_builds(fresh_state, monkeypatch):
    monkeypatch.setenv("ADAUNPOOL_BACKEND", "reference")
    monkeypatch.setattr(_loader, "_load_compiled", lambda: pytest.fail("must not build"))
    assert _loader.backend() == "reference"
    assert "forced" in _loader.backend_info()["reason"]


def test_bad_backend_name(fresh_state, monkeypatch):
    monkeypatch.setenv("ADAUNPOOL_BACKEND", "fast")
    with pytest.raises(ValueError, match="ADAUNPOOL_BACKEND must be 'compiled' or 'reference', got 'fast'"):
        _loader.backend()


def test_first_build_prints_the_one_time_message(tmp_path, monkeypatch, capsys):
    from torch.utils import cpp_extension

    monkeypatch.setenv("ADAUNPOOL_BUILD_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(cpp_extension, "load", lambda **kw: calls.append(kw))
    lib = _loader.build(with_cuda=False)
    assert "building adaunpool kernels (one time)" in capsys.readouterr().err
    assert lib.parent.parent == tmp_path and calls and calls[0]["is_python_module"] is False
    assert calls[0]["build_directory"] == str(lib.parent)
    # once the library exists, no message
    lib.write_bytes(b"")
    _loader.build(with_cuda=False)
    assert "building" not in capsys.readouterr().err


def test_build_dir_depends_on_sources_and_target(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAUNPOOL_BUILD_DIR", str(tmp_path))
    cpu, cuda = _loader.build_dir(False), _loader.build_dir(True)
    assert cpu != cuda and cpu.name.startswith("cpu-") and cuda.name.startswith("cuda-")
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "a.cpp").write_text("int a;")
    monkeypatch.setattr(_loader, "CSRC", src)
    before = _loader.build_dir(False)
    (src / "a.cpp").write_text("int a = 1;")
    assert _loader.build_dir(False) != before


def test_backend_info_reports_the_running_backend():
    info = au.backend_info()
    assert info["backend"] in ("compiled", "reference")
    assert info["torch"] == torch.__version__
    if info["backend"] == "compiled":
        assert info["library"] and info["library"].endswith(".so")
