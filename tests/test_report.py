"""inter4k evaluate --report: report.json / .csv / .md / .html, their keys, rows and self-containedness."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from inter4k.evaluate import evaluate
from inter4k.evaluate.crops import best_window, window_side
from inter4k.evaluate.report import REPORT_FILES, format_value
from inter4k.evaluate.results import json_safe, mean_values

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample" / "inter4k"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def no_lpips(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)


def _pairs(folder: Path, clips: dict[str, int], size=(40, 48)) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for clip, n in clips.items():
        for i in range(n):
            ref = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            pred = np.clip(ref.astype(int) + rng.integers(-8, 9, ref.shape), 0, 255).astype(np.uint8)
            for side, img in (("ref", ref), ("pred", pred)):
                (folder / side / clip).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / side / clip / f"{i}.png"), img)
    return folder / "pred", folder / "ref"


def _strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def _check_self_contained(html: str) -> list[bytes]:
    """The page's images, decoded; fails on any reference to an outside file."""
    srcs = re.findall(r"""src=['"]([^'"]*)['"]""", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs), srcs[:3]
    assert not re.search(r"""(href|url)\s*[=(]\s*['"]?(?!#|data:)""", html)
    pngs = [base64.b64decode(s.split(",", 1)[1]) for s in srcs]
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    return pngs


def test_pairs_report_files(tmp_path, no_lpips, one_thread):
    pred, ref = _pairs(tmp_path / "in", {"c1": 3, "c2": 2})
    out = tmp_path / "rep"
    r = evaluate(task="sr", pred=pred, ref=ref, scale=2, report=out)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)  # no temporary files left
    assert {k: v.name for k, v in r.report_files.items()} == {n: n for n in REPORT_FILES}

    data = _strict_json((out / "report.json").read_text())
    assert {"format", "task", "mode", "config", "metrics", "lpips_status", "primary", "methods", "crops",
            "warnings"} <= set(data)
    assert data["metrics"] == ["psnr_y", "ssim_y", "psnr_rgb", "lpips"]
    assert data["lpips_status"]["available"] is False and "alexnet" in data["lpips_status"]["reason"]
    m = data["methods"][data["primary"]]
    for key in ("mean_over_frames", "mean_over_clips"):
        assert set(m[key]) == {"psnr_y", "ssim_y", "psnr_rgb", "lpips"} and m[key]["lpips"] is None
    assert len(m["per_frame"]) == 5 and [c["frames"] for c in m["per_clip"]] == [3, 2]
    frames = r.primary.frames
    assert m["per_frame"][0]["psnr_y"] == pytest.approx(frames[0].values["psnr_y"], abs=1e-12)
    assert m["mean_over_frames"]["psnr_y"] == pytest.approx(np.mean([f.values["psnr_y"] for f in frames]), abs=1e-9)

    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == 5 == len(frames)
    assert list(rows[0]) == ["method", "clip", "frame", "name", "psnr_y", "ssim_y", "psnr_rgb", "lpips"]
    assert [(row["clip"], row["name"]) for row in rows] == [(f.clip, f.name) for f in frames]
    assert float(rows[3]["ssim_y"]) == frames[3].values["ssim_y"] and rows[3]["lpips"] == ""

    md = (out / "report.md").read_text()
    assert "## Mean over all frames" in md and "## Per clip" in md
    assert f"| pred | 5 | 2 | {format_value('psnr_y', r.primary.mean_over_frames['psnr_y'])} |" in md

    html = (out / "report.html").read_text()
    pngs = _check_self_contained(html)
    assert len(pngs) == 2 + 2 * 2  # line plot, distribution; two crops of pred / ref
    assert "lowest PSNR-Y" in html and "centre of the first frame" in html
    worst = min(frames, key=lambda f: f.values["psnr_y"])
    assert r.crops[0].clip == worst.clip and r.crops[0].frame == worst.index


def test_a_full_disk_keeps_the_previous_report_whole(tmp_path, no_lpips, one_thread, disk_full_after):
    from inter4k.atomic import NotEnoughSpaceError

    pred, ref = _pairs(tmp_path / "in", {"c1": 2})
    out = tmp_path / "rep"
    evaluate(task="sr", pred=pred, ref=ref, scale=2, report=out)
    before = {n: (out / n).read_bytes() for n in REPORT_FILES}
    disk_full_after(2000)  # the csv fits, the rest does not
    with pytest.raises(NotEnoughSpaceError, match=r"disk is full: writing .*rep/report\.\w+ failed"):
        evaluate(task="sr", pred=pred, ref=ref, scale=3, report=out)
    assert {n: (out / n).read_bytes() for n in REPORT_FILES} == before  # no new csv beside an old md
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)


def test_a_report_on_a_real_full_disk_is_one_error_and_no_file(tmp_path, small_disk, no_lpips, one_thread):
    from inter4k.atomic import NotEnoughSpaceError

    pred, ref = _pairs(tmp_path / "in", {"c1": 2})
    (small_disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 16 * 1024))  # 16 KiB left: less than the page
    with pytest.raises(NotEnoughSpaceError, match=r"not enough free disk space for the report .*nothing was written"):
        evaluate(task="sr", pred=pred, ref=ref, scale=2, report=small_disk / "rep")
    assert list((small_disk / "rep").iterdir()) == []


def test_model_report_shows_every_method_and_the_crops(tmp_path, no_lpips, one_thread):
    out = tmp_path / "rep"
    r = evaluate(task="sr", data=str(SAMPLE), scale=4, frames=2, limit=1, metrics=("psnr",), device="cpu",
                 report=out)
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == 2 * 4 and {row["method"] for row in rows} == {"sr-lr-small", "bicubic", "bilinear", "nearest"}
    data = _strict_json((out / "report.json").read_text())
    assert list(data["methods"]) == ["sr-lr-small", "bicubic", "bilinear", "nearest"]
    assert data["config"]["model"] == "sr-lr-small" and data["config"]["frames"] == 2
    html = (out / "report.html").read_text()
    pngs = _check_self_contained(html)
    assert len(pngs) == 2 + 3 * 4  # two plots; three crops of LR / bicubic / model / ground truth
    for label in ("LR (nearest)", "bicubic", "sr-lr-small", "ground truth", "where the model gains most"):
        assert label in html
    # the crop panels are the stored crops, and the ground-truth panel is the HR frame there
    crop = r.crops[1]
    y, x, h, w = crop.box
    assert crop.images["ground truth"].shape == (h, w, 3) and y % 4 == 0 and x % 4 == 0
    gains = [a.values["psnr_y"] - b.values["psnr_y"] for a, b in zip(r.method("sr-lr-small").frames,
                                                                      r.method("bicubic").frames)]
    assert r.crops[0].frame == r.method("bicubic").frames[int(np.argmax(gains))].index


def test_json_and_table_formatting():
    assert json_safe({"a": [float("inf"), -float("inf"), float("nan"), 1.5, None], "p": Path("x")}) == \
        {"a": ["inf", "-inf", "nan", 1.5, None], "p": "x"}
    assert format_value("psnr_y", float("inf")) == "inf" and format_value("lpips", None) == "-"
    assert format_value("psnr_y", 31.23456) == "31.23" and format_value("ssim_y", 0.912345) == "0.9123"
    assert mean_values([{"a": 1.0}, {"a": 2.0}, {"a": 6.0}], ["a"]) == {"a": 3.0}
    assert mean_values([], ["a"]) == {"a": None}


def test_best_window_finds_the_hot_spot():
    score = torch.zeros(40, 48)
    score[20:28, 24:32] = 1.0
    start, side = window_side(40, 48, size=16, align=4, border=4)
    assert (start, side) == (4, 16)
    y, x = best_window(score, side, start, 4)
    assert y <= 20 and y + side >= 28 and x <= 24 and x + side >= 32
    assert y % 4 == 0 and x % 4 == 0


def test_evaluate_modules_import_no_circle():
    """No module of inter4k.evaluate imports, directly or through others, itself (html and report share
    the table helpers of .tables instead of importing each other); function-level imports count."""
    import ast

    folder = ROOT / "inter4k" / "evaluate"
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                deps |= {n.split(".")[0] for n in names if (folder / f"{n.split('.')[0]}.py").is_file()}
        graph[path.stem] = deps - {path.stem}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for d in graph.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    circles = sorted(m for m in graph if m != "__init__" and m in reach(m))
    assert not circles, f"modules in an import circle: {circles}"
