"""The real-photograph corpus: the fixed split rule, the package unpacking and the files it writes."""

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from inter4k.data import photos
from inter4k.data.images import ImageFolderSR, motion_blur

ROOT = Path(__file__).resolve().parent.parent


def test_split_file_matches_the_rule():
    # data/splits/photos.json was written by the rule before any training; the rule must still give it
    recorded = json.loads((ROOT / "data" / "splits" / "photos.json").read_text())
    assert recorded == json.loads(json.dumps(photos.split_record()))


def test_split_rule_holds_out_every_stratum_and_never_overlaps():
    splits = photos.assign_splits()
    every = photos.SKIMAGE_PHOTOS + photos.WALLPAPER_PHOTOS
    assert set(splits) == {p.id for p in every}
    test = [p for p in every if splits[p.id] == "test"]
    assert {p.stratum for p in test if p.source == "wallpaper"} == {"blurred", "smooth", "detailed"}
    # no photograph is both kept and excluded
    assert not set(splits) & set(photos.EXCLUDED)


def test_split_rule_depends_on_the_seed_only_through_the_hash(monkeypatch):
    a = photos.assign_splits()
    monkeypatch.setattr(photos, "SPLIT_SEED", "another-seed")
    b = photos.assign_splits()
    assert sorted(a.values()) == sorted(b.values())  # same counts per split
    assert a != b                                    # other members


def _fake_wallpaper_deb(folder: Path) -> Path:
    """A plasma-workspace-wallpapers .deb with a small textured image per kept wallpaper."""
    tree = folder / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: plasma-workspace-wallpapers\nVersion: 0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n")
    rng = np.random.default_rng(0)
    for i, p in enumerate(photos.WALLPAPER_PHOTOS):
        d = tree / photos.WALLPAPER_DIR / p.name / "contents" / "images"
        d.mkdir(parents=True)
        big = (rng.random((600, 640, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(d / "640x600.png"), big)
        cv2.imwrite(str(d / "64x60.png"), big[:60, :64])  # the smaller one must not be picked
    deb = folder / "plasma-workspace-wallpapers_0_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("photos")
    (base / "debs").mkdir()
    _fake_wallpaper_deb(base / "debs")
    seen = []
    root = photos.build_photo_corpus(base / "photos", progress=lambda d, t: seen.append((d, t)))
    return root, seen


def test_build_writes_the_splits_and_a_manifest(corpus):
    root, seen = corpus
    n = len(photos.SKIMAGE_PHOTOS) + len(photos.WALLPAPER_PHOTOS)
    assert seen[-1] == (n, n)
    manifest = json.loads((root / "manifest.json").read_text())
    splits = photos.assign_splits()
    for entry in manifest["files"]:
        f = root / entry["file"]
        assert f.is_file()
        assert entry["split"] == splits[entry["photo"]] == f.parent.name
        import hashlib
        assert hashlib.sha256(f.read_bytes()).hexdigest() == entry["sha256"]
    test_files = sorted(p.name for p in (root / "test").iterdir())
    assert len(test_files) >= 12 and len(list((root / "val").iterdir())) >= 8
    held_wp = [p for p in photos.WALLPAPER_PHOTOS if splits[p.id] == "test"]
    for p in held_wp:  # three crops and one motion-blurred copy, never the whole image
        assert {f"{p.id}_left.png", f"{p.id}_centre.png", f"{p.id}_right.png",
                f"{p.id}_centre_motionblur.png"} <= set(test_files)
        assert f"{p.id}.png" not in test_files
    train_wp = [p for p in photos.WALLPAPER_PHOTOS if splits[p.id] == "train"]
    img = cv2.imread(str(root / "train" / f"{train_wp[0].id}.png"))
    half = cv2.imread(str(root / "train" / f"{train_wp[0].id}_half.png"))
    assert img.shape[:2] == (600, 640) and half.shape[:2] == (300, 320)
    src = manifest["sources"][train_wp[0].id]
    assert src["file"].endswith("640x600.png")


def test_no_training_photo_is_held_out(corpus):
    root, _ = corpus
    manifest = json.loads((root / "manifest.json").read_text())
    by_split = {}
    for e in manifest["files"]:
        by_split.setdefault(e["split"], set()).add(e["photo"])
    assert not by_split["train"] & (by_split["val"] | by_split["test"])
    assert not by_split["val"] & by_split["test"]


def test_second_build_reuses_the_corpus(corpus):
    root, _ = corpus
    stamp = (root / "manifest.json").stat().st_mtime_ns
    assert photos.build_photo_corpus(root) == root
    assert (root / "manifest.json").stat().st_mtime_ns == stamp


def test_failed_download_names_the_package(tmp_path, monkeypatch):
    def fake_run(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package nope\n")

    monkeypatch.setattr(photos.subprocess, "run", fake_run)
    with pytest.raises(RuntimeError, match="apt-get download nope failed: E: Unable to locate package nope"):
        photos.fetch_debian_packages(tmp_path, ("nope",))


def test_motion_blur_keeps_flat_areas_and_spreads_a_line():
    img = np.full((31, 31, 3), 100, np.uint8)
    assert (motion_blur(img, 11, 30.0) == 100).all()
    dot = np.zeros((31, 31, 3), np.uint8)
    dot[15, 15] = 255
    out = motion_blur(dot, 11, 0.0)
    assert out[15, 10:21, 0].min() > 0 and out[14, :, 0].max() == 0  # horizontal streak, one row


def test_area_weighting_shares_samples_by_pixel_count(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((400, 400, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((100, 100, 3), np.uint8))
    ds = ImageFolderSR(tmp_path, scale=2, patch_size=32, samples_per_image=17, weighting="area")
    files = [ds.plan(i)["file"] for i in range(len(ds))]
    assert files.count("big.png") == 32 and files.count("small.png") == 2  # 34 samples, 16:1 by area
    eq = ImageFolderSR(tmp_path, scale=2, patch_size=32, samples_per_image=17)
    assert [eq.plan(i)["file"] for i in range(len(eq))].count("small.png") == 17


def test_blur_prob_blurs_that_share_of_samples(tmp_path):
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "a.png"), (rng.random((128, 128, 3)) * 255).astype(np.uint8))
    ds = ImageFolderSR(tmp_path, scale=2, patch_size=32, samples_per_image=400, blur_prob=0.25, seed=3)
    blurred = [ds.plan(i)["blur"] for i in range(len(ds))]
    share = sum(b is not None for b in blurred) / len(blurred)
    assert 0.18 < share < 0.32
    i = next(k for k, b in enumerate(blurred) if b is not None)
    lr, hr = ds[i]
    plan = ds.plan(i)
    sharp = ImageFolderSR(tmp_path, scale=2, patch_size=32, samples_per_image=400, seed=3)[i][1]
    assert hr.shape == sharp.shape and not np.allclose(hr.numpy(), sharp.numpy())
    assert plan["blur"][0] >= 3
    with pytest.raises(ValueError, match="blur_prob"):
        ImageFolderSR(tmp_path, scale=2, patch_size=32, blur_prob=1.5)


def test_concurrent_builds_make_the_corpus_once(tmp_path, monkeypatch):
    """Two builders at once (DDP ranks, two commands): one builds while the other waits, then reuses it."""
    import threading

    (tmp_path / "debs").mkdir()
    _fake_wallpaper_deb(tmp_path / "debs")
    builds, real_build = [], photos._build

    def counting_build(*a, **kw):
        builds.append(threading.get_ident())
        return real_build(*a, **kw)

    monkeypatch.setattr(photos, "_build", counting_build)
    results, errors = [], []

    def build():
        try:
            results.append(photos.build_photo_corpus(tmp_path / "photos"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [tmp_path / "photos"] * 2
    assert len(builds) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".photos.") and p.is_dir()]
