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
    staged = []
    stage = _loader._stage_sources
    monkeypatch.setattr(_loader, "_stage_sources", lambda out: staged.append(out) or stage(out))
    lib = _loader.build(with_cuda=False)
    assert "building adaunpool kernels (one time)" in capsys.readouterr().err
    assert lib.parent.parent == tmp_path and calls and calls[0]["is_python_module"] is False
    assert calls[0]["build_directory"] == str(lib.parent) and staged == [lib.parent]
    # once the library exists, no message, and the sources are not staged again (ninja still checks them)
    lib.write_bytes(b"")
    _loader.build(with_cuda=False)
    assert "building" not in capsys.readouterr().err
    assert staged == [lib.parent] and len(calls) == 2 and calls[1]["sources"] == calls[0]["sources"]


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


def test_cpu_kernels_run_on_torchs_threads(compiled_backend):
    """The kernels' at::parallel_for forks as many threads as torch.set_num_threads asks for: built
    without -fopenmp it runs on one; linked to a second OpenMP runtime it would ignore the setting."""
    saved = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert torch.ops.adaunpool.threads_used() == n
            assert au.backend_info()["kernel_threads"] == n
    finally:
        torch.set_num_threads(saved)


def test_a_second_checkout_of_the_same_sources_does_not_rebuild(tmp_path, monkeypatch):
    """ninja records source paths: building straight from each checkout made every switch between two
    checkouts of the same sources rebuild. Each build below would recompile (a new mtime) if it did."""
    from torch.utils import cpp_extension
    from torch.utils._cpp_extension_versioner import ExtensionVersioner

    monkeypatch.setenv("ADAUNPOOL_BUILD_DIR", str(tmp_path / "cache"))
    checkouts = []
    for name in ("a", "b"):
        src = tmp_path / name / "csrc"
        (src / "cpu").mkdir(parents=True)
        (src / "adaunpool.cpp").write_text("int adaunpool_probe() { return 1; }\n")
        (src / "cpu" / "k.cpp").write_text('#include "k.h"\nint k() { return K; }\n')
        (src / "k.h").write_text("#define K 2\n")
        checkouts.append(src)
    stamps = []
    for src in checkouts + checkouts:  # a, b, a, b
        monkeypatch.setattr(_loader, "CSRC", src)
        # as in a new process (each command is one): cpp_extension skips ninja for a name it built already
        monkeypatch.setattr(cpp_extension, "JIT_EXTENSION_VERSIONER", ExtensionVersioner())
        lib = _loader.build(with_cuda=False)
        stamps.append((lib, lib.stat().st_mtime_ns))
    assert stamps[2] == stamps[0] and stamps[3] == stamps[1], "a switch between checkouts rebuilt the kernels"
    assert stamps[1] == stamps[0], "the second checkout did not reuse the first one's build"


def test_a_model_command_on_a_cpu_machine_prints_no_cuda_warning(compiled_backend, tmp_path):
    """torch.utils.cpp_extension warns "No CUDA runtime is found" on import wherever a CUDA_HOME exists
    but no GPU does; a CPU build does not use CUDA_HOME, so a command that builds or loads the CPU
    kernels must not print it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import cv2
    import numpy as np

    root = Path(__file__).resolve().parent.parent
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    env = {**os.environ, "PYTHONPATH": str(root), "CUDA_HOME": str(tmp_path), "CUDA_VISIBLE_DEVICES": "",
           "ADAUNPOOL_BACKEND": "compiled"}
    run = subprocess.run([sys.executable, "-m", "cli.main", "upscale", str(image), "-o", str(tmp_path / "out.png"),
                          "--device", "cpu"],
                         cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.png").is_file()
    assert "No CUDA runtime" not in run.stderr, run.stderr
