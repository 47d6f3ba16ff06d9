"""``inter4k download``: fetch the Inter4K zip (resumable, verified) and unpack it safely.

The pieces, each usable on its own:

- :func:`fetch` streams a URL into ``<root>/Inter4K.zip.part``, following redirects (the official
  link is a tinyurl redirect). After any interruption (Ctrl-C, a dropped connection, a timeout) the
  next attempt asks for the rest with ``Range: bytes=N-``; a ``206`` answer must carry a
  ``Content-Range`` that starts at N, and a ``200`` answer (a server that ignores ``Range``) starts
  the file again from zero. Connection errors, timeouts, 5xx, 408 and 429 are retried with
  exponential backoff. Free disk space is checked against the bytes still to come before the first
  byte is written.
- :func:`inspect_archive` opens a zip and, before anything is extracted, refuses unsafe members
  (``..`` components, absolute paths, drive letters, symlinks or other special files), a member that
  appears twice, and a file that other members need as a folder (``a`` and ``a/b``), naming the
  member, and checks that it has the Inter4K layout, with or without the top ``Inter4K/`` folder
  (:func:`archive_top`); :func:`check_crc` then reads every member fully so that a CRC-32 mismatch or
  a zip whose start is missing is found before anything is extracted.
- :func:`extract_archive` unpacks into a temporary folder in ``ROOT`` and moves the tree into place
  only when every member is complete (members ``Inter4K/60fps/UHD/<n>.mp4``, or ``60fps/UHD/<n>.mp4``,
  land at ``ROOT/Inter4K/60fps/UHD/<n>.mp4``), and returns the size and sha256 of every file.
- :func:`download` ties them together and writes ``ROOT/Inter4K/MANIFEST.json`` (every extracted
  file with its size and sha256, plus the zip's sha256 and the source). A later run checks the files
  against the manifest first and, when they are all there with the right sizes (and the right
  sha256 with ``verify_hashes=True``), does nothing at all: no network access.

Only the standard library talks HTTP (``urllib.request``). Progress is reported as
:class:`~inter4k.progress.Progress` events (``on_progress``; bytes; ``total`` may be None; internally
``progress(stage, done, total)``) so that library use and tests stay quiet; the CLI draws a rich
progress bar from them. Stages: ``"download"``, ``"hash"`` (sha256 of a
zip already on disk), ``"check"`` (the CRC pass), ``"extract"``, ``"verify"`` (sha256 of the
extracted files against the manifest).

Errors: bad arguments raise ValueError / FileNotFoundError; a damaged or unsafe zip raises
:class:`ArchiveError` and a wrong sha256 :class:`ChecksumError` (both ValueError: bad data); network
failures raise :class:`DownloadError` and a full disk :class:`NotEnoughSpaceError` (both
RuntimeError). Ctrl-C during the transfer raises :class:`DownloadInterrupted` (a KeyboardInterrupt)
and leaves the ``.part`` file for the next run to resume. A damaged ``ROOT/Inter4K.zip`` is never
used twice: one downloaded by this run is removed, one found there is moved to
``ROOT/Inter4K.zip.damaged`` (the error says so), and the next run downloads afresh.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from .. import __version__, atomic
from ..atomic import (NotEnoughSpaceError, fmt_bytes, free_bytes, is_disk_full,  # noqa: F401 (re-exported)
                      remove_stale_temps, require_space, temp_path)
from ..progress import ProgressFn, Reporter, stage_form
from . import layout

ZIP_NAME = "Inter4K.zip"
PART_SUFFIX = ".part"
DAMAGED_SUFFIX = ".damaged"   # a damaged ROOT/Inter4K.zip is moved to ROOT/Inter4K.zip.damaged
MANIFEST_NAME = "MANIFEST.json"
MANIFEST_VERSION = 1
DEFAULT_RETRIES = 5
DEFAULT_TIMEOUT = 60.0        # seconds, for connecting and for every socket read
DEFAULT_BACKOFF = 1.0         # first retry waits this long, then 2x, 4x, ... (capped)
MAX_BACKOFF = 60.0
CHUNK_SIZE = 1 << 20
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = f"inter4k/{__version__} (+https://github.com/alexandrosstergiou/Inter4K)"

#: The internal form of the reports: ``progress(stage, done, total)`` (a :class:`~inter4k.progress.Reporter`).
StageProgress = Callable[[str, int, Optional[int]], None]

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")
_CLIP_MEMBER = re.compile(r"^Inter4K/60fps/UHD/\d+\.mp4$")


# --------------------------------------------------------------------------------------- errors


class DownloadError(RuntimeError):
    """The transfer failed (HTTP error, too many failed attempts, an HTML page instead of a zip)."""


class ArchiveError(ValueError):
    """The zip is damaged (CRC mismatch, not a zip) or unsafe (a member escaping ROOT, a symlink)."""


class ChecksumError(ValueError):
    """The zip's sha256 is not the expected one."""


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during the transfer; the ``.part`` file is kept and the next run resumes it."""

    def __init__(self, part: Path, size: int):
        self.part = Path(part)
        self.size = size
        super().__init__(
            f"interrupted: {fmt_bytes(size)} kept in {part}; run the same command again to resume the download"
        )

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------------------- results


@dataclass
class FetchResult:
    """What :func:`fetch` did."""

    path: Path                  # the .part file, complete
    size: int                   # its size in bytes
    sha256: str
    bytes_fetched: int          # bytes received over the network by this call
    resumed_from: int           # bytes already in the .part file when this call started (0: fresh)
    restarts: int               # times the server ignored Range (200) or sent a bad Content-Range
    retries: int                # failed attempts that were retried
    requests: int               # HTTP requests made (redirect hops not counted)
    final_url: Optional[str]    # the URL after redirects


@dataclass
class DownloadResult:
    """What :func:`download` did. ``action`` is one of:

    - ``"downloaded"``: fetched from the start and extracted;
    - ``"resumed"``: an interrupted download (a ``.part`` file) was continued, then extracted;
    - ``"reused"``: a complete ``ROOT/Inter4K.zip`` was already there (kept with ``--keep-zip``, or
      from a run that stopped before extracting); no network access;
    - ``"from_zip"``: extracted from a zip given by the caller; no network access;
    - ``"skipped"``: the manifest's files are all present with the right sizes (and hashes, when
      asked); nothing was done, no network access.
    """

    action: str
    root: Path
    source: str                 # the URL, or the zip's path
    manifest: Path
    files: int                  # files extracted (or found, when skipped)
    file_bytes: int             # their total size
    zip_size: Optional[int] = None
    zip_sha256: Optional[str] = None
    zip_path: Optional[Path] = None   # where the zip is after the run (None: removed)
    bytes_fetched: int = 0
    resumed_from: int = 0
    restarts: int = 0
    retries: int = 0
    requests: int = 0
    final_url: Optional[str] = None
    hashes_verified: bool = False     # the files' sha256 were checked against the manifest
    clips: int = 0                    # Inter4K/60fps/UHD/<n>.mp4 files among them
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("root", "manifest", "zip_path"):
            if d[key] is not None:
                d[key] = str(d[key])
        return d


@dataclass
class ManifestCheck:
    """Files of a manifest checked against the disk."""

    files: int
    file_bytes: int
    missing: list[str]
    wrong_size: list[str]
    wrong_hash: list[str]
    hashes_checked: bool

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_size or self.wrong_hash)

    def summary(self) -> str:
        parts = []
        for label, names in (("missing", self.missing), ("with the wrong size", self.wrong_size),
                             ("with the wrong sha256", self.wrong_hash)):
            if names:
                shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                parts.append(f"{len(names)} {label} ({shown})")
        return "; ".join(parts) if parts else "all files present"


# --------------------------------------------------------------------------------------- helpers


def zip_path_for(root: Path) -> Path:
    return Path(root) / ZIP_NAME


def part_path_for(root: Path) -> Path:
    return Path(root) / (ZIP_NAME + PART_SUFFIX)


def manifest_path(root: Path) -> Path:
    return Path(root) / "Inter4K" / MANIFEST_NAME


def sha256_file(path: Path, progress: Optional[StageProgress] = None, stage: str = "hash",
                limit: Optional[int] = None, hasher=None, chunk_size: int = CHUNK_SIZE):
    """sha256 of ``path`` (its first ``limit`` bytes), read in blocks, ``progress(stage, done, total)`` after
    each; returns the hasher (to continue, or ``.hexdigest()``). The one file hash of the data tools
    (downloads, photos, videos). OSError when the file is shorter than ``limit``."""
    h = hasher if hasher is not None else hashlib.sha256()
    total = path.stat().st_size if limit is None else limit
    done = 0
    with open(path, "rb") as f:
        while done < total:
            block = f.read(min(chunk_size, total - done))
            if not block:
                break
            h.update(block)
            done += len(block)
            if progress:
                progress(stage, done, total)
    if done != total:
        raise OSError(f"{path}: expected {total} bytes, read {done}")
    return h


def _check_sha256_arg(sha256: Optional[str]) -> Optional[str]:
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _HEX64.match(sha256.strip()):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return sha256.strip().lower()


def _check_url(url: str) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).netloc:
        raise ValueError(f"url must be an http:// or https:// URL, got {url!r}")
    return url


# --------------------------------------------------------------------------------------- HTTP


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows 301/302/303/307/308 (at most 10 hops) to http(s) URLs only, keeping the Range header."""

    max_redirections = 10

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise DownloadError(f"{req.full_url} redirects to {newurl!r}, which is not an http(s) URL")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.has_header("Range") and not new.has_header("Range"):
            new.add_header("Range", req.get_header("Range"))
        return new


def build_opener() -> urllib.request.OpenerDirector:
    """The urllib opener :func:`fetch` uses (a redirect-following one; proxies from the environment)."""
    return urllib.request.build_opener(_RedirectHandler)


class _Retry(Exception):
    """An attempt failed in a way worth retrying; carries the state the next attempt starts from."""

    def __init__(self, reason: str, *, wait: Optional[float] = None, progressed: bool = False, got: int = 0,
                 restarted: bool = False, no_range: bool = False, total: Optional[int] = None,
                 hash_state=None):
        super().__init__(reason)
        self.wait = wait              # seconds to wait (None: the backoff schedule)
        self.progressed = progressed  # bytes arrived (or the file restarted): resets the failure count
        self.got = got                # bytes received by this attempt
        self.restarted = restarted    # the file was started again from zero
        self.no_range = no_range      # stop sending Range for the rest of this run
        self.total = total            # the file's size, when the server said it
        self.hash_state = hash_state  # (hasher, bytes hashed) matching the .part file


def _retry_after(headers) -> Optional[float]:
    value = headers.get("Retry-After") if headers is not None else None
    if value and value.strip().isdigit():
        return min(float(value.strip()), MAX_BACKOFF)
    return None


def _parse_content_range(value: Optional[str]) -> Optional[tuple[int, int, Optional[int]]]:
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        return None
    start, end = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    return start, end, total


def _content_length(headers) -> Optional[int]:
    value = headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def fetch(url: str, part: Path, *, retries: int = DEFAULT_RETRIES, timeout: float = DEFAULT_TIMEOUT,
          backoff: float = DEFAULT_BACKOFF, chunk_size: int = CHUNK_SIZE, progress: Optional[StageProgress] = None,
          opener: Optional[urllib.request.OpenerDirector] = None,
          sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Download ``url`` into ``part``, continuing whatever ``part`` already holds.

    ``retries`` bounds the consecutive failed attempts (an attempt that received some bytes resets
    the count; all attempts together are capped at ``10 * (retries + 1) + 10``). Raises
    :class:`DownloadError` when it gives up, :class:`NotEnoughSpaceError` (before writing) when the
    rest of the file does not fit, :class:`DownloadInterrupted` on Ctrl-C (``part`` is kept).
    """
    _check_url(url)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    part = Path(part)
    opener = opener or build_opener()
    resumed_from = part.stat().st_size if part.is_file() else 0
    hasher, hashed = hashlib.sha256(), 0
    fetched = restarts = retried = requests = failures = 0
    use_range = True
    known_total: Optional[int] = None
    final_url: Optional[str] = None
    max_attempts = 10 * (retries + 1) + 10
    last_error = "no attempt made"
    try:
        for _attempt in range(max_attempts):
            offset = part.stat().st_size if part.is_file() else 0
            try:
                got, done, total, final_url, hasher, hashed, restarted = _attempt_once(
                    url, part, offset, use_range, known_total, hasher, hashed, timeout, chunk_size,
                    progress, opener)
                fetched += got
                requests += 1
                if restarted:
                    restarts += 1
                size = part.stat().st_size
                return FetchResult(part, size, hasher.hexdigest(), fetched, resumed_from, restarts, retried,
                                   requests, final_url)
            except _Retry as exc:
                requests += 1
                fetched += exc.got
                restarts += exc.restarted
                use_range = use_range and not exc.no_range
                known_total = exc.total if exc.total is not None else known_total
                if exc.hash_state is not None:
                    hasher, hashed = exc.hash_state
                last_error = str(exc)
                failures = 0 if exc.progressed else failures + 1
                if failures > retries:
                    break
                retried += 1
                wait = exc.wait if exc.wait is not None else min(backoff * 2 ** max(failures - 1, 0), MAX_BACKOFF)
                if wait > 0:
                    sleep(wait)
        kept = part.stat().st_size if part.is_file() else 0
        raise DownloadError(f"download of {url} failed after {requests} attempt(s): {last_error}"
                            + (f"; {fmt_bytes(kept)} kept in {part}, run again to resume" if kept else ""))
    except KeyboardInterrupt:
        raise DownloadInterrupted(part, part.stat().st_size if part.is_file() else 0) from None


def _attempt_once(url, part: Path, offset: int, use_range: bool, known_total, hasher, hashed, timeout,
                  chunk_size, progress, opener):
    """One HTTP request; returns (bytes received, size, total, final url, hasher, hashed, restarted)
    or raises :class:`_Retry` (carrying the state to keep) / a final error."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Accept": "*/*"}
    if offset and use_range:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 416 and offset:
                m = re.match(r"^\s*bytes\s+\*/(\d+)\s*$", exc.headers.get("Content-Range") or "")
                total = int(m.group(1)) if m else None
                if total is not None and total == offset and known_total in (None, total):
                    # The .part file is already complete (e.g. interrupted after its last byte).
                    if hashed != offset:
                        hasher = sha256_file(part, progress, "hash", limit=offset)
                    return 0, offset, total, exc.geturl(), hasher, offset, False
                _truncate(part)
                raise _Retry(f"the server refused the range {offset}- (HTTP 416); starting again from zero",
                             wait=0.0, progressed=True, restarted=True, hash_state=(hashlib.sha256(), 0)) from None
            if exc.code in RETRYABLE_HTTP:
                raise _Retry(f"HTTP {exc.code} {exc.reason}", wait=_retry_after(exc.headers)) from None
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise _Retry(f"{type(exc).__name__}: {reason}") from None

    with resp:
        status = resp.status
        final_url = resp.geturl()
        ctype = (resp.headers.get("Content-Type") or "").lower()
        if ctype.startswith("text/html"):
            raise DownloadError(
                f"{final_url} answered with an HTML page, not the zip (the link may have changed); download "
                "Inter4K.zip by hand and pass it with --from-zip")
        length = _content_length(resp.headers)
        restarted = False
        if status == 206:
            cr = _parse_content_range(resp.headers.get("Content-Range"))
            valid = (cr is not None and offset > 0 and cr[0] == offset and cr[1] >= cr[0]
                     and (cr[2] is None or cr[1] == cr[2] - 1)
                     and (length is None or length == cr[1] - cr[0] + 1)
                     and (known_total is None or cr[2] is None or cr[2] == known_total))
            if not valid:
                # A Content-Range that does not continue the file (or a changed file): start again.
                _truncate(part)
                raise _Retry(f"bad Content-Range {resp.headers.get('Content-Range')!r} for a request from byte "
                             f"{offset}; starting again from zero without Range", wait=0.0, progressed=True,
                             restarted=True, no_range=True, hash_state=(hashlib.sha256(), 0))
            total = cr[2] if cr[2] is not None else None
            start = offset
        elif status == 200:
            if offset:
                restarted = True  # the server ignored Range: the body is the whole file
            start = 0
            total = length
        else:
            raise DownloadError(f"{final_url}: unexpected HTTP status {status}")

        # Free space for what is still to come, before writing a single byte (a restart from zero
        # first frees what the .part file holds, so the need is the same: total - offset).
        if total is not None:
            require_space(part.parent, max(total - offset, 0), f"the download ({fmt_bytes(total)})")
        if start == 0:
            hasher, hashed = hashlib.sha256(), 0
        elif hashed != start:  # resuming a file from an earlier run: hash what is there first
            hasher = sha256_file(part, progress, "hash", limit=start)
            hashed = start
        part.parent.mkdir(parents=True, exist_ok=True)
        got = 0
        with open(part, "r+b" if start and part.exists() else "wb") as f:
            f.seek(start)
            f.truncate()
            done = start
            if progress:
                progress("download", done, total)
            error: Optional[str] = None
            while True:
                want = chunk_size if total is None else min(chunk_size, total - done)
                if want <= 0:
                    break
                try:
                    block = resp.read(want)
                except (OSError, http.client.HTTPException) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    break
                if not block:
                    break
                f.write(block)
                hasher.update(block)
                done += len(block)
                hashed = done
                got += len(block)
                if progress:
                    progress("download", done, total)
        if error is None and total is not None and done < total:
            error = f"connection closed after {done} of {total} bytes"
        if error is not None:
            raise _Retry(error, progressed=got > 0 or restarted, got=got, restarted=restarted, total=total,
                         hash_state=(hasher, hashed))
        return got, done, total, final_url, hasher, hashed, restarted


def _truncate(part: Path) -> None:
    if part.exists():
        with open(part, "r+b") as f:
            f.truncate(0)


# --------------------------------------------------------------------------------------- archive


def _unsafe(info: zipfile.ZipInfo) -> Optional[str]:
    """Why a member must not be extracted, or None."""
    name = info.filename
    if not name or "\x00" in name:
        return "an empty or NUL-containing name"
    norm = name.replace("\\", "/")
    if norm.startswith("/"):
        return "an absolute path"
    if _DRIVE.match(norm):
        return "a drive letter"
    if any(p == ".." for p in norm.split("/")):
        return "a '..' component (it would land outside the root)"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a special file (not a regular file or a folder)"
    return None


def _parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def archive_top(members: list[zipfile.ZipInfo]) -> str:
    """What goes before each member's name under ROOT: ``""`` for the official layout (members
    ``Inter4K/60fps/UHD/<n>.mp4``), ``"Inter4K/"`` for a zip of the same tree without its top folder
    (members ``60fps/UHD/<n>.mp4``). ArchiveError when neither has a clip."""
    names = ["/".join(_parts(i.filename)) for i in members]
    for top in ("", "Inter4K/"):
        if any(_CLIP_MEMBER.match(top + n) for n in names):
            return top
    raise ArchiveError("no Inter4K/60fps/UHD/<n>.mp4 member (nor 60fps/UHD/<n>.mp4); this is not the Inter4K zip")


def member_target(info: zipfile.ZipInfo, top: str) -> str:
    """Where a member lands, relative to ROOT (``/``-separated)."""
    return top + "/".join(_parts(info.filename))


def inspect_archive(zf: zipfile.ZipFile, source: Path) -> list[zipfile.ZipInfo]:
    """The members of ``zf`` after the checks, all made before anything is extracted; raises
    :class:`ArchiveError` naming the first unsafe member, a member that appears twice, a file that
    other members need as a folder (``a`` and ``a/b``), or when there is no clip member
    (:func:`archive_top`)."""
    members = zf.infolist()
    seen: set[str] = set()
    for info in members:
        reason = _unsafe(info)
        if reason:
            raise ArchiveError(f"{source}: refusing member {info.filename!r}: {reason}; nothing was extracted")
        key = "/".join(_parts(info.filename))
        if key in seen:
            raise ArchiveError(f"{source}: member {info.filename!r} appears twice; nothing was extracted")
        seen.add(key)
    try:
        top = archive_top(members)
    except ArchiveError as exc:
        raise ArchiveError(f"{source}: {exc} (nothing was extracted)") from None
    files = {member_target(i, top): i.filename for i in members if not i.is_dir()}
    folders = {"/".join(parts[:k]) for parts in (_parts(member_target(i, top)) for i in members)
               for k in range(1, len(parts))}
    clash = sorted(set(files) & folders)
    if clash:
        raise ArchiveError(f"{source}: member {files[clash[0]]!r} is a file, and other members need it as a "
                           f"folder ({clash[0]}/...); nothing was extracted")
    return members


def check_destination(root: Path, members: list[zipfile.ZipInfo], top: str) -> None:
    """ValueError, before anything is extracted, when something on disk is in the way: a file where the
    zip has a folder, or a folder where the zip has a file."""
    root = Path(root)
    for info in members:
        parts = _parts(member_target(info, top))
        for k in range(1, len(parts) + 1):
            path = root.joinpath(*parts[:k])
            folder = k < len(parts) or info.is_dir()
            if folder and path.exists() and not path.is_dir():
                raise ValueError(f"{path} is a file where the zip has a folder; move it away "
                                 "(nothing was extracted)")
            if not folder and path.is_dir():
                raise ValueError(f"{path} is a folder where the zip has a file; move it away "
                                 "(nothing was extracted)")


def check_crc(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], source: Path,
              progress: Optional[StageProgress] = None, chunk_size: int = CHUNK_SIZE) -> None:
    """Read every member fully; zipfile checks the CRC-32 at the end of each. Raises
    :class:`ArchiveError` naming the damaged member (also for a member that cannot be found where the
    zip's directory says, e.g. a zip whose start is missing)."""
    total = sum(i.file_size for i in members)
    done = 0
    for info in members:
        if info.is_dir():
            continue
        try:
            with zf.open(info) as src:
                while src.read(chunk_size):
                    pass
        except (OSError, ValueError) as exc:  # a seek before the start of the file, a bad offset
            raise ArchiveError(f"{source}: member {info.filename!r} is damaged: its data is not where the zip's "
                               f"directory says (bytes missing at the start of the file?) ({exc}); nothing was "
                               "extracted") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise ArchiveError(f"{source}: member {info.filename!r} is damaged ({exc}); nothing was extracted") \
                from None
        done += info.file_size
        if progress:
            progress("check", done, total)


def _move_tree(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``: a folder that ``dst`` lacks moves in one rename, one it has is merged,
    a file replaces a file."""
    if src.is_dir() and dst.is_dir():
        for child in sorted(src.iterdir()):
            _move_tree(child, dst / child.name)
        src.rmdir()
    else:
        os.replace(src, dst)


def extract_archive(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], root: Path,
                    progress: Optional[StageProgress] = None, chunk_size: int = CHUNK_SIZE,
                    top: str = "") -> list[dict]:
    """Unpack ``members`` (already checked) under ``root``, each at ``top + name``: all of them into a
    temporary folder in ``root`` first, moved into place only when every one is complete, so a
    failure (a damaged member, a full disk, Ctrl-C) extracts nothing. Returns
    ``[{"file", "size", "sha256"}]``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(root)
    staging = temp_path(root / "Inter4K")
    staging.mkdir()
    total = sum(i.file_size for i in members)
    done = 0
    out = []
    try:
        for info in members:
            rel = member_target(info, top)
            dest = staging.joinpath(*_parts(rel))
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            size = 0
            with zf.open(info) as src, open(dest, "wb") as dst:
                while True:
                    block = src.read(chunk_size)
                    if not block:
                        break
                    dst.write(block)
                    h.update(block)
                    size += len(block)
                    if progress:
                        progress("extract", done + size, total)
            done += info.file_size
            out.append({"file": rel, "size": size, "sha256": h.hexdigest()})
        for child in sorted(staging.iterdir()):
            _move_tree(child, root / child.name)
    except OSError as exc:
        if is_disk_full(exc):
            raise NotEnoughSpaceError(f"the disk is full: extracting into {root} failed after {fmt_bytes(done)} of "
                                      f"{fmt_bytes(total)}; nothing was extracted") from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------- manifest


def read_manifest(root: Path) -> Optional[dict]:
    """``ROOT/Inter4K/MANIFEST.json``, or None when there is none (ValueError when unreadable)."""
    path = manifest_path(root)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        files = data["files"]
        for entry in files:
            if not isinstance(entry["file"], str) or not isinstance(entry["size"], int) \
                    or not isinstance(entry["sha256"], str):
                raise TypeError("bad entry")
            if _unsafe(zipfile.ZipInfo(entry["file"])):
                raise ValueError(f"unsafe file name {entry['file']!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); delete it to download and extract again") from None
    return data


def check_manifest(root: Path, manifest: dict, verify_hashes: bool = False,
                   progress: Optional[StageProgress] = None) -> ManifestCheck:
    """Check the files listed in ``manifest`` under ``root``: present, right size, and (with
    ``verify_hashes``) right sha256."""
    root = Path(root)
    missing, wrong_size, wrong_hash = [], [], []
    files = manifest["files"]
    total = sum(e["size"] for e in files)
    done = 0
    for entry in files:
        path = root / entry["file"]
        if not path.is_file():
            missing.append(entry["file"])
            continue
        if path.stat().st_size != entry["size"]:
            wrong_size.append(entry["file"])
            continue
        if verify_hashes:
            digest = sha256_file(path, None, "verify").hexdigest()
            if digest != entry["sha256"].lower():
                wrong_hash.append(entry["file"])
            done += entry["size"]
            if progress:
                progress("verify", done, total)
    return ManifestCheck(len(files), total, missing, wrong_size, wrong_hash, verify_hashes)


def _write_manifest(root: Path, files: list[dict], zip_name: str, zip_size: int, zip_sha: str,
                    url: Optional[str], final_url: Optional[str], from_zip: Optional[Path]) -> Path:
    path = manifest_path(root)
    data = {
        "made_by": f"inter4k download {__version__}",
        "version": MANIFEST_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "source": url if url is not None else str(from_zip),
        "url": url,
        "final_url": final_url,
        "from_zip": str(from_zip) if from_zip is not None else None,
        "licence": layout.LICENCE,
        "zip": {"name": zip_name, "size": zip_size, "sha256": zip_sha},
        "files": sorted(files, key=lambda e: _natural_key(e["file"])),
    }
    return atomic.write_bytes(path, json.dumps(data, indent=1) + "\n", what="the manifest")


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# --------------------------------------------------------------------------------------- download


def download(root=None, url: Optional[str] = None, *, from_zip=None, sha256: Optional[str] = None,
             keep_zip: bool = False, retries: int = DEFAULT_RETRIES, verify_hashes: bool = False,
             force: bool = False, timeout: float = DEFAULT_TIMEOUT, backoff: float = DEFAULT_BACKOFF,
             chunk_size: int = CHUNK_SIZE, progress: Optional[StageProgress] = None,
             on_progress: Optional[ProgressFn] = None) -> DownloadResult:
    """Fetch Inter4K into ``root`` (default ``$INTER4K_ROOT`` or ``~/datasets/inter4k``) and unpack it.

    - ``url``: where to fetch the zip from (default: the official link, a redirect).
    - ``from_zip``: a zip already on disk, used instead of the network (never deleted).
    - ``sha256``: the zip's expected sha256 (64 hex digits); a mismatch raises ChecksumError before
      anything is extracted. Without it, a re-download after a manifest exists must match the
      manifest's zip sha256.
    - ``keep_zip``: keep ``ROOT/Inter4K.zip`` after extracting (default: remove it).
    - ``retries``: consecutive failed attempts to retry (backoff ``backoff * 2**k`` seconds).
    - ``verify_hashes``: when a manifest exists, recheck every file's sha256 (not only its size).
    - ``force``: ignore a complete manifest and extract again.
    - ``timeout``: seconds for connecting and for each socket read.
    - ``on_progress``: gets a :class:`~inter4k.progress.Progress` (unit "bytes") as bytes are
      downloaded / hashed / checked / extracted / verified, each stage under its name.
    - ``progress(stage, done, total)``: the older form of the same reports.
    """
    progress = Reporter(on_progress, unit="bytes", legacy=progress, form=stage_form) or None
    root = layout.resolve_root(root)
    expected = _check_sha256_arg(sha256)
    if url is not None and from_zip is not None:
        raise ValueError("give a URL or a zip on disk (from_zip), not both")
    if from_zip is None:
        url = _check_url(url if url is not None else layout.OFFICIAL_URL)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"root {root} exists and is not a folder")
    source_zip = None
    if from_zip is not None:
        source_zip = Path(from_zip).expanduser().absolute()
        if not source_zip.is_file():
            raise FileNotFoundError(f"no such zip: {source_zip}")

    notes: list[str] = []
    manifest = read_manifest(root)
    expected_from_manifest = False
    if manifest is not None and not force:
        recorded = str(manifest.get("zip", {}).get("sha256") or "").lower() or None
        if expected and recorded and expected != recorded:
            raise ChecksumError(f"{manifest_path(root)} records files from a zip with sha256 {recorded}, not "
                                f"{expected}; use force=True (--force) to replace them")
        check = check_manifest(root, manifest, verify_hashes=verify_hashes, progress=progress)
        if check.ok:
            files = manifest["files"]
            return DownloadResult(
                action="skipped", root=root, source=str(manifest.get("source")), manifest=manifest_path(root),
                files=check.files, file_bytes=check.file_bytes, zip_size=manifest.get("zip", {}).get("size"),
                zip_sha256=recorded, zip_path=zip_path_for(root) if zip_path_for(root).is_file() else None,
                hashes_verified=verify_hashes, clips=sum(bool(_CLIP_MEMBER.match(e["file"])) for e in files),
                notes=[f"all {check.files} files of {manifest_path(root)} are present"
                       + (" with the right sha256" if verify_hashes else " with the right sizes")
                       + "; nothing to do"])
        notes.append(f"manifest check: {check.summary()}; extracting again")
        if expected is None and recorded:
            expected, expected_from_manifest = recorded, True

    fetched: Optional[FetchResult] = None
    if source_zip is not None:
        action, zpath, owned = "from_zip", source_zip, False
        zip_sha = sha256_file(zpath, progress, "hash").hexdigest()
        source = str(source_zip)
    else:
        zpath, owned, source = zip_path_for(root), True, url
        if zpath.is_file():
            action = "reused"
            notes.append(f"using the complete zip already at {zpath} (no network access)")
            zip_sha = sha256_file(zpath, progress, "hash").hexdigest()
        else:
            part = part_path_for(root)
            fetched = fetch(url, part, retries=retries, timeout=timeout, backoff=backoff, chunk_size=chunk_size,
                            progress=progress)
            os.replace(part, zpath)
            action = "resumed" if fetched.resumed_from and fetched.restarts == 0 else "downloaded"
            if fetched.resumed_from and fetched.restarts:
                notes.append("the server ignored the Range request: the download started again from zero")
            zip_sha = fetched.sha256
    zip_size = zpath.stat().st_size

    if expected is not None and zip_sha != expected:
        hint = ("the zip differs from the one the manifest records (the source changed, or the download is "
                "corrupt); pass --sha256 with the new hash to accept it, or --force"
                if expected_from_manifest else "check the expected hash")
        kept = f"; {zpath} is kept (delete it to download again)" if owned else ""
        raise ChecksumError(f"{zpath}: sha256 is {zip_sha}, expected {expected}: {hint}{kept}")

    try:
        try:
            zf = zipfile.ZipFile(zpath)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ArchiveError(f"{zpath} is not a readable zip ({exc}); nothing was extracted") from None
        with zf:
            members = inspect_archive(zf, zpath)
            top = archive_top(members)
            check_destination(root, members, top)
            require_space(root, sum(i.file_size for i in members if not i.is_dir()), "extracting the zip")
            check_crc(zf, members, zpath, progress=progress, chunk_size=chunk_size)
            files = extract_archive(zf, members, root, progress=progress, chunk_size=chunk_size, top=top)
    except ArchiveError as exc:
        if not owned:
            raise
        # Never reuse a damaged ROOT/Inter4K.zip: a download of this run is removed (the next run fetches it
        # again); a zip found there (kept by an earlier run, or put there by hand) is moved aside, not deleted.
        if action == "reused":
            aside = zpath.with_name(zpath.name + DAMAGED_SUFFIX)
            os.replace(zpath, aside)
            raise ArchiveError(f"{exc}; moved it to {aside}, so the next run downloads the zip afresh "
                               f"(delete {aside.name} when done with it)") from None
        zpath.unlink(missing_ok=True)
        raise ArchiveError(f"{exc}; the downloaded zip was removed, run again to download it afresh") from None

    files = [e for e in files if e["file"] != f"Inter4K/{MANIFEST_NAME}"]
    mpath = _write_manifest(root, files, zpath.name, zip_size, zip_sha, url if source_zip is None else None,
                            fetched.final_url if fetched else None, source_zip)
    kept_at: Optional[Path] = zpath
    if owned and not keep_zip:
        zpath.unlink(missing_ok=True)
        kept_at = None
    return DownloadResult(
        action=action, root=root, source=source, manifest=mpath, files=len(files),
        file_bytes=sum(e["size"] for e in files), zip_size=zip_size, zip_sha256=zip_sha, zip_path=kept_at,
        bytes_fetched=fetched.bytes_fetched if fetched else 0, resumed_from=fetched.resumed_from if fetched else 0,
        restarts=fetched.restarts if fetched else 0, retries=fetched.retries if fetched else 0,
        requests=fetched.requests if fetched else 0, final_url=fetched.final_url if fetched else None,
        clips=sum(bool(_CLIP_MEMBER.match(e["file"])) for e in files), notes=notes)
