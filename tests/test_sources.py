"""``inter4k.data.sources``: what ``--data`` names for each task, the registry of source kinds, and the
datasets each kind opens for training, validation and evaluation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inter4k.data import sources
from inter4k.data.images import write_skimage_images
from inter4k.data.sources import DataSpec, Source, open_dataset, parse_data, register_source

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    write_skimage_images(folder, ["astronaut", "coffee"])
    return folder


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry, restored after the test (registrations made here do not leak)."""
    monkeypatch.setattr(sources, "_SOURCES", dict(sources._SOURCES))
    return sources


# --- parsing ------------------------------------------------------------------------------------------

def test_prefixes_name_their_kind_per_task(images):
    assert parse_data(f"images:{images}", "sr") == DataSpec("images", images)
    # for VFI a folder of images is synthetic motion over it
    assert parse_data(f"images:{images}", "vfi") == DataSpec("synthetic", images)
    assert parse_data(f"synthetic:{images}", "vfi") == DataSpec("synthetic", images)
    assert parse_data("synthetic", "vfi") == DataSpec("synthetic", None)  # scikit-image's photographs
    assert parse_data("synthetic:", "vfi") == DataSpec("synthetic", None)


def test_plain_folders_are_claimed_in_order(images, sample_root, tmp_path):
    assert parse_data(str(images), "sr") == DataSpec("images", images)
    assert parse_data(str(images), "vfi") == DataSpec("synthetic", images)
    assert parse_data(str(sample_root), "sr") == DataSpec("inter4k", sample_root)
    (tmp_path / "index.json").write_text("{}")
    assert parse_data(str(tmp_path), "vfi") == DataSpec("prepared", tmp_path)
    nested = tmp_path / "nested"  # images only in train/ and val/: still an image folder
    write_skimage_images(nested / "train", ["coffee"])
    write_skimage_images(nested / "val", ["astronaut"])
    assert parse_data(str(nested), "sr") == DataSpec("images", nested)


def test_missing_data_says_what_the_task_takes(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder .*nope does not exist"):
        parse_data(f"images:{tmp_path / 'nope'}", "sr")
    with pytest.raises(FileNotFoundError, match=r"give --data an Inter4K root .*, a folder made by inter4k prepare, "
                                                r"images:DIR or photos\[:DIR\]"):
        parse_data(str(tmp_path / "nowhere"), "sr")
    # evaluation reads whole frames: prepared patches are not offered
    with pytest.raises(FileNotFoundError, match=r"give --data an Inter4K root \(.*\), synthetic\[:DIR\], "
                                                r"photos\[:DIR\] or videos\[:DIR\]$"):
        parse_data(str(tmp_path / "nowhere"), "vfi", purpose="test")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        parse_data(str(tmp_path / "file"), "sr")
    with pytest.raises(ValueError, match="unknown task 'stereo'"):
        parse_data(None, "stereo")
    # video SR (clips): Inter4K roots, prepared clips and the photo corpus
    with pytest.raises(FileNotFoundError, match=r"give --data an Inter4K root \(.*\), a folder made by inter4k "
                                                r"prepare or photos\[:DIR\]$"):
        parse_data(str(tmp_path / "nowhere"), "vsr")


# --- the registry ---------------------------------------------------------------------------------------

def test_a_new_kind_is_one_registration(registry, images):
    @register_source
    class Toy(Source):
        kind = "toy"
        task = "sr"
        prefixes = ("toy",)
        builtin = True
        hint = "toy[:DIR]"

        def locate(self, rest, text):
            return None if rest is None else Path(rest)

        def open(self, spec, purpose, opt):
            return ("toy", spec.path, purpose, opt.scale, opt.patch)

    assert parse_data("toy", "sr") == DataSpec("toy", None)
    assert parse_data(f"toy:{images}", "sr") == DataSpec("toy", images)
    assert open_dataset(DataSpec("toy", images), "sr", "val", scale=3) == ("toy", images, "val", 3, None)
    # the other task is untouched, and the missing-folder message now offers the new kind
    assert parse_data(f"images:{images}", "vfi").kind == "synthetic"
    with pytest.raises(FileNotFoundError, match=r"photos\[:DIR\] or toy\[:DIR\]"):
        parse_data(str(images / "missing"), "sr")


def test_registration_mistakes_are_errors(registry):
    with pytest.raises(ValueError, match="'images' is registered twice for task 'sr'"):
        register_source(type("Again", (Source,), {"kind": "images", "task": "sr"}))
    with pytest.raises(ValueError, match="unknown task 'stereo'"):
        register_source(type("Odd", (Source,), {"kind": "x", "task": "stereo"}))
    with pytest.raises(ValueError, match="unknown sr data kind 'synthetic'; known: inter4k, prepared, images, photos"):
        open_dataset(DataSpec("synthetic", None), "sr", "train")
    with pytest.raises(TypeError):
        open_dataset(DataSpec("images", Path(".")), "sr", "train", no_such_option=1)


def test_only_synthetic_motion_has_true_flows():
    assert [s.kind for s in sources.list_sources("vfi") if s.true_flows] == ["synthetic", "photos"]


def test_real_videos_are_never_training_data():
    assert "videos" not in [s.kind for s in sources.list_sources("vfi", "train")]
    with pytest.raises(ValueError, match="holds the real validation videos"):
        open_dataset(DataSpec("videos", Path("corpus")), "vfi", "train")


# --- datasets -------------------------------------------------------------------------------------------

def test_images_train_val_and_test_datasets(images):
    spec = parse_data(f"images:{images}", "sr")
    train = open_dataset(spec, "sr", "train", scale=2, patch=32, seed=1, blur_prob=0.5)
    assert train.split == "train" and train.patch_size == 32 and len(train.files) == 2
    val = open_dataset(spec, "sr", "val", scale=2)
    assert val.split == "val" and val.patch_size is None
    test = open_dataset(spec, "sr", "test", scale=2, limit=1)
    assert test.files == ["astronaut.png"] and not test.augment


def test_synthetic_val_defaults_to_the_training_side(images):
    spec = parse_data("synthetic", "vfi")
    val = open_dataset(spec, "vfi", "val", mode="15to60", train_patch=24)
    assert val.patch_size == 24 and val.split == "val"
    assert open_dataset(spec, "vfi", "test").patch_size == sources.SYNTHETIC_PATCH


def test_prepared_patches_are_refused_for_evaluation(tmp_path):
    (tmp_path / "index.json").write_text("{}")
    with pytest.raises(ValueError, match="folder of training patches made by inter4k prepare; evaluate reads "
                                         r"whole clips: give the Inter4K root it was made from, or synthetic\[:DIR\]"):
        open_dataset(parse_data(str(tmp_path), "vfi"), "vfi", "test")


def test_inter4k_val_uses_480_crops_only_when_every_val_clip_is_large_enough(tmp_path, monkeypatch):
    """The crop size is decided from every val clip's size: a small clip after a large one made the
    validation crash mid-run (the old rule looked at the first clip only)."""
    from inter4k.data import layout, splits
    from inter4k.data.sample import make_sample

    monkeypatch.setattr(splits, "sample_splits", lambda n: {"train": [1], "val": [2, 3], "test": [3]})
    root = tmp_path / "mixed"
    make_sample(root, clips=2, seconds=0.05, size=(496, 488), audio=False)  # clips 1, 2: 496 x 488
    layout.clip_path(root, 3).unlink(missing_ok=True)
    make_sample(root, clips=3, seconds=0.05, audio=False)                     # clip 3: 384 x 216
    val = open_dataset(parse_data(str(root), "sr"), "sr", "val", scale=2)
    assert val.patch_size is None
    assert [tuple(val[i][1].shape) for i in range(len(val))][-1] == (3, 216, 384)  # every clip loads
    # every val clip large enough: 480 centre crops
    big = tmp_path / "big"
    make_sample(big, clips=3, seconds=0.05, size=(496, 488), audio=False)
    val = open_dataset(parse_data(str(big), "vfi"), "vfi", "val", mode="30to60")
    assert val.patch_size == sources.INTER4K_VAL_PATCH
    # asked for explicitly: one clear error before training, not a clamp nor a crash at the first validation
    with pytest.raises(ValueError, match="val patch 480 is larger than the frames of the val clips .*smallest side is 216"):
        open_dataset(parse_data(str(root), "sr"), "sr", "val", scale=2, patch=480)


# --- one place for the rules ------------------------------------------------------------------------------

def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_evaluation_does_not_import_training():
    for path in sorted((ROOT / "inter4k" / "evaluate").glob("*.py")):
        bad = {n for n in _imports(path) if n.startswith(("..train", "inter4k.train"))}
        assert not bad, f"{path.name} imports {bad}"


def test_the_data_prefixes_are_spelled_only_in_sources():
    """No "images:DIR"-style prefix, and no kind compared by its literal name, in the code that reads
    --data (the names live in inter4k.data.sources; messages aside)."""
    words = (sources.IMAGES, sources.SYNTHETIC, sources.PHOTOS, sources.VIDEOS, sources.INTER4K, sources.PREPARED)
    files = [*(ROOT / "inter4k" / "train").glob("*.py"), ROOT / "inter4k" / "evaluate" / "sr_data.py",
             ROOT / "inter4k" / "evaluate" / "vfi_data.py"]
    for path in files:
        tree = ast.parse(path.read_text())
        compared = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for operand in (node.left, *node.comparators):
                    compared.update(map(id, ast.walk(operand)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                assert not value.startswith(tuple(w + sources.SEPARATOR for w in words)), \
                    f"{path.name}:{node.lineno} spells {value!r}"
                assert not (id(node) in compared and value in words), f"{path.name}:{node.lineno} compares {value!r}"
