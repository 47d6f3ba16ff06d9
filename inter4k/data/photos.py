"""The real-photograph corpus for training and validating the SR models, offline and reproducible.

    root = build_photo_corpus()          # ~/.cache/inter4k/photos/{train,val,test}/*.png + manifest.json
    ds = ImageFolderSR(root / "train", scale=4, patch_size=128)

Sources (the only ones the project trains or validates on, besides Inter4K):

- scikit-image's bundled photographs (:data:`SKIMAGE_PHOTOS`), read with ``skimage.data``;
- the photographs in Debian's ``plasma-workspace-wallpapers`` package (:data:`WALLPAPER_PHOTOS`),
  fetched with ``apt-get download`` and unpacked with ``dpkg -x`` (no root needed) into the cache.

Debian's ``ukui-wallpapers`` package holds renders and abstract art only, and so do the other
plasma wallpapers; they are left out, each with its reason, in :data:`EXCLUDED`. The largest image of
each wallpaper is used (2560x1600 for every kept one).

**The split is fixed by a seeded rule, decided before any model was trained on the corpus** (see
:func:`assign_splits`): whole photographs are held out (never crops of a training photograph), by
stratum (``detailed`` / ``blurred`` / ``smooth``, tagged by eye from thumbnails before any training),
in the order of ``sha256(SPLIT_SEED + "/" + id)``. ``data/splits/photos.json`` records the outcome;
a test checks that the rule still gives it.

Files written (all RGB PNG, greyscale photographs repeated to three channels):

- ``train/``: each training photograph whole, and each training wallpaper also at half size (INTER_AREA),
  which gives the model the sharper look of a downscaled photograph as well as the native one;
- ``val/`` and ``test/``: each held-out scikit-image photograph whole, and three 512x512 crops of each
  held-out wallpaper (left, centre, right, vertically centred); ``test/`` also holds a motion-blurred
  copy of every held-out wallpaper's centre crop (a straight 11-pixel blur at a seeded angle), the
  everyday input of video SR that window-based upsamplers turn into grid patterns;
- ``manifest.json``: every written file with its split, source, licence and sha256, and the sha256 of
  every source file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np

from .download import sha256_file
from .images import motion_blur, read_rgb, write_rgb_png

__all__ = [
    "Photo", "SKIMAGE_PHOTOS", "WALLPAPER_PHOTOS", "EXCLUDED", "SPLIT_SEED", "DEBIAN_PACKAGES",
    "assign_splits", "default_photo_root", "fetch_debian_packages", "build_photo_corpus", "split_record",
    "staging_folder", "publish",
]

SPLIT_SEED = "inter4k-photos-v1"
CROP = 512
BLUR_LENGTH = 11
DEBIAN_PACKAGES = ("plasma-workspace-wallpapers", "ukui-wallpapers")
WALLPAPER_DIR = "usr/share/wallpapers"
WALLPAPER_LICENCE = "LGPL-3.0 (plasma-workspace-wallpapers, per wallpaper metadata.json)"
SKIMAGE_LICENCE = "scikit-image data (see skimage/data/README.txt: public domain or CC-BY / CC0 per image)"


@dataclass(frozen=True)
class Photo:
    """One photograph of the corpus: ``source`` is "skimage" or "wallpaper"; ``name`` the skimage
    function or the wallpaper folder; ``stratum`` "detailed", "blurred" or "smooth"."""

    id: str
    source: str
    name: str
    stratum: str


def _sk(name: str, stratum: str = "detailed") -> Photo:
    return Photo(f"skimage-{name}", "skimage", name, stratum)


def _wp(name: str, stratum: str) -> Photo:
    return Photo(f"wallpaper-{name}", "wallpaper", name, stratum)


# Photographs only; strata tagged by eye before any training on the corpus.
SKIMAGE_PHOTOS: tuple[Photo, ...] = (
    _sk("astronaut"), _sk("camera"), _sk("chelsea"), _sk("clock", "smooth"), _sk("coffee"), _sk("coins"),
    _sk("rocket"), _sk("stereo_motorcycle"), _sk("moon", "smooth"), _sk("brick"), _sk("grass"), _sk("gravel"),
    _sk("hubble_deep_field"), _sk("retina", "smooth"), _sk("immunohistochemistry"), _sk("text"),
    _sk("page"), _sk("cell", "smooth"),
)
WALLPAPER_PHOTOS: tuple[Photo, ...] = (
    _wp("BytheWater", "blurred"), _wp("FallenLeaf", "blurred"),
    _wp("ColdRipple", "smooth"), _wp("DarkestHour", "smooth"), _wp("summer_1am", "smooth"),
    _wp("ColorfulCups", "detailed"), _wp("EveningGlow", "detailed"), _wp("Grey", "detailed"),
    _wp("Kite", "detailed"), _wp("OneStandsOut", "detailed"), _wp("Path", "detailed"),
)
_RENDER = "a render or abstract art, not a photograph"
EXCLUDED: dict[str, str] = {
    **{f"skimage-{n}": "a drawing or synthetic pattern" for n in ("colorwheel", "logo", "checkerboard", "horse")},
    "skimage-microaneurysms": "102x102, too small to crop",
    "skimage-stereo_motorcycle-right": "the same scene as the left view, which is kept",
    **{f"wallpaper-{n}": _RENDER for n in (
        "Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow", "FlyingKonqui", "Honeywave",
        "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal", "PastelHills", "Patak", "SafeLanding", "Shell",
        "Volna")},
    **{f"ukui-{n}": _RENDER for n in (
        "2004default", "calla", "city", "desert", "firstgeneration", "fluent-color", "focal-ubuntukylin",
        "goldfish", "rhythm", "rollpaper", "string", "the-mouse")},
}

# How many whole photographs each split holds out, per source and stratum (the rest train).
_HELD_OUT = {
    ("wallpaper", "blurred"): {"test": 1, "val": 0},
    ("wallpaper", "smooth"): {"test": 1, "val": 0},
    ("wallpaper", "detailed"): {"test": 1, "val": 1},
    ("skimage", "detailed"): {"test": 2, "val": 4},
    ("skimage", "smooth"): {"test": 1, "val": 1},
}


def _rank_key(photo: Photo) -> str:
    return hashlib.sha256(f"{SPLIT_SEED}/{photo.id}".encode()).hexdigest()


def assign_splits(photos=None) -> dict[str, str]:
    """``{photo id: "train" | "val" | "test"}`` by the fixed rule.

    For each (source, stratum) group, the photographs are ordered by ``sha256(SPLIT_SEED/id)``; the
    first ``test`` of them go to test, the next ``val`` to val (the counts of ``_HELD_OUT``), the rest
    to train.
    """
    photos = tuple(photos) if photos is not None else SKIMAGE_PHOTOS + WALLPAPER_PHOTOS
    out: dict[str, str] = {}
    groups: dict[tuple[str, str], list[Photo]] = {}
    for p in photos:
        groups.setdefault((p.source, p.stratum), []).append(p)
    for key, members in groups.items():
        counts = _HELD_OUT.get(key, {"test": 0, "val": 0})
        ordered = sorted(members, key=_rank_key)
        n_test, n_val = counts["test"], counts["val"]
        for i, p in enumerate(ordered):
            out[p.id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def split_record() -> dict:
    """What ``data/splits/photos.json`` holds: the rule, the seed, and the photographs of each split."""
    splits = assign_splits()
    record = {"corpus": "photos", "seed": SPLIT_SEED,
              "rule": "per (source, stratum) group, order by sha256(seed + '/' + id); the first n_test go to "
                      "test, the next n_val to val, the rest to train",
              "held_out": {f"{s}/{t}": c for (s, t), c in _HELD_OUT.items()}}
    for split in ("train", "val", "test"):
        record[split] = sorted(i for i, s in splits.items() if s == split)
    record["excluded"] = EXCLUDED
    return record


def default_photo_root() -> Path:
    """``$INTER4K_PHOTOS`` or ``~/.cache/inter4k/photos``."""
    env = os.environ.get("INTER4K_PHOTOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inter4k" / "photos"


def fetch_debian_packages(folder: Path, packages=DEBIAN_PACKAGES) -> dict[str, Path]:
    """``apt-get download`` each package into ``folder`` (kept: a second call downloads nothing) and
    unpack it with ``dpkg -x`` into ``folder/<package>``. Returns ``{package: unpacked folder}``.

    Raises RuntimeError naming the package and apt's message when the download fails (e.g. no
    package lists: run ``apt-get update`` once).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for pkg in packages:
        target = folder / pkg
        if (target / ".unpacked").is_file():
            out[pkg] = target
            continue
        debs = sorted(folder.glob(f"{pkg}_*.deb"))
        if not debs:
            r = subprocess.run(["apt-get", "download", pkg], cwd=folder, capture_output=True, text=True)
            debs = sorted(folder.glob(f"{pkg}_*.deb"))
            if r.returncode != 0 or not debs:
                msg = (r.stderr or r.stdout).strip().splitlines()
                raise RuntimeError(f"apt-get download {pkg} failed: {msg[-1] if msg else r.returncode} "
                                   "(run 'apt-get update' once, then try again)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{pkg}.", dir=folder))
        try:
            subprocess.run(["dpkg", "-x", str(debs[-1]), str(tmp)], check=True, capture_output=True)
            (tmp / ".unpacked").write_text(debs[-1].name)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        out[pkg] = target
    return out


def _largest_wallpaper(folder: Path) -> Path:
    images = [p for p in (folder / "contents" / "images").iterdir() if p.suffix.lower() in (".png", ".jpg")]
    if not images:
        raise FileNotFoundError(f"no images in {folder / 'contents' / 'images'}")

    def area(p: Path) -> int:
        w, h = p.stem.split("x")
        return int(w) * int(h)

    return max(images, key=area)


def _skimage_rgb(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if name == "stereo_motorcycle":
        img = img[0]  # the left view
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"skimage.data.{name}() is {img.dtype}, expected uint8")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def _crops(img: np.ndarray) -> list[tuple[str, np.ndarray]]:
    h, w = img.shape[:2]
    top = (h - CROP) // 2
    lefts = {"left": 0, "centre": (w - CROP) // 2, "right": w - CROP}
    return [(k, img[top:top + CROP, x:x + CROP]) for k, x in lefts.items()]


def _blur_angle(photo_id: str) -> float:
    return int(hashlib.sha256(f"{SPLIT_SEED}/blur/{photo_id}".encode()).hexdigest()[:8], 16) % 180


def _write_png(path: Path, img: np.ndarray) -> str:
    write_rgb_png(path, img, compression=1)  # fast to write: the corpus is a cache, rebuilt at will
    return sha256_file(path).hexdigest()


def build_photo_corpus(root=None, cache=None, overwrite: bool = False,
                       progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Assemble the corpus under ``root`` (default :func:`default_photo_root`) and return ``root``.

    ``cache`` holds the Debian packages (default ``root/../debs``). A corpus whose manifest exists is
    returned as it is unless ``overwrite``. ``progress(done, total)`` is called after each photograph.
    One process at a time builds (a lock file beside ``root``); the others wait and reuse its result.
    """
    from filelock import FileLock

    root = Path(root).expanduser() if root is not None else default_photo_root()
    if (root / "manifest.json").is_file() and not overwrite:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (DDP ranks, two commands) may ask at once: one builds, the others wait for it
    # and then find the manifest, instead of downloading into the same cache and replacing each other's
    # folder while it is read.
    with FileLock(str(root.parent / f".{root.name}.lock")):
        if (root / "manifest.json").is_file() and not overwrite:
            return root
        return _build(root, cache, progress)


def _build(root: Path, cache, progress) -> Path:
    import cv2

    cache = Path(cache) if cache is not None else root.parent / "debs"
    unpacked = fetch_debian_packages(cache, ("plasma-workspace-wallpapers",))
    wall_root = unpacked["plasma-workspace-wallpapers"] / WALLPAPER_DIR
    splits = assign_splits()
    files, sources = [], {}
    photos = SKIMAGE_PHOTOS + WALLPAPER_PHOTOS
    with staging_folder(root) as staging:
        for done, photo in enumerate(photos, 1):
            split = splits[photo.id]
            if photo.source == "skimage":
                img, licence = _skimage_rgb(photo.name), SKIMAGE_LICENCE
                sources[photo.id] = {"skimage": photo.name}
            else:
                src = _largest_wallpaper(wall_root / photo.name)
                img, licence = read_rgb(src), WALLPAPER_LICENCE
                sources[photo.id] = {"debian": "plasma-workspace-wallpapers",
                                     "file": str(src.relative_to(unpacked["plasma-workspace-wallpapers"])),
                                     "sha256": sha256_file(src).hexdigest()}
            items: list[tuple[str, np.ndarray]] = []
            if split == "train" or photo.source == "skimage":
                items.append((photo.id, img))
            if split == "train" and photo.source == "wallpaper":
                h, w = img.shape[:2]
                items.append((f"{photo.id}_half", cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)))
            if split != "train" and photo.source == "wallpaper":
                for where, crop in _crops(img):
                    items.append((f"{photo.id}_{where}", crop))
                    if split == "test" and where == "centre":
                        items.append((f"{photo.id}_centre_motionblur",
                                      motion_blur(crop, BLUR_LENGTH, _blur_angle(photo.id))))
            for name, arr in items:
                sha = _write_png(staging / split / f"{name}.png", arr)
                files.append({"file": f"{split}/{name}.png", "split": split, "photo": photo.id,
                              "stratum": photo.stratum, "licence": licence, "size": [arr.shape[1], arr.shape[0]],
                              "sha256": sha})
            if progress is not None:
                progress(done, len(photos))
        manifest = {"corpus": "photos", "seed": SPLIT_SEED, "files": files, "sources": sources,
                    "excluded": EXCLUDED}
        publish(staging, root, manifest)
    return root


@contextmanager
def staging_folder(root: Path) -> Iterator[Path]:
    """A new temporary folder beside ``root`` to assemble a corpus in; removed on the way out unless
    :func:`publish` made it ``root`` (an error or Ctrl-C leaves nothing behind)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def publish(staging: Path, root: Path, manifest: dict) -> None:
    """Write ``manifest.json`` into a finished ``staging`` folder and put it in place as ``root`` (replacing
    an older one), so that a corpus is either complete or absent, never half written."""
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if root.exists():
        old = root.with_name(f".{root.name}.old.{os.getpid()}")
        root.rename(old)
        staging.rename(root)
        shutil.rmtree(old)
    else:
        staging.rename(root)


if __name__ == "__main__":  # python -m inter4k.data.photos [ROOT]
    import sys

    out = build_photo_corpus(sys.argv[1] if len(sys.argv) > 1 else None,
                             progress=lambda d, t: print(f"\r{d}/{t}", end="", flush=True))
    print(f"\n{out}")
