"""The ``inter4k`` command line: doctor, --version, and how main() maps errors to exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import adaunpool as au
import inter4k
import inter4k.api
from cli.main import app, main

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()


def plain(text: str) -> str:
    return ANSI.sub("", text)


def test_doctor_shows_versions_and_backend():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert torch.__version__ in out
    assert "adaunpool" in out
    assert au.backend_info()["backend"] in out
    for name in ("numpy", "cv2", "av", "skimage", "lpips", "typer", "rich"):
        assert name in out


def test_doctor_json():
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # kernel build messages go to stderr, never into the JSON
    assert {"inter4k", "python", "platform", "packages", "device", "adaunpool"} <= set(report)
    assert report["inter4k"] == inter4k.__version__
    assert report["packages"]["torch"] == torch.__version__
    assert set(report["packages"]) == set(inter4k.api.PACKAGES)
    assert {"torch_cuda", "cuda_available", "device_name", "cpu_threads"} <= set(report["device"])
    assert report["device"]["torch_cuda"] == torch.version.cuda
    assert report["device"]["cuda_available"] == torch.cuda.is_available()
    ada = report["adaunpool"]
    assert ada["error"] is None
    assert ada["backend"] in ("compiled", "reference")
    assert {"library", "cuda_kernels", "cpu_kernels_built", "cuda_kernels_built", "reason"} <= set(ada)
    if ada["backend"] == "compiled":
        assert ada["library"] and Path(ada["library"]).is_file()


def test_doctor_checks_that_the_cpu_kernels_use_torchs_threads(monkeypatch):
    ada = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["adaunpool"]
    if ada["backend"] == "compiled":
        assert ada["kernel_threads"] == ada["threads"] == torch.get_num_threads()
        assert not any("threads" in w for w in ada["warnings"])
    # a library built without OpenMP: one thread of torch's four
    serial = {**au.backend_info(), "backend": "compiled", "threads": 4, "kernel_threads": 1}
    monkeypatch.setattr(au, "backend_info", lambda: serial)
    warning = "the compiled CPU kernels run on 1 of torch's 4 threads: the library was built without OpenMP"
    assert any(w.startswith(warning) for w in inter4k.api.doctor()["adaunpool"]["warnings"])
    monkeypatch.setenv("COLUMNS", "300")  # the table's rows on one line each, whatever the terminal
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    rows = [" ".join(line.replace("│", " ").split()) for line in plain(result.stdout).splitlines()]
    assert "CPU threads (kernels) 1" in rows
    assert any(row.startswith("warning " + warning) for row in rows)


def test_doctor_reports_a_missing_package_instead_of_crashing(monkeypatch):
    monkeypatch.setitem(inter4k.api.PACKAGES, "surely_not_installed_pkg", "surely-not-installed")
    report = inter4k.api.doctor()
    assert report["packages"]["surely_not_installed_pkg"] is None
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "missing" in plain(result.stdout)


@pytest.mark.parametrize("columns", [None, "40", "300"])
def test_usage_errors_are_one_unwrapped_line_at_any_width(columns, tmp_path, monkeypatch, capsys):
    """Click's usage errors print like ours: the usage, then one "Error:" line, whatever $COLUMNS is
    and with no terminal (typer's boxed panel wrapped the message at 80 columns)."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    missing = tmp_path / ("a-long-folder-name-" * 5)
    result = runner.invoke(app, ["bench-pool", "--images", str(missing)])
    assert result.exit_code == 2
    lines = plain(result.output).splitlines()
    assert lines[0].startswith("Usage: ") and "bench-pool" in lines[0]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and "'--images'" in errors[0] and f"'{missing}' does not exist" in errors[0]
    assert main(["nosuch"]) == 2
    assert "Error: No such command 'nosuch'." in plain(capsys.readouterr().err).splitlines()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"inter4k {inter4k.__version__}"
    assert main(["--version"]) == 0


def test_unknown_command_is_a_usage_error():
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize(
    "exc, code",
    [
        (ValueError("scale must be 2, 3 or 4, got 5"), 2),
        (TypeError("expected an image, got a list"), 2),
        (FileNotFoundError("no such clip: 1001.mp4"), 2),
        (RuntimeError("CUDA out of memory"), 1),
    ],
)
def test_main_maps_errors_to_one_line_and_exit_code(monkeypatch, capsys, exc, code):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)

    def broken():
        raise exc

    monkeypatch.setattr(inter4k.api, "doctor", broken)
    assert main(["doctor"]) == code
    err = plain(capsys.readouterr().err)
    assert err.strip() == f"Error: {exc}"
    assert "Traceback" not in err


def test_main_maps_keyboard_interrupt_to_130(monkeypatch, capsys):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(inter4k.api, "doctor", interrupted)
    assert main(["doctor"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_main_debug_keeps_the_traceback(monkeypatch):
    monkeypatch.setenv("INTER4K_DEBUG", "1")

    def broken():
        raise ValueError("bad input")

    monkeypatch.setattr(inter4k.api, "doctor", broken)
    with pytest.raises(ValueError, match="bad input"):
        main(["doctor"])


def test_main_keeps_unknown_errors_as_bugs(monkeypatch):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)

    def broken():
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(inter4k.api, "doctor", broken)
    with pytest.raises(ZeroDivisionError):
        main(["doctor"])


def test_pyproject_lists_every_package():
    """Packages are listed by hand in pyproject.toml (adaunpool._csrc is a directory mapping); a new
    subpackage missing there would be absent from non-editable installs."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("adaunpool", "inter4k", "cli")
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages in pyproject.toml"
    assert config["project"]["scripts"]["inter4k"] == "cli.main:main"
