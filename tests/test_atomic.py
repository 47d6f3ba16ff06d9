"""inter4k.atomic: files replaced whole or not at all, a full disk as one error, stale temporary files
of killed runs removed. Through its users: training checkpoints (inter4k.train.checkpoint) and model
files (inter4k.models.weights.save_model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inter4k import atomic
from inter4k.models import create_model, load_model, save_model
from inter4k.train import checkpoint as ckpt_io

BIG = {"w": torch.zeros(600_000)}  # 2.3 MiB: more than the 1 MiB test disk holds


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def killed_during_a_save(target: Path) -> Path:
    """Run a child that starts writing ``target`` and is killed (SIGKILL) half-way; its temporary file."""
    code = ("import os, signal, sys\nfrom inter4k import atomic\n"
            f"with atomic.replacing({str(target)!r}) as fh:\n"
            "    fh.write(b'x' * 1000); fh.flush(); print('writing', flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == -9 and "writing" in r.stdout, r.stderr
    (left,) = [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    return left


def test_a_checkpoint_on_a_full_disk_is_one_error_not_unexpected_pos(small_disk):
    path = small_disk / "last.pt"
    ckpt_io.save_atomic({"step": 1}, path)
    before = path.read_bytes()
    # checked before writing ...
    with pytest.raises(atomic.NotEnoughSpaceError, match=r"not enough free disk space for the checkpoint in "
                                                         r".*needs 2\.3 MiB, .* free; the previous last\.pt is kept"):
        ckpt_io.save_atomic(BIG, path)
    assert path.read_bytes() == before and temps(small_disk) == []


def test_a_full_disk_met_while_writing_a_checkpoint(small_disk, monkeypatch):
    """The free-space check bypassed (another process filled the disk meanwhile): the real ENOSPC of the
    write is the same one line; torch.save writing to the file itself said ``inline_container.cc:672
    unexpected pos``."""
    path = small_disk / "last.pt"
    ckpt_io.save_atomic({"step": 1}, path)
    before = path.read_bytes()
    monkeypatch.setattr(atomic, "free_bytes", lambda p: 1 << 50)
    with pytest.raises(atomic.NotEnoughSpaceError, match=r"the disk is full: writing .*last\.pt failed after "
                                                         r".*; the previous last\.pt is kept"):
        ckpt_io.save_atomic(BIG, path)
    assert path.read_bytes() == before and temps(small_disk) == []


def test_model_files_use_the_same_writer(tmp_path, disk_full_after):
    model = create_model("sr-small", scale=2)
    disk_full_after(1000)
    with pytest.raises(atomic.NotEnoughSpaceError, match=r"writing .*m\.pt failed after 1000 B.*; m\.pt was not written"):
        save_model(model, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    left = killed_during_a_save(run / "last.pt")
    assert left.name.startswith(".last.pt.") and left.name.endswith(".tmp")
    live = atomic.temp_path(run / "best.pt")  # this process's own: in use, never removed
    live.write_bytes(b"in use")
    foreign = run / ".last.pt.abcdef-1-00000000.tmp"  # another machine's (host tag): not ours to judge
    foreign.write_bytes(b"")
    ckpt_io.save_atomic({"step": 2}, run / "last.pt")
    assert not left.exists() and live.exists() and foreign.exists()
    assert torch.load(run / "last.pt", weights_only=True) == {"step": 2}


def test_temporary_names_are_unique_per_run(tmp_path):
    a, b = atomic.temp_path(tmp_path / "x.pt"), atomic.temp_path(tmp_path / "x.pt")
    assert a != b and a.parent == tmp_path and f"-{os.getpid()}-" in a.name


def test_write_files_changes_all_or_none(tmp_path, disk_full_after):
    files = {tmp_path / "a.txt": "a" * 600, tmp_path / "b.txt": "b" * 600}
    atomic.write_files({p: "old" for p in files})
    disk_full_after(1000)  # the first file fits, the second does not
    with pytest.raises(atomic.NotEnoughSpaceError):
        atomic.write_files(files)
    assert [p.read_text() for p in files] == ["old", "old"] and temps(tmp_path) == []


def test_a_zero_byte_checkpoint_says_so(tmp_path):
    empty = tmp_path / "last.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"last\.pt: an empty file \(0 bytes\), not a checkpoint"):
        ckpt_io.load(empty)
    with pytest.raises(ValueError, match=r"last\.pt: an empty file \(0 bytes\)"):
        load_model(empty)
    cut = tmp_path / "cut.pt"
    ckpt_io.save_atomic({"w": torch.zeros(1000)}, cut)
    cut.write_bytes(cut.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.pt: not a loadable checkpoint .*: \w+: \S"):  # a reason, not ""
        ckpt_io.load(cut)


def test_write_bytes_replaces_and_cleans_up(tmp_path):
    path = tmp_path / "sub" / "report.md"
    atomic.write_bytes(path, "one")
    atomic.write_bytes(path, "two")
    assert path.read_text() == "two" and sorted(p.name for p in path.parent.iterdir()) == ["report.md"]
    with pytest.raises(TypeError):
        atomic.write_bytes(path, 12345)  # not text or bytes: nothing half-written remains
    assert path.read_text() == "two" and sorted(p.name for p in path.parent.iterdir()) == ["report.md"]


def test_writing_publishes_whole_files_or_nothing_for_encoders_that_want_a_suffix(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="encoder broke"):
        with atomic.writing(target) as tmp:
            assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".fig.part-")
            tmp.write_bytes(b"half")
            raise RuntimeError("encoder broke")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"] and target.read_bytes() == b"old"
    with pytest.raises(OSError, match="nothing was written"):
        with atomic.writing(target):
            pass  # an encoder that failed silently (cv2.imwrite returning False, say)
    stale = tmp_path / ".fig.part.png"  # an older, killed run's
    stale.write_bytes(b"junk")
    with atomic.writing(target) as tmp:
        tmp.write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"] and target.read_bytes() == b"new"
