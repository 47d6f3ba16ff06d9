"""Builds the compiled kernels on first use and picks the backend.

The C++/CUDA sources in ``csrc/`` are compiled with ``torch.utils.cpp_extension`` and ninja into a
cache folder keyed by a hash of the sources, the flags and the torch version, so a build happens once
per machine and source change. The build compiles a copy of the sources kept inside that folder, not
the checkout's files: ninja records source paths, so two checkouts of the same sources would
otherwise rebuild on every switch between them. ``ADAUNPOOL_BACKEND`` forces a backend: ``compiled``
(a failed build is an error), ``reference`` (never build); unset, a failed build falls back to the
pure-PyTorch reference with one warning that says why.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import torch

_LOCK = threading.Lock()
_STATE: dict = {}

CSRC = Path(__file__).resolve().parent.parent / "csrc"
if not CSRC.is_dir():  # installed as a wheel: the sources ship inside the package
    CSRC = Path(__file__).resolve().parent / "_csrc"


SOURCE_SUFFIXES = (".cpp", ".cu", ".h", ".cuh")


def sources(with_cuda: bool, root: Path | None = None) -> list[Path]:
    """The translation units to compile, under ``root`` (default CSRC)."""
    root = CSRC if root is None else root
    files = [root / "adaunpool.cpp", *sorted((root / "cpu").glob("*.cpp"))]
    if with_cuda:
        files += sorted((root / "cuda").glob("*.cu"))
    return files


def _source_files() -> list[Path]:
    """Every file of CSRC the build reads (sources and headers), in a fixed order."""
    return [f for f in sorted(CSRC.rglob("*")) if f.is_file() and f.suffix in SOURCE_SUFFIXES]


@functools.cache
def _openmp() -> bool:
    """Whether to build with -fopenmp: torch's at::parallel_for runs on OpenMP (the Linux wheels do) and
    the compiler is one that takes the flag (on macOS Apple's clang does not: serial kernels there)."""
    return sys.platform.startswith("linux") and "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()


def _cpu_flags() -> list[str]:
    flags = ["-O3"]
    # at::parallel_for is an inline template that forks OpenMP threads only where the code calling it
    # is compiled with -fopenmp, and torch's extension builder does not add it: without it every CPU
    # kernel runs on one thread whatever torch.set_num_threads says.
    if _openmp():
        flags += ["-fopenmp"]
    # The build runs on the machine that uses it, so the widest vector unit torch itself uses here is
    # safe; at::vec picks its AVX2 implementation from these macros (AVX512 gains little for our loops).
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma", "-mf16c", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    return flags


def _cuda_flags() -> list[str]:
    return ["-O3", "-lineinfo"]  # nvcc's: the .cu files call no at::parallel_for, so no -Xcompiler -fopenmp


def _ld_flags() -> list[str]:
    # libgomp.so.1, the soname torch's wheel ships and loads: the dynamic linker reuses torch's copy, so
    # one OpenMP runtime, whose thread count torch.set_num_threads sets, runs torch's loops and ours.
    return ["-fopenmp"] if _openmp() else []


def build_dir(with_cuda: bool) -> Path:
    h = hashlib.sha256()
    for f in _source_files():
        h.update(f.relative_to(CSRC).as_posix().encode())
        h.update(f.read_bytes())
    h.update(" ".join(_cpu_flags() + (_cuda_flags() if with_cuda else []) + _ld_flags()).encode())
    h.update(torch.__version__.encode())
    h.update(os.environ.get("TORCH_CUDA_ARCH_LIST", "").encode())
    root = Path(os.environ.get("ADAUNPOOL_BUILD_DIR", Path.home() / ".cache" / "adaunpool"))
    return root / f"{'cuda' if with_cuda else 'cpu'}-{h.hexdigest()[:16]}"


def _stage_sources(out: Path) -> Path:
    """Copy CSRC's files into ``out/src`` where missing or different; return that folder.

    ``out`` is keyed by the files' content, so the copy is the same for every checkout that has these
    sources, and ninja, which records source paths, finds nothing to rebuild after a switch. A file is
    written only when it differs (a rewrite would make ninja rebuild), under a temporary name unique to
    this writer and renamed into place, so a concurrent build never reads half a file.
    """
    src = out / "src"
    for f in _source_files():
        dest = src / f.relative_to(CSRC)
        data = f.read_bytes()
        if dest.is_file() and dest.read_bytes() == data:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return src


def _import_cpp_extension(with_cuda: bool):
    """``torch.utils.cpp_extension``, without its import-time "No CUDA runtime is found" warning when
    only the CPU kernels are built: it is about CUDA_HOME, which a CPU build does not use, and it
    would be printed by every command that runs a model on a CPU-only machine."""
    if "torch.utils.cpp_extension" in sys.modules or with_cuda:
        from torch.utils import cpp_extension

        return cpp_extension
    logger = logging.getLogger("torch.utils.cpp_extension")

    def drop(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No CUDA runtime is found")

    logger.addFilter(drop)
    try:
        from torch.utils import cpp_extension
    finally:
        logger.removeFilter(drop)
    return cpp_extension


def build(with_cuda: bool, verbose: bool = False) -> Path:
    """Compile (if needed) and return the path of the shared library. Does not load it."""
    cpp_extension = _import_cpp_extension(with_cuda)

    out = build_dir(with_cuda)
    name = "adaunpool_cuda_ops" if with_cuda else "adaunpool_cpu_ops"
    lib = out / f"{name}.so"
    if not lib.exists():
        print("building adaunpool kernels (one time)" + (" with CUDA" if with_cuda else ""),
              f"into {out} ...", file=sys.stderr, flush=True)
    out.mkdir(parents=True, exist_ok=True)
    # a library in this hash-keyed folder was built from a complete copy of these very sources (staging
    # comes first), so the copy is not compared again; ninja still checks it, under cpp_extension's lock
    src = out / "src" if lib.exists() and (out / "src").is_dir() else _stage_sources(out)
    cpp_extension.load(
        name=name,
        sources=[str(s) for s in sources(with_cuda, src)],
        extra_cflags=_cpu_flags() + (["-DADAUNPOOL_WITH_CUDA"] if with_cuda else []),
        extra_cuda_cflags=_cuda_flags() if with_cuda else None,
        extra_ldflags=_ld_flags(),
        extra_include_paths=[str(src)],
        build_directory=str(out),
        with_cuda=with_cuda,
        is_python_module=False,
        verbose=verbose,
    )
    return lib


def _load_compiled() -> None:
    with_cuda = torch.cuda.is_available()
    lib = build(with_cuda)
    torch.ops.load_library(str(lib))
    from . import _ops

    _ops.register()
    _STATE.update(library=str(lib), cuda_kernels=with_cuda)


def backend() -> str:
    """'compiled' or 'reference'; builds the kernels on the first call."""
    if "backend" in _STATE:
        return _STATE["backend"]
    with _LOCK:
        if "backend" in _STATE:
            return _STATE["backend"]
        forced = os.environ.get("ADAUNPOOL_BACKEND", "").strip().lower()
        if forced not in ("", "compiled", "reference"):
            raise ValueError(f"ADAUNPOOL_BACKEND must be 'compiled' or 'reference', got {forced!r}")
        if forced == "reference":
            _STATE.update(backend="reference", reason="forced by ADAUNPOOL_BACKEND=reference")
        else:
            try:
                _load_compiled()
                _STATE.update(backend="compiled", reason="compiled kernels loaded")
            except Exception as exc:  # noqa: BLE001 - any build failure means: fall back
                if forced == "compiled":
                    raise RuntimeError(f"ADAUNPOOL_BACKEND=compiled but the kernels could not be built: {exc}") from exc
                reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
                warnings.warn(
                    f"adaunpool: compiled kernels unavailable ({reason}); using the pure-PyTorch reference, "
                    "which is exact but slow. Set ADAUNPOOL_BACKEND=reference to silence this.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                _STATE.update(backend="reference", reason=reason)
        return _STATE["backend"]


def backend_info() -> dict:
    """Which implementation runs, and why. Builds the kernels if they have not been tried yet."""
    name = backend()
    return {
        "backend": name,
        "reason": _STATE.get("reason", ""),
        "library": _STATE.get("library"),
        "cuda_kernels": bool(_STATE.get("cuda_kernels", False)),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "threads": torch.get_num_threads(),
        # what the compiled CPU kernels really run on (less than "threads" when built without OpenMP)
        "kernel_threads": int(torch.ops.adaunpool.threads_used()) if name == "compiled" else None,
    }
