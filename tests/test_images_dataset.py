"""``inter4k.data.images``: scikit-image photos written as PNG, and ImageFolderSR's crops, flips, LR and rules."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from inter4k.data.datasets import bicubic_lr
from inter4k.data import images as images_module
from inter4k.data.images import ImageFolderSR, image_size, list_images, read_rgb, write_skimage_images


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    write_skimage_images(folder, ["astronaut", "coffee", "chelsea"])
    return folder


def test_write_skimage_images_saves_the_exact_rgb_pixels(photos, tmp_path):
    assert list_images(photos) == ["astronaut.png", "chelsea.png", "coffee.png"]
    for name in ("astronaut", "coffee", "chelsea"):
        assert np.array_equal(read_rgb(photos / f"{name}.png"), skimage.data.__dict__[name]()[..., :3])
    # existing files are kept (no rewrite), RGBA loses its alpha, non-images are refused
    path = photos / "astronaut.png"
    mtime = path.stat().st_mtime_ns
    assert write_skimage_images(photos, ["astronaut"]) == [path] and path.stat().st_mtime_ns == mtime
    (logo,) = write_skimage_images(tmp_path, ["logo"])
    assert read_rgb(logo).shape == (500, 500, 3)
    with pytest.raises(ValueError, match="not an RGB image"):
        write_skimage_images(tmp_path, ["camera"])
    with pytest.raises(ValueError, match="no image 'nonsense'"):
        write_skimage_images(tmp_path, ["nonsense"])
    assert not any(p.name.endswith(".tmp.png") for p in tmp_path.iterdir())


def test_train_samples_are_aligned_random_crops_with_flips_and_a_bicubic_lr(photos):
    ds = ImageFolderSR(photos, scale=3, patch_size=48, seed=7)
    assert len(ds) == 3 * 32
    corners, flips = set(), set()
    for i in range(0, len(ds), 5):
        lr, hr = ds[i]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 48, 48) and lr.dtype == hr.dtype == torch.float32
        p = ds.plan(i)
        assert p["image"] == i // 32 and p["y"] % 3 == 0 and p["x"] % 3 == 0
        img = read_rgb(photos / ds.files[p["image"]])
        crop = torch.from_numpy(img[p["y"]:p["y"] + 48, p["x"]:p["x"] + 48]).permute(2, 0, 1).float() / 255
        if p["vflip"]:
            crop = crop.flip(-2)
        if p["hflip"]:
            crop = crop.flip(-1)
        assert torch.equal(hr, crop)
        assert torch.equal(lr, bicubic_lr(hr, 3))
        assert 0 <= float(lr.min()) and float(lr.max()) <= 1
        corners.add((p["image"], p["y"], p["x"]))
        flips.add((p["hflip"], p["vflip"]))
    assert len(corners) > 15 and len(flips) == 4


def test_samples_are_reproducible_and_change_with_the_epoch(photos):
    a = ImageFolderSR(photos, scale=2, patch_size=32, seed=1)
    b = ImageFolderSR(photos, scale=2, patch_size=32, seed=1)
    for i in (0, 17, 95):
        assert torch.equal(a[i][1], b[i][1])
    before = [a.plan(i) for i in range(10)]
    a.set_epoch(1)
    assert [a.plan(i) for i in range(10)] != before
    b.set_epoch(1)
    assert torch.equal(a[3][1], b[3][1])
    other = ImageFolderSR(photos, scale=2, patch_size=32, seed=2)
    assert [other.plan(i) for i in range(10)] != before
    # DataLoader workers draw the very same samples as the main process
    loader = torch.utils.data.DataLoader(a, batch_size=4, num_workers=2, shuffle=False)
    lr, hr = next(iter(loader))
    assert torch.equal(hr, torch.stack([a[i][1] for i in range(4)]))


def test_val_gives_full_images_or_centre_crops(photos):
    full = ImageFolderSR(photos, scale=3, patch_size=None, split="val")
    assert len(full) == 3
    lr, hr = full[1]  # chelsea: 451 x 300
    assert hr.shape == (3, 300, 450) and lr.shape == (3, 100, 150)
    assert full.plan(1) == dict(image=1, file="chelsea.png", y=0, x=0, height=300, width=450, hflip=False, vflip=False,
                                blur=None)  # no blur outside training
    centre = ImageFolderSR(photos, scale=4, patch_size=64, split="val")
    p = centre.plan(2)  # coffee: 600 x 400
    assert (p["y"], p["x"]) == ((400 - 64) // 2 // 4 * 4, (600 - 64) // 2 // 4 * 4)
    assert torch.equal(centre[2][1], centre[2][1]) and not p["hflip"]


def test_files_subset_grey_and_rgba_images(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    cv2.imwrite(str(tmp_path / "photo.jpg"), rgba[..., :3])
    (tmp_path / "notes.txt").write_text("not an image")
    ds = ImageFolderSR(tmp_path, scale=2, patch_size=16)
    assert ds.files == ["grey.png", "photo.jpg", "rgba.png"]
    g = read_rgb(tmp_path / "grey.png")
    assert g.shape == (40, 50, 3) and np.array_equal(g[..., 1], grey)
    assert np.array_equal(read_rgb(tmp_path / "rgba.png"), rgba[..., 2::-1])  # BGRA on disk -> RGB
    sub = ImageFolderSR(tmp_path, scale=2, patch_size=16, files=["rgba.png"], samples_per_image=3)
    assert len(sub) == 3 and sub.plan(2)["file"] == "rgba.png"


def test_sizes_come_from_the_headers_and_images_are_decoded_on_first_use(photos, tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in list_images(photos):
        (folder / name).write_bytes((photos / name).read_bytes())
    rng = np.random.default_rng(0)
    turned = Image.fromarray(rng.integers(0, 256, (110, 180, 3), dtype=np.uint8))
    exif = turned.getexif()
    exif[0x0112] = 6  # stored 180x110, shown a quarter turned: 110 wide, 180 high
    turned.save(folder / "turned.jpg", exif=exif.tobytes())
    Image.fromarray(rng.integers(0, 256, (100, 140), dtype=np.uint8)).save(folder / "grey.png")
    decoded = []
    monkeypatch.setattr(images_module, "read_rgb", lambda path: decoded.append(Path(path).name) or read_rgb(path))
    ds = ImageFolderSR(folder, scale=2, patch_size=96, weighting="area")  # the area weights need every size
    assert decoded == []
    for i, name in enumerate(ds.files):  # the header's size is the decoded one, EXIF turn included
        assert ds.size(i) == image_size(folder / name) == read_rgb(folder / name).shape[:2], name
    assert ds.size(ds.files.index("turned.jpg")) == (180, 110)
    decoded.clear()
    plan = ds.plan(len(ds) - 1)
    lr, hr = ds[len(ds) - 1]
    ds[len(ds) - 2]
    assert decoded == [plan["file"]]  # one image decoded, once
    img = read_rgb(folder / plan["file"])[plan["y"]:plan["y"] + 96, plan["x"]:plan["x"] + 96]
    hr_direct = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255
    dims = [d for d, on in ((-2, plan["vflip"]), (-1, plan["hflip"])) if on]
    assert torch.equal(hr, hr_direct.flip(dims) if dims else hr_direct)
    monkeypatch.setattr(images_module, "image_size", lambda path: (97, 99))
    with pytest.raises(ValueError, match=r"coffee.png: its header says 99x97, but it decodes to 600x400"):
        ImageFolderSR(folder, scale=2, patch_size=96, files=["coffee.png"])[0]
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"broken.png: cannot read its size from the header"):
        image_size(folder / "broken.png")


def test_errors_are_clear(photos, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image folder"):
        ImageFolderSR(tmp_path / "missing", scale=2)
    with pytest.raises(FileNotFoundError, match="no PNG / JPEG images"):
        ImageFolderSR(tmp_path, scale=2)
    with pytest.raises(ValueError, match="not a multiple of scale 4"):
        ImageFolderSR(photos, scale=4, patch_size=30)
    with pytest.raises(ValueError, match="larger than .*chelsea.png"):
        ImageFolderSR(photos, scale=2, patch_size=400)
    with pytest.raises(ValueError, match="unknown split"):
        ImageFolderSR(photos, scale=2, split="training")
    with pytest.raises(ValueError, match="needs a patch_size"):
        ImageFolderSR(photos, scale=2, patch_size=None)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ImageFolderSR(photos, scale=2, files=["missing.png"])
    with pytest.raises(IndexError):
        ImageFolderSR(photos, scale=2, patch_size=32)[96]
