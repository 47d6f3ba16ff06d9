"""``inter4k download`` against a real HTTP server on 127.0.0.1 (started here, port 0).

The server serves a zip of a tiny synthetic sample (2 clips of 0.5 s) and can: drop Range support,
redirect, cut the connection after N bytes on the first data request, answer 503 first, send a
wrong Content-Range, and serve a corrupt zip or one with a ``../x`` member. No traffic leaves the
machine; every socket has a timeout.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import re
import shutil
import stat
import threading
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app, main
from inter4k import api
from inter4k.data import download as dl
from inter4k.data.sample import make_sample, make_zip

pytestmark = pytest.mark.timeout(60)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
runner = CliRunner()


def plain(text: str) -> str:
    return " ".join(ANSI.sub("", text).split())


# --------------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    base = tmp_path_factory.mktemp("sample")
    src = base / "src"
    make_sample(src, clips=2, seconds=0.5)
    zpath = make_zip(src, base / "Inter4K.zip")
    files = {p.relative_to(src).as_posix(): p.read_bytes() for p in sorted((src / "Inter4K").rglob("*")) if p.is_file()}
    assert "Inter4K/60fps/UHD/1.mp4" in files and "Inter4K/60fps/UHD/2.mp4" in files
    return collections.namedtuple("Sample", "src zip_path zip files")(src, zpath, zpath.read_bytes(), files)


def corrupt(zip_bytes: bytes, member: str = "Inter4K/60fps/UHD/1.mp4") -> bytes:
    """Flip 16 bytes in the middle of ``member``'s (stored) data: the zip's structure stays valid,
    its CRC-32 does not."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as z:
        info = z.getinfo(member)
    data = bytearray(zip_bytes)
    o = info.header_offset
    start = o + 30 + int.from_bytes(data[o + 26:o + 28], "little") + int.from_bytes(data[o + 28:o + 30], "little")
    mid = start + info.compress_size // 2
    for i in range(mid, mid + 16):
        data[i] ^= 0xFF
    return bytes(data)


def with_member(zip_bytes: bytes, name: str, payload: bytes = b"evil\n", symlink: bool = False) -> bytes:
    """The zip plus one extra member (written with writestr, so the name is kept as given)."""
    buf = io.BytesIO(zip_bytes)
    with zipfile.ZipFile(buf, "a") as z:
        info = zipfile.ZipInfo(name)
        if symlink:
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, payload)
    return buf.getvalue()


def assert_extracted(root: Path, sample) -> dict:
    """Every sample file is in ROOT byte for byte, and the manifest lists each with its size and sha256."""
    for rel, data in sample.files.items():
        assert (root / rel).read_bytes() == data, rel
    manifest = json.loads((root / "Inter4K" / "MANIFEST.json").read_text())
    listed = {e["file"]: e for e in manifest["files"]}
    assert set(listed) == set(sample.files)
    for rel, data in sample.files.items():
        assert listed[rel]["size"] == len(data)
        assert listed[rel]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["zip"]["sha256"] == hashlib.sha256(sample.zip).hexdigest()
    assert manifest["zip"]["size"] == len(sample.zip)
    assert not list(root.rglob("*.tmp")), "temporary files left behind"
    return manifest


def nothing_extracted(root: Path) -> bool:
    return not (root / "Inter4K").exists() and not (root.parent / "x").exists()


# --------------------------------------------------------------------------------------- server


class State:
    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.range = True              # honour Range requests
        self.cut_after = None          # bytes to send on the first data request before closing
        self.fail_first = 0            # answer 503 to this many data requests first
        self.bad_content_range = False  # answer Range requests with a Content-Range from byte 0
        self.content_type = "application/zip"
        self.redirects = {"/short": "/files/Inter4K.zip"}
        self.requests: list[tuple[str, str | None]] = []
        self.data_requests = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        st: State = self.server.state
        rng = self.headers.get("Range")
        with st.lock:
            st.requests.append((self.path, rng))
        if self.path in st.redirects:
            self.send_response(302)
            self.send_header("Location", st.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = st.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        with st.lock:
            st.data_requests += 1
            n = st.data_requests
        if n <= st.fail_first:
            self.send_error(503)
            return
        start = 0
        if rng and st.range:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            assert m, rng
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if st.bad_content_range:
                start = 0
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", st.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st.cut_after is not None and n == 1:
            self.wfile.write(body[:st.cut_after])
            self.wfile.flush()
            self.close_connection = True  # the connection drops mid-transfer
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Keep urllib off any proxy configured in the environment: all traffic stays on 127.0.0.1."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def server(sample):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = State({"/files/Inter4K.zip": sample.zip})
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.url = base + "/files/Inter4K.zip"
    httpd.short = base + "/short"
    httpd.base = base
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def run(root, url=None, **kw):
    """download() with test-sized settings: short timeouts, no backoff sleeps, small chunks."""
    kw.setdefault("retries", 2)
    return dl.download(root, url, timeout=5.0, backoff=0.0, chunk_size=16384, **kw)


# --------------------------------------------------------------------------------------- tests


def test_full_download_follows_the_redirect(server, sample, tmp_path):
    root = tmp_path / "root"
    seen = []
    res = run(root, server.short, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert res.action == "downloaded"
    assert [p for p, _ in server.state.requests] == ["/short", "/files/Inter4K.zip"]
    assert res.final_url == server.url
    assert res.bytes_fetched == len(sample.zip) and res.retries == 0 and res.restarts == 0
    manifest = assert_extracted(root, sample)
    assert manifest["url"] == server.short and manifest["final_url"] == server.url
    assert res.files == len(sample.files) and res.clips == 2
    assert res.zip_sha256 == hashlib.sha256(sample.zip).hexdigest()
    assert res.zip_path is None and not (root / "Inter4K.zip").exists()  # --no-keep-zip is the default
    assert not (root / "Inter4K.zip.part").exists()
    stages = {s for s, _, _ in seen}
    assert {"download", "check", "extract"} <= stages
    assert ("download", len(sample.zip), len(sample.zip)) in seen


def test_interrupted_transfer_resumes_with_a_range_request(server, sample, tmp_path):
    cut = len(sample.zip) // 2 + 123
    server.state.cut_after = cut
    res = run(tmp_path, server.url, keep_zip=True)
    ranges = [r for _, r in server.state.requests]
    assert ranges == [None, f"bytes={cut}-"]
    assert res.retries == 1 and res.restarts == 0
    assert res.bytes_fetched == len(sample.zip)  # cut bytes, then the rest: nothing fetched twice
    assert (tmp_path / "Inter4K.zip").read_bytes() == sample.zip
    assert res.zip_path == tmp_path / "Inter4K.zip"
    assert_extracted(tmp_path, sample)


def test_server_without_range_support_restarts_from_zero(server, sample, tmp_path):
    server.state.range = False
    server.state.cut_after = len(sample.zip) // 3
    res = run(tmp_path, server.url, keep_zip=True)
    assert [r for _, r in server.state.requests] == [None, f"bytes={len(sample.zip) // 3}-"]  # asked; got 200
    assert res.restarts == 1
    assert (tmp_path / "Inter4K.zip").read_bytes() == sample.zip
    assert_extracted(tmp_path, sample)


def test_a_content_range_that_does_not_continue_the_file_restarts_cleanly(server, sample, tmp_path):
    server.state.bad_content_range = True
    server.state.cut_after = 5000
    res = run(tmp_path, server.url, keep_zip=True)
    # cut at 5000, ask for 5000-, get "bytes 0-..." (rejected), start again without Range
    assert [r for _, r in server.state.requests] == [None, "bytes=5000-", None]
    assert res.restarts == 1
    assert (tmp_path / "Inter4K.zip").read_bytes() == sample.zip
    assert_extracted(tmp_path, sample)


def test_ctrl_c_keeps_the_part_file_and_the_next_run_resumes(server, sample, tmp_path):
    def interrupt(stage, done, total):
        if stage == "download" and done >= 40000:
            raise KeyboardInterrupt

    with pytest.raises(dl.DownloadInterrupted, match="resume") as info:
        run(tmp_path, server.url, progress=interrupt)
    assert isinstance(info.value, KeyboardInterrupt)
    part = tmp_path / "Inter4K.zip.part"
    kept = part.read_bytes()
    assert 40000 <= len(kept) < len(sample.zip) and kept == sample.zip[:len(kept)]
    assert info.value.size == len(kept)
    assert not (tmp_path / "Inter4K").exists()

    res = run(tmp_path, server.url, keep_zip=True)
    assert res.action == "resumed" and res.resumed_from == len(kept)
    assert server.state.requests[-1] == ("/files/Inter4K.zip", f"bytes={len(kept)}-")
    assert res.bytes_fetched == len(sample.zip) - len(kept)
    assert (tmp_path / "Inter4K.zip").read_bytes() == sample.zip
    assert res.zip_sha256 == hashlib.sha256(sample.zip).hexdigest()  # prefix hashed from disk, rest streamed
    assert_extracted(tmp_path, sample)


def test_a_complete_part_file_is_finished_by_a_416(server, sample, tmp_path):
    """Interrupted after the last byte but before the rename: the Range request gets 416 bytes */N."""
    (tmp_path / "Inter4K.zip.part").write_bytes(sample.zip)
    res = run(tmp_path, server.url)
    assert server.state.requests == [("/files/Inter4K.zip", f"bytes={len(sample.zip)}-")]
    assert res.action == "resumed" and res.bytes_fetched == 0
    assert res.zip_sha256 == hashlib.sha256(sample.zip).hexdigest()
    assert_extracted(tmp_path, sample)


def test_an_html_page_instead_of_the_zip_is_an_error(server, tmp_path):
    server.state.content_type = "text/html; charset=utf-8"
    with pytest.raises(dl.DownloadError, match="HTML page.*--from-zip"):
        run(tmp_path, server.url)
    assert len(server.state.requests) == 1 and not (tmp_path / "Inter4K.zip.part").exists()


def test_retries_5xx_with_backoff_then_gives_up(server, sample, tmp_path, monkeypatch):
    server.state.fail_first = 2
    res = run(tmp_path / "a", server.url, retries=2)
    assert res.retries == 2 and server.state.data_requests == 3
    assert_extracted(tmp_path / "a", sample)

    server.state.data_requests = 0
    waits = []
    with pytest.raises(dl.DownloadError, match="503"):
        dl.fetch(server.url, tmp_path / "b.part", retries=1, timeout=5.0, backoff=0.5, sleep=waits.append)
    assert server.state.data_requests == 2 and waits == [0.5]


def test_http_404_is_not_retried(server, tmp_path):
    with pytest.raises(dl.DownloadError, match="404"):
        run(tmp_path, server.base + "/missing.zip", retries=3)
    assert len(server.state.requests) == 1
    assert not (tmp_path / "Inter4K.zip.part").exists()


def test_corrupt_zip_is_refused_naming_the_member(server, sample, tmp_path):
    server.state.files["/files/Inter4K.zip"] = corrupt(sample.zip)
    root = tmp_path / "root"
    with pytest.raises(dl.ArchiveError, match=r"'Inter4K/60fps/UHD/1\.mp4' is damaged"):
        run(root, server.url)
    assert nothing_extracted(root)
    assert not (root / "Inter4K.zip").exists()  # a damaged download is removed: the next run fetches afresh


def test_member_escaping_the_root_is_refused(server, sample, tmp_path):
    server.state.files["/files/Inter4K.zip"] = with_member(sample.zip, "../x")
    root = tmp_path / "root"
    with pytest.raises(dl.ArchiveError, match=r"'\.\./x'"):
        run(root, server.url)
    assert nothing_extracted(root)


@pytest.mark.parametrize("name, symlink", [
    ("/etc/x", False),
    ("C:/x", False),
    ("Inter4K/a/../../../x", False),
    ("Inter4K/60fps/UHD/link", True),
])
def test_unsafe_members_are_refused_from_a_zip_on_disk(sample, tmp_path, name, symlink):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(with_member(sample.zip, name, payload=b"/etc/passwd", symlink=symlink))
    root = tmp_path / "root"
    with pytest.raises(dl.ArchiveError, match=re.escape(repr(name))):
        dl.download(root, from_zip=bad)
    assert nothing_extracted(root)
    assert bad.exists()  # a zip given by the caller is never deleted


def test_too_little_disk_space_is_refused_before_writing(server, sample, tmp_path, monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 1000, 1000))
    root = tmp_path / "root"
    with pytest.raises(dl.NotEnoughSpaceError, match="not enough free disk space"):
        run(root, server.url)
    assert not (root / "Inter4K.zip.part").exists() and not root.exists()

    # Before extracting too: a zip on disk whose members do not fit.
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 10**12 - len(sample.zip) // 2,
                                                                  len(sample.zip) // 2))
    with pytest.raises(dl.NotEnoughSpaceError, match="extracting"):
        dl.download(root, from_zip=sample.zip_path)
    assert nothing_extracted(root)


def test_a_second_run_does_nothing_and_makes_no_request(server, sample, tmp_path, monkeypatch):
    first = run(tmp_path, server.url)
    assert first.action == "downloaded"
    n = len(server.state.requests)

    def no_network(*args, **kwargs):
        raise AssertionError("network access on a run with nothing to do")

    with monkeypatch.context() as m:
        m.setattr(urllib.request.OpenerDirector, "open", no_network)
        again = run(tmp_path, server.url)
        assert again.action == "skipped" and again.files == len(sample.files) and not again.hashes_verified
        checked = run(tmp_path, server.url, verify_hashes=True)
        assert checked.action == "skipped" and checked.hashes_verified
    assert len(server.state.requests) == n

    # Same size, different bytes: only --verify-hashes sees it, and then the files are fetched again.
    clip = tmp_path / "Inter4K/60fps/UHD/2.mp4"
    data = bytearray(clip.read_bytes())
    data[100] ^= 0xFF
    clip.write_bytes(bytes(data))
    assert run(tmp_path, server.url).action == "skipped"
    fixed = run(tmp_path, server.url, verify_hashes=True)
    assert fixed.action == "downloaded" and "wrong sha256" in " ".join(fixed.notes)
    assert_extracted(tmp_path, sample)

    # A missing file is seen from the sizes alone.
    (tmp_path / "Inter4K/60fps/UHD/1.mp4").unlink()
    assert run(tmp_path, server.url).action == "downloaded"
    assert_extracted(tmp_path, sample)


def test_from_zip_makes_no_request_and_keeps_the_zip(sample, tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request.OpenerDirector, "open",
                        lambda *a, **k: pytest.fail("network access with --from-zip"))
    root = tmp_path / "root"
    res = dl.download(root, from_zip=sample.zip_path)
    assert res.action == "from_zip" and res.bytes_fetched == 0
    manifest = assert_extracted(root, sample)
    assert manifest["from_zip"] == str(sample.zip_path) and manifest["url"] is None
    assert sample.zip_path.read_bytes() == sample.zip
    assert dl.download(root, from_zip=sample.zip_path).action == "skipped"


def test_from_zip_with_a_damaged_member(sample, tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(corrupt(sample.zip, "Inter4K/60fps/UHD/2.mp4"))
    with pytest.raises(dl.ArchiveError, match=r"'Inter4K/60fps/UHD/2\.mp4' is damaged"):
        dl.download(tmp_path / "root", from_zip=bad)
    assert nothing_extracted(tmp_path / "root")


def test_sha256_mismatch_is_refused_before_extracting(server, sample, tmp_path):
    good = hashlib.sha256(sample.zip).hexdigest()
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(dl.ChecksumError, match=wrong):
        run(tmp_path, server.url, sha256=wrong)
    assert nothing_extracted(tmp_path)
    assert (tmp_path / "Inter4K.zip").read_bytes() == sample.zip  # kept: a wrong hash is often a typo
    n = len(server.state.requests)
    res = run(tmp_path, server.url, sha256=good.upper())
    assert res.action == "reused" and len(server.state.requests) == n  # the kept zip, no new request
    assert_extracted(tmp_path, sample)
    with pytest.raises(ValueError, match="64 hexadecimal"):
        run(tmp_path, server.url, sha256="abc")


def test_cli_download_then_nothing_to_do(server, sample, tmp_path):
    root = tmp_path / "root"
    result = runner.invoke(app, ["download", "--url", server.short, "--root", str(root), "--timeout", "5", "-q"])
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert f"Extracted {len(sample.files)} files" in out and "2 clips" in out
    assert hashlib.sha256(sample.zip).hexdigest() in out
    assert_extracted(root, sample)

    n = len(server.state.requests)
    again = runner.invoke(app, ["download", "--url", server.short, "--root", str(root), "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["action"] == "skipped" and report["files"] == len(sample.files)
    assert len(server.state.requests) == n


def test_cli_errors_exit_2_with_the_message(sample, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(with_member(sample.zip, "../x"))
    code = main(["download", "--from-zip", str(bad), "--root", str(tmp_path / "root")])
    assert code == 2
    err = plain(capsys.readouterr().err)
    assert "Error:" in err and "'../x'" in err and "nothing was extracted" in err
    assert nothing_extracted(tmp_path / "root")

    usage = runner.invoke(app, ["download", "--retries", "-1", "--root", str(tmp_path)])
    assert usage.exit_code == 2 and "--retries" in plain(usage.output)


def test_cli_ctrl_c_exits_130_saying_it_will_resume(tmp_path, monkeypatch):
    part = tmp_path / "Inter4K.zip.part"

    def interrupted(*args, **kwargs):
        raise dl.DownloadInterrupted(part, 12345)

    monkeypatch.setattr(api, "download", interrupted)
    result = runner.invoke(app, ["download", "--root", str(tmp_path)])
    assert result.exit_code == 130
    assert "resume" in plain(result.output) and str(part) in plain(result.output).replace(" ", "")


# --------------------------------------------------------------------------------------- damaged and odd zips


def without_top_folder(zip_bytes: bytes) -> bytes:
    """The same zip with its members one folder up: ``60fps/UHD/1.mp4`` instead of ``Inter4K/60fps/UHD/1.mp4``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename.split("/", 1)[1], src.read(info))
    return buf.getvalue()


def test_a_zip_missing_its_first_20_kb_is_one_clear_error(sample, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(sample.zip[20 * 1024:])
    with pytest.raises(dl.ArchiveError, match=r"bad\.zip.*(damaged|not a readable zip).*nothing was extracted"):
        dl.download(tmp_path / "root", from_zip=bad)
    assert nothing_extracted(tmp_path / "root") and bad.exists()
    monkeypatch.delenv("INTER4K_DEBUG", raising=False)
    assert main(["download", "--from-zip", str(bad), "--root", str(tmp_path / "root")]) == 2
    err = plain(capsys.readouterr().err)
    assert "Error:" in err and "Traceback" not in err and "bytes missing at the start" in err


def test_a_damaged_zip_left_in_root_is_moved_aside_and_not_reused(server, sample, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "Inter4K.zip").write_bytes(sample.zip[20 * 1024:])  # e.g. a download cut at the front
    with pytest.raises(dl.ArchiveError, match=r"moved it to .*Inter4K\.zip\.damaged.*downloads the zip afresh"):
        run(root, server.url)
    assert not (root / "Inter4K.zip").exists() and nothing_extracted(root)
    assert (root / "Inter4K.zip.damaged").read_bytes() == sample.zip[20 * 1024:]  # kept, not deleted
    assert server.state.requests == []
    res = run(root, server.url)  # the next run downloads instead of failing the same way
    assert res.action == "downloaded" and len(server.state.requests) == 1
    assert_extracted(root, sample)


def test_a_file_that_is_also_a_folder_extracts_nothing(sample, tmp_path):
    zip_bytes = with_member(with_member(sample.zip, "Inter4K/a_file"), "Inter4K/a_file/child")
    bad = tmp_path / "clash.zip"
    bad.write_bytes(zip_bytes)
    root = tmp_path / "root"
    with pytest.raises(dl.ArchiveError, match=r"'Inter4K/a_file' is a file, and other members need it as a folder"):
        dl.download(root, from_zip=bad)
    assert nothing_extracted(root)
    assert not root.exists() or list(root.iterdir()) == []


def test_the_official_layout_without_its_top_folder_is_accepted(sample, tmp_path):
    flat = tmp_path / "flat.zip"
    flat.write_bytes(without_top_folder(sample.zip))
    root = tmp_path / "root"
    res = dl.download(root, from_zip=flat)
    assert res.action == "from_zip" and res.clips == 2
    for rel, data in sample.files.items():
        assert (root / rel).read_bytes() == data, rel
    listed = {e["file"] for e in json.loads((root / "Inter4K" / "MANIFEST.json").read_text())["files"]}
    assert listed == set(sample.files)
    assert dl.download(root, from_zip=flat).action == "skipped"


def test_something_in_the_way_on_disk_extracts_nothing(sample, tmp_path):
    root = tmp_path / "root"
    (root / "Inter4K").mkdir(parents=True)
    (root / "Inter4K" / "60fps").write_bytes(b"not a folder")
    with pytest.raises(ValueError, match=r"60fps is a file where the zip has a folder.*nothing was extracted"):
        dl.download(root, from_zip=sample.zip_path)
    assert sorted(p.name for p in root.rglob("*")) == ["60fps", "Inter4K"]


def test_a_failure_half_way_through_the_extraction_leaves_nothing(sample, tmp_path, monkeypatch):
    """A full disk on the second file: the first is not left in place, nor is the temporary folder."""
    import errno

    real_open = zipfile.ZipFile.open
    opened = []

    def open_then_fail(self, name, *args, **kwargs):
        if kwargs.get("mode", args[0] if args else "r") == "r" and len(opened) >= len(sample.files) + 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        opened.append(name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_then_fail)  # the CRC pass opens each file once, then 1 more
    root = tmp_path / "root"
    with pytest.raises(dl.NotEnoughSpaceError, match=r"disk is full.*nothing was extracted"):
        dl.download(root, from_zip=sample.zip_path)
    assert nothing_extracted(root)
    assert list(root.iterdir()) == []  # no temporary folder either


def test_a_stale_extraction_folder_of_a_killed_run_is_removed(sample, tmp_path):
    import subprocess
    import sys

    from inter4k import atomic

    root = tmp_path / "root"
    root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = atomic.temp_path(root / "Inter4K")
    stale = stale.with_name(stale.name.replace(f"-{__import__('os').getpid()}-", f"-{pid}-"))
    (stale / "Inter4K" / "60fps").mkdir(parents=True)
    (stale / "Inter4K" / "60fps" / "half.mp4").write_bytes(b"x" * 100)
    dl.download(root, from_zip=sample.zip_path)
    assert not stale.exists()
    assert sorted(p.name for p in root.iterdir()) == ["Inter4K"]
