"""The shipped train/val/test split, the sample split, and ``inter4k sample``."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app, main
from inter4k import api
from inter4k.data import layout, splits
from inter4k.data.sample import make_sample
from inter4k.video import probe

ROOT = Path(__file__).resolve().parent.parent
SPLITS_JSON = ROOT / "data" / "splits" / "inter4k.json"
runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_shipped_split_is_80_10_10_disjoint_and_complete():
    data = json.loads(SPLITS_JSON.read_text())
    train, val, test = data["train"], data["val"], data["test"]
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert data["counts"] == {"train": 800, "val": 100, "test": 100}
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(train + val + test) == list(range(1, 1001))
    assert all(part == sorted(part) for part in (train, val, test))


def test_shipped_split_is_what_the_rule_makes():
    data = json.loads(SPLITS_JSON.read_text())
    assert data == splits.make_splits()
    assert splits.SPLITS_FILE == SPLITS_JSON
    # the rule written in the file is code that reproduces the lists
    scope = {"random": random}
    exec(data["rule"], scope)  # noqa: S102 - our own file
    assert (scope["train"], scope["val"], scope["test"]) == (data["train"], data["val"], data["test"])
    other = splits.make_splits(seed=1)
    assert other["train"] != data["train"] and "Random(1)" in other["rule"]


def test_load_split(tmp_path, monkeypatch):
    data = json.loads(SPLITS_JSON.read_text())
    for name in ("train", "val", "test"):
        assert splits.load_split(name) == data[name]
        assert api.load_split(name) == data[name]
        assert splits.load_split(name, root=tmp_path) == data[name]  # not a sample: the official split
    with pytest.raises(ValueError, match="unknown split"):
        splits.load_split("validation")
    monkeypatch.setattr(splits, "SPLITS_FILE", tmp_path / "absent.json")  # e.g. an installed wheel
    assert splits.load_split("test") == data["test"]


def test_sample_split_rule():
    assert splits.sample_splits(6) == {"train": [1, 2, 3, 4], "val": [5], "test": [6]}
    assert splits.sample_splits(3) == {"train": [1], "val": [2], "test": [3]}
    assert splits.sample_splits(20) == {"train": list(range(1, 17)), "val": [17, 18], "test": [19, 20]}
    assert splits.sample_splits(1) == {"train": [1], "val": [1], "test": [1]}
    for c in range(3, 40):
        s = splits.sample_splits(c)
        assert sorted(s["train"] + s["val"] + s["test"]) == list(range(1, c + 1))
        assert all(s[name] for name in s)
        assert len(s["train"]) >= len(s["val"]) == len(s["test"])


def test_make_sample_layout(tmp_path):
    paths = make_sample(tmp_path, clips=3, seconds=0.25)
    assert paths == [layout.clip_path(tmp_path, n) for n in (1, 2, 3)]
    assert paths[0] == tmp_path / "Inter4K" / "60fps" / "UHD" / "1.mp4"
    assert layout.list_clips(tmp_path) == [1, 2, 3]
    meta = json.loads((tmp_path / "Inter4K" / "SAMPLE.json").read_text())
    assert meta["size"] == [384, 216] and meta["fps"] == 60 and meta["clips"] == 3 and meta["frames"] == 15
    info = probe(paths[0])
    assert (info.width, info.height, info.fps, info.frames) == (384, 216, 60, 15) and info.has_audio
    exp = layout.expected(tmp_path)
    assert exp.sample and (exp.width, exp.height) == (384, 216)
    assert splits.load_split("train", tmp_path) == [1] and splits.load_split("test", tmp_path) == [3]


def test_sample_cli(tmp_path):
    root = tmp_path / "s"
    result = runner.invoke(app, ["sample", "--root", str(root), "--clips", "2", "--seconds", "0.25", "--no-audio"])
    assert result.exit_code == 0, result.output
    assert "2 clips" in ANSI.sub("", result.stdout)
    assert layout.list_clips(root) == [1, 2]
    assert not probe(layout.clip_path(root, 1)).has_audio
    assert json.loads((root / "Inter4K" / "SAMPLE.json").read_text())["seconds"] == 0.25
    result = runner.invoke(app, ["verify", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert main(["sample", "--root", str(root), "--clips", "0"]) == 2
    assert main(["sample"]) == 2  # --root is required


def test_bundled_sample_verifies():
    """data/sample/inter4k, the sample the README's commands use, is a valid Inter4K-layout tree."""
    from pathlib import Path

    from inter4k.data.verify import verify

    root = Path(__file__).resolve().parent.parent / "data" / "sample" / "inter4k"
    report = verify(root, workers=1)
    assert report.ok, report.to_dict()
    assert [c.clip for c in report.clips] == [1, 2, 3]
