"""inter4k.data.prepare and ``inter4k prepare``: shards, resuming, PreparedSR / PreparedVFI."""

from __future__ import annotations

import json
import re
from functools import lru_cache

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app, main
from inter4k.data import layout
from inter4k.data.prepare import PreparedSR, PreparedVFI, prepare, read_index
from inter4k.data.resize import imresize
from inter4k.data.sample import make_sample
from inter4k.video import iter_frames

FRAMES = 30


@pytest.fixture(scope="module")
def root(sample_root):
    return sample_root


@lru_cache(maxsize=4)
def _frames(path: str) -> np.ndarray:
    return np.stack(list(iter_frames(path)))


def frames_of(root, clip):
    return _frames(str(layout.clip_path(root, clip)))


def snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.iterdir())}


def test_prepare_sr_writes_shards_that_match_the_video(root, tmp_path):
    out = tmp_path / "sr"
    ticks = []
    report = prepare(root, out, split="train", clips=[1, 2, 3], patch=48, per_clip=5, shard_size=4, seed=1,
                     progress=lambda done, total, note: ticks.append((done, total)))
    assert report["patches"] == 15 and report["shards"] == 4
    assert report["written"] == 4 and report["skipped"] == 0
    assert ticks[-1] == (15, 15)
    index = read_index(out)
    assert index["complete"] and index["total"] == 15 and index["shape"] == [1, 3, 48, 48]
    assert [s["count"] for s in index["shards"]] == [4, 4, 4, 3]
    assert index["scales"] == [2, 3, 4]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["index.json"] + [f"shard-0000{j}{ext}" for j in range(4) for ext in (".npy", ".origins.npy")]
    data = np.concatenate([np.load(out / f"shard-0000{j}.npy") for j in range(4)])
    origins = np.concatenate([np.load(out / f"shard-0000{j}.origins.npy") for j in range(4)])
    assert data.dtype == np.uint8 and data.shape == (15, 1, 3, 48, 48)
    assert origins[:, 0].tolist() == [1] * 5 + [2] * 5 + [3] * 5
    for k in range(15):
        clip, start, y, x = (int(v) for v in origins[k])
        assert 0 <= start < FRAMES and y + 48 <= 216 and x + 48 <= 384
        np.testing.assert_array_equal(data[k, 0], frames_of(root, clip)[start, y:y + 48, x:x + 48].transpose(2, 0, 1))
    # the patches do not depend on the shard size
    other = tmp_path / "sr-one-shard"
    prepare(root, other, split="train", clips=[1, 2, 3], patch=48, per_clip=5, shard_size=100, seed=1)
    np.testing.assert_array_equal(np.load(other / "shard-00000.npy"), data)
    prepare(root, tmp_path / "seed2", split="train", clips=[1, 2, 3], patch=48, per_clip=5, shard_size=100, seed=2)
    assert not np.array_equal(np.load(tmp_path / "seed2" / "shard-00000.npy"), data)


def test_prepare_resumes_and_refuses_another_config(root, tmp_path):
    out = tmp_path / "sr"
    kw = dict(split="train", clips=[1, 2, 3], patch=48, per_clip=3, shard_size=2)
    prepare(root, out, **kw)
    before = snapshot(out)
    again = prepare(root, out, **kw)
    assert again["written"] == 0 and again["skipped"] == 5
    assert snapshot(out) == before  # nothing was touched

    # an interrupted run: the last two shards are not there yet
    full = {j: np.load(out / f"shard-0000{j}.npy") for j in range(5)}
    index = read_index(out)
    for j in (3, 4):
        (out / f"shard-0000{j}.npy").unlink()
        index["shards"][j] = None
    index["complete"] = False
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="not complete"):
        PreparedSR(out, scale=4)
    resumed = prepare(root, out, **kw)
    assert resumed["written"] == 2 and resumed["skipped"] == 3
    for j in range(5):
        np.testing.assert_array_equal(np.load(out / f"shard-0000{j}.npy"), full[j])
    assert all(snapshot(out)[f"shard-0000{j}.npy"] == before[f"shard-0000{j}.npy"] for j in range(3))
    assert read_index(out)["complete"]

    with pytest.raises(ValueError, match=r"per_clip \(3 there, 4 requested\)"):
        prepare(root, out, **dict(kw, per_clip=4))
    with pytest.raises(ValueError, match="patch"):
        prepare(root, out, **dict(kw, patch=96))


def test_prepared_sr_gives_imresize_pairs_with_flips(root, tmp_path):
    out = tmp_path / "sr"
    prepare(root, out, split="train", clips=[1, 2], patch=48, per_clip=8, shard_size=5)
    ds = PreparedSR(out, scale=4)
    assert len(ds) == 16
    flips = 0
    for i in range(len(ds)):
        lr, hr = ds[i]
        assert lr.shape == (3, 12, 12) and hr.shape == (3, 48, 48)
        assert lr.dtype == hr.dtype == torch.float32
        assert 0 <= float(hr.min()) and float(hr.max()) <= 1 and 0 <= float(lr.min()) and float(lr.max()) <= 1
        assert torch.equal(lr, imresize(hr, scale=0.25).clamp(0, 1))
        raw = torch.from_numpy(ds.raw(i)[0]).float() / 255
        plan = ds.plan(i)
        dims = [d for d, on in ((-2, plan["vflip"]), (-1, plan["hflip"])) if on]
        assert torch.equal(hr, raw.flip(dims) if dims else raw)
        flips += bool(dims)
    assert flips
    again = PreparedSR(out, scale=4)
    assert all(torch.equal(again[i][1], ds[i][1]) for i in range(4))  # seeded
    x3 = PreparedSR(out, scale=3, augment=False)
    lr, hr = x3[0]
    assert lr.shape == (3, 16, 16) and torch.equal(hr, torch.from_numpy(x3.raw(0)[0]).float() / 255)
    with pytest.raises(ValueError, match="unknown scale"):
        PreparedSR(out, scale=5)
    with pytest.raises(ValueError, match="not 'vfi'|holds 'sr'"):
        PreparedVFI(out)


def test_prepared_sr_in_a_dataloader_with_workers(root, tmp_path):
    out = tmp_path / "sr"
    prepare(root, out, split="train", clips=[1], patch=48, per_clip=6, shard_size=4)
    ds = PreparedSR(out, scale=2)
    ds[0]  # opens the memory maps in this process; they must not be pickled into the workers
    batches = list(torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2))
    assert [b[0].shape for b in batches] == [(3, 3, 24, 24)] * 2
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.stack([ds[i][1] for i in range(6)]))


@pytest.mark.parametrize("mode,span", [("15to60", 4), ("8x", 8)])
def test_prepared_vfi_matches_the_frame_rule(root, tmp_path, mode, span):
    out = tmp_path / mode
    report = prepare(root, out, split="val", task="vfi", mode=mode, clips=[2, 3], patch=32, per_clip=3)
    assert report["shape"] == [span + 1, 3, 32, 32]
    ds = PreparedVFI(out)  # a val folder: no flips, no reversal
    assert len(ds) == 6
    for i in range(len(ds)):
        clip, base, y, x = ds.origin(i)
        assert base % span == 0 and base + span < FRAMES
        inputs, targets, t = ds[i]
        seq = torch.from_numpy(frames_of(root, clip)[base:base + span + 1, y:y + 32, x:x + 32].copy())
        seq = seq.permute(0, 3, 1, 2).float() / 255
        assert torch.equal(inputs, seq[[0, span]]) and torch.equal(targets, seq[1:span])
        assert torch.equal(t, torch.arange(1, span, dtype=torch.float32) / span)
    train = tmp_path / f"{mode}-train"
    prepare(root, train, split="train", task="vfi", mode=mode, clips=[1], patch=32, per_clip=8)
    tds = PreparedVFI(train)
    reversed_seen = 0
    for i in range(len(tds)):
        plan = tds.plan(i)
        inputs, targets, t = tds[i]
        seq = torch.from_numpy(tds.raw(i)).float() / 255
        dims = [d for d, on in ((-2, plan["vflip"]), (-1, plan["hflip"])) if on]
        seq = seq.flip(dims) if dims else seq
        if plan["reverse"]:
            reversed_seen += 1
            assert torch.equal(inputs[0], seq[-1]) and torch.equal(targets[0], seq[span - 1])
        else:
            assert torch.equal(inputs[0], seq[0]) and torch.equal(targets[0], seq[1])
    assert reversed_seen


def test_prepare_errors(root, tmp_path):
    with pytest.raises(ValueError, match="not a multiple of scale"):
        prepare(root, tmp_path / "a", patch=50, scale=4)
    with pytest.raises(ValueError, match="unknown task"):
        prepare(root, tmp_path / "a", task="denoise")
    with pytest.raises(ValueError, match="larger than"):
        prepare(root, tmp_path / "a", clips=[1], patch=240, per_clip=1)
    with pytest.raises(FileNotFoundError, match="inter4k sample"):
        prepare(tmp_path / "empty", tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="inter4k prepare"):
        PreparedSR(tmp_path / "nowhere")


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_cli_prepare(root, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["prepare", "--root", str(root), "--out", str(out), "--patch", "48", "--per-clip", "2",
            "--clips", "1,2", "--shard-size", "3", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["patches"] == 4 and report["shards"] == 2 and report["written"] == 2
    assert len(PreparedSR(out, scale=4)) == 4
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and json.loads(result.stdout)["written"] == 0
    table = runner.invoke(app, args[:-1])
    assert table.exit_code == 0 and "skipped" in ANSI.sub("", table.stdout)
    # errors go through main(): bad input exits 2 with one line, no traceback
    assert main(["prepare", "--root", str(root), "--out", str(tmp_path / "x"), "--patch", "50"]) == 2
    assert main(["prepare", "--root", str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == 2


# --- a full disk, a cut-short shard -------------------------------------------------------------------

FULL = dict(split="train", clips=[1, 2, 3], patch=48, per_clip=60, shard_size=90, seed=3)  # 2 shards, 1.2 MiB


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_full_disk_while_writing_a_shard_is_one_error_and_leaves_no_temp_file(root, tmp_path, disk_full_after):
    from inter4k.atomic import NotEnoughSpaceError

    out = tmp_path / "sr"
    disk_full_after(900_000)  # the first shard (622 KiB) fits, the second does not
    with pytest.raises(NotEnoughSpaceError, match=r"disk is full: writing .*shard-00001\.npy failed after .*; shard-00001\.npy was not written"):
        prepare(root, out, **FULL)
    assert leftovers(out) == []
    index = read_index(out)
    assert index["shards"][0] and index["shards"][1] is None and not index["complete"]
    assert not (out / "shard-00001.npy").exists()


def test_a_full_disk_resumes_to_the_same_shards(root, tmp_path, disk_full_after, monkeypatch):
    from inter4k.atomic import NotEnoughSpaceError

    whole = prepare(root, tmp_path / "whole", **FULL)
    out = tmp_path / "sr"
    disk_full_after(900_000)
    with pytest.raises(NotEnoughSpaceError):
        prepare(root, out, **FULL)
    monkeypatch.undo()  # space again
    again = prepare(root, out, **FULL)
    assert again["written"] == 1 and again["skipped"] == 1 and whole["written"] == 2
    for name in ("shard-00000.npy", "shard-00001.npy", "shard-00001.origins.npy"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_too_little_free_space_is_refused_before_writing(root, tmp_path, monkeypatch):
    import collections
    import shutil

    from inter4k.atomic import NotEnoughSpaceError

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 10 ** 12 - 10 ** 6, 10 ** 6))
    out = tmp_path / "sr"
    with pytest.raises(NotEnoughSpaceError, match=r"the 2 shard\(s\) still to write.*needs 1\.2 MiB, 976\.6 KiB free"):
        prepare(root, out, **FULL)
    assert not out.exists()


def test_a_real_full_disk_is_an_error_not_a_sigbus(root, small_disk):
    """On a 1 MiB tmpfs, with the up-front check bypassed so that the writes meet the full disk. Run in a
    child process: the memory-mapped writer this replaces was killed by SIGBUS (exit -7 here)."""
    import subprocess
    import sys

    code = ("import sys, inter4k.atomic as a\n"
            "a.free_bytes = lambda path: 1 << 50  # skip the up-front check\n"
            "from inter4k.data.prepare import prepare\n"
            f"try:\n    prepare({str(root)!r}, {str(small_disk / 'sr')!r}, **{FULL!r})\n"
            "except a.NotEnoughSpaceError as exc:\n    print(exc)\n    sys.exit(3)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert "disk is full" in r.stdout
    assert leftovers(small_disk / "sr") == []
    # and without the bypass, the up-front check refuses before writing anything
    with pytest.raises(RuntimeError, match="not enough free disk space"):
        prepare(root, small_disk / "sr2", **FULL)
    assert not (small_disk / "sr2").exists()


def test_a_shard_cut_short_is_cut_again(root, tmp_path):
    out = tmp_path / "sr"
    kw = dict(split="train", clips=[1, 2, 3], patch=48, per_clip=3, shard_size=4)
    prepare(root, out, **kw)
    good = (out / "shard-00001.npy").read_bytes()
    with open(out / "shard-00001.npy", "r+b") as f:
        f.truncate(len(good) - 1000)
    with pytest.raises(ValueError, match=r"shard-00001\.npy has \d+ bytes, not \d+ \(cut short\).*prepare. again"):
        PreparedSR(out)
    again = prepare(root, out, **kw)
    assert again["repaired"] == ["shard-00001.npy"] and again["written"] == 1 and again["skipped"] == 2
    assert (out / "shard-00001.npy").read_bytes() == good
    assert len(PreparedSR(out)) == 9
    (out / "shard-00002.origins.npy").unlink()
    assert prepare(root, out, **kw)["repaired"] == ["shard-00002.npy"]


def test_clips_cut_with_frames_are_train_vsr_data(root, tmp_path):
    from inter4k.data import sources

    out = tmp_path / "clips"
    prepare(root, out, split="train", clips=[1], patch=48, per_clip=2, frames=3, seed=1)
    spec = sources.parse_data(str(out), "vsr")
    assert spec.kind == "prepared"
    ds = sources.open_dataset(spec, "vsr", "train", frames=3, patch=48, scale=4, quantize=True)
    lr, hr = ds[0]
    assert lr.shape == (3, 3, 12, 12) and hr.shape == (3, 3, 48, 48)
    with pytest.raises(ValueError, match="holds clips of 3 frames; pass --frames 3"):
        sources.open_dataset(spec, "vsr", "train", frames=5, patch=48, scale=4)
