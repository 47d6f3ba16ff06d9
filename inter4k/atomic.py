"""Writing files so that a crash, a kill or a full disk never leaves half of one.

Checkpoints, model files, prepared shards and their index, and evaluation reports are written here:

- The bytes go to a temporary name beside the target, unique per run
  (``.<name>.<host>-<pid>-<random>.tmp``: two runs never share one), are flushed and fsynced, and
  the temporary file is renamed over the target (``os.replace``, atomic on POSIX and Windows). Any
  failure, Ctrl-C included, removes the temporary file and leaves the target as it was.
- A full disk (ENOSPC, EDQUOT) becomes one :class:`NotEnoughSpaceError` naming the file, the bytes
  needed or written and the bytes free. Writers that know their size check the free space before the
  first byte (:func:`require_space`).
- A run killed during a write (SIGKILL, power loss) leaves its temporary file; the next write into the
  same folder removes every temporary file of this machine whose process is gone
  (:func:`remove_stale_temps`). Files of a live process, or of another machine sharing the folder,
  are never touched.
- No file is written through a memory map: a page of a mapped file that the disk cannot hold kills
  the process with SIGBUS, without a message and without cleaning up.
- Files written by an encoder that picks the format from the name (videos, images, figures) use
  :func:`writing`: the temporary name keeps the suffix (:func:`part_path`,
  ``.<stem>.part-<host>-<pid>-<random><suffix>``), and :func:`remove_stale_parts` removes those of the same
  target left by dead processes. :func:`publish` is the last step of both: fsync, rename, fsync the folder.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Union

__all__ = ["NotEnoughSpaceError", "free_bytes", "fmt_bytes", "require_space", "is_disk_full", "temp_path",
           "remove_stale_temps", "replacing", "write_bytes", "write_files", "save_torch", "part_path",
           "remove_stale_parts", "publish", "writing"]

#: Errors of a write that the disk (or the user's quota) cannot hold.
_FULL = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)
#: Tells this machine's temporary files from those of another machine writing to a shared folder.
_HOST = hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]
_TEMP = re.compile(r"^\..+\.([0-9a-f]{6})-(\d+)-[0-9a-f]{8}\.tmp$")


class NotEnoughSpaceError(RuntimeError):
    """The disk cannot hold a file; the target is unchanged and no temporary file is left."""


def fmt_bytes(n: Optional[float]) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def free_bytes(path: Union[str, os.PathLike]) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def require_space(path: Union[str, os.PathLike], needed: int, what: str, kept: str = "nothing was written") -> None:
    """NotEnoughSpaceError unless ``needed`` bytes fit on the disk that holds ``path``."""
    free = free_bytes(path)
    if needed > free:
        raise NotEnoughSpaceError(f"not enough free disk space for {what} in {path}: needs {fmt_bytes(needed)}, "
                                  f"{fmt_bytes(free)} free; {kept}")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FULL


def temp_path(path: Union[str, os.PathLike]) -> Path:
    """A temporary name beside ``path`` that no other run uses: ``.<name>.<host>-<pid>-<random>.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill(pid, 0) would send Ctrl-C, so never guess
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a live process of another user
        return True
    return True


def remove_stale_temps(folder: Union[str, os.PathLike]) -> list[Path]:
    """Remove the temporary files and folders (named by :func:`temp_path`) in ``folder`` left by dead
    processes of this machine; returns them."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TEMP.match(p.name)
        if m and m.group(1) == _HOST and not _alive(int(m.group(2))):
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            except OSError:
                continue
            removed.append(p)
    return removed


def part_path(path: Union[str, os.PathLike]) -> Path:
    """A temporary name beside ``path`` that no other call uses, keeping the suffix last so an encoder
    still picks the format from it: ``.<stem>.part-<host>-<pid>-<8 hex digits><suffix>`` (the host
    tag, as in :func:`temp_path`, keeps a run on another machine of a shared folder from being taken
    for a dead process of this one)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.part-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def remove_stale_parts(path: Union[str, os.PathLike]) -> list[Path]:
    """Delete the temporary files of ``path`` (:func:`part_path` names, and the host-less
    ``.<stem>.part-<pid>-<hex><suffix>`` and ``.<stem>.part<suffix>`` of older versions) whose writing
    process no longer runs on this machine; the paths deleted. Another live run's partial file, and
    any file of another machine, are left alone."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.stem)}\.part(?:-(?:([0-9a-f]{{6}})-)?(\d+)-[0-9a-f]+)?"
                         rf"{re.escape(path.suffix)}")
    removed = []
    try:
        names = [p for p in path.parent.iterdir() if pattern.fullmatch(p.name)]
    except OSError:  # no folder yet: nothing stale
        return removed
    for p in names:
        host, pid = pattern.fullmatch(p.name).groups()
        if (host is not None and host != _HOST) or (pid is not None and _alive(int(pid))):
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def publish(tmp: Union[str, os.PathLike], path: Union[str, os.PathLike]) -> Path:
    """Make the complete temporary file ``tmp`` the file ``path``: fsync it, rename it over ``path``
    (atomic), and fsync the folder so that the rename survives a power loss."""
    tmp, path = Path(tmp), Path(path)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync: the rename is still atomic
        pass
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


@contextmanager
def writing(path: Union[str, os.PathLike]) -> Iterator[Path]:
    """``with writing(path) as tmp: encoder.save(tmp)``: ``path`` gets the file written to ``tmp`` (a
    :func:`part_path`, suffix kept) when the block ends without an error; on any error (Ctrl-C
    included) ``tmp`` is removed and ``path`` stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    tmp = part_path(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise OSError(f"{path}: nothing was written to {tmp.name}")
        publish(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise _full(path, 0) from None
        raise


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _full(path: Path, written: int) -> NotEnoughSpaceError:
    kept = f"the previous {path.name} is kept" if path.exists() else f"{path.name} was not written"
    return NotEnoughSpaceError(f"the disk is full: writing {path} failed after {fmt_bytes(written)} "
                               f"({fmt_bytes(free_bytes(path.parent))} free); {kept}")


@contextmanager
def _temp_file(path: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """A new temporary file for ``path``, fsynced when the block ends; removed on any error."""
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as fh:
            yield tmp, fh
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        written = tmp.stat().st_size if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise _full(path, written) from None
        raise


@contextmanager
def replacing(path: Union[str, os.PathLike], needed: Optional[int] = None, what: Optional[str] = None
              ) -> Iterator[BinaryIO]:
    """``with replacing(path) as fh: fh.write(...)``: ``path`` gets what was written when the block
    ends without an error, and stays as it was otherwise. ``needed`` (bytes), when known, is checked
    against the free space first (``what`` names the file in that message)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    if needed is not None:
        require_space(path.parent, needed, what or path.name,
                      f"the previous {path.name} is kept" if path.exists() else "nothing was written")
    with _temp_file(path) as (tmp, fh):
        yield fh
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_bytes(path: Union[str, os.PathLike], data: Union[bytes, bytearray, memoryview, str],
                what: Optional[str] = None) -> Path:
    """Replace ``path`` with ``data`` (str: UTF-8), checking the free space first."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path, needed=len(blob), what=what) as fh:
        fh.write(blob)
    return Path(path)


def write_files(files: Mapping[Union[str, os.PathLike], Union[bytes, str]], what: str = "the files") -> None:
    """Replace several files in one folder all or none: every one is written to its temporary file
    first, and the renames start only when all are complete (so a full disk changes none of them)."""
    items = [(Path(p), d.encode("utf-8") if isinstance(d, str) else d) for p, d in files.items()]
    if not items:
        return
    folder = items[0][0].parent
    if any(p.parent != folder for p, _ in items):
        raise ValueError("write_files: the files must share one folder")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    require_space(folder, sum(len(d) for _, d in items), what,
                  "the files there are unchanged" if any(p.exists() for p, _ in items) else "nothing was written")
    done: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            with _temp_file(path) as (tmp, fh):
                fh.write(data)
            done.append((tmp, path))
    except BaseException:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in done:
        os.replace(tmp, path)
    _fsync_dir(folder)


def save_torch(obj: Any, path: Union[str, os.PathLike], what: Optional[str] = None) -> Path:
    """``torch.save(obj)`` into ``path`` through :func:`write_bytes`.

    Serialised in memory first: torch's zip writer turns a failed write (a full disk) into
    ``inline_container.cc: unexpected pos``, and the size must be known to check the free space."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes(path, buf.getbuffer(), what=what)
