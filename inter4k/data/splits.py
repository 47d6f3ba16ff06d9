"""Train / val / test splits of Inter4K's 1,000 clips (80/10/10; none is published, docs/DATA.md#splits).

The official split is made once by a seeded rule and shipped as ``data/splits/inter4k.json``::

    clips = list(range(1, 1001))
    random.Random(20220101).shuffle(clips)
    train, val, test = sorted(clips[:800]), sorted(clips[800:900]), sorted(clips[900:])

:func:`make_splits` regenerates the file's content exactly (a test checks it), so the file can be
audited, and :func:`load_split` falls back to it when the file is not there (an installed wheel).

A sample tree (``ROOT/Inter4K/SAMPLE.json``, made by ``inter4k sample``) has only a few clips,
1..C. Its split: with C >= 3, test is the last max(1, round(C/10)) clips, val the same number just
before them, train the rest (C=3 -> 1/1/1, C=6 -> 4/1/1, C=20 -> 16/2/2). With C < 3 every split is
all C clips (overlapping: a sample is for smoke tests, and each split must have a clip).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from . import layout

SPLITS = ("train", "val", "test")
SEED = 20220101
FRACTIONS = (0.8, 0.1, 0.1)
RULE = ("clips = list(range(1, 1001)); random.Random(20220101).shuffle(clips); "
        "train = sorted(clips[:800]); val = sorted(clips[800:900]); test = sorted(clips[900:])")
SPLITS_FILE = Path(__file__).resolve().parents[2] / "data" / "splits" / "inter4k.json"


def make_splits(seed: int = SEED) -> dict:
    """The content of ``data/splits/inter4k.json`` (for the default seed): the rule, the counts and
    the three sorted lists of clip numbers."""
    n = layout.NUM_CLIPS
    clips = list(range(1, n + 1))
    random.Random(seed).shuffle(clips)
    n_train, n_val = round(n * FRACTIONS[0]), round(n * FRACTIONS[1])
    rule = RULE if seed == SEED else RULE.replace(str(SEED), str(seed))
    parts = {
        "train": sorted(clips[:n_train]),
        "val": sorted(clips[n_train:n_train + n_val]),
        "test": sorted(clips[n_train + n_val:]),
    }
    return {
        "dataset": "Inter4K",
        "clips": n,
        "seed": seed,
        "rule": rule,
        "counts": {k: len(v) for k, v in parts.items()},
        **parts,
    }


def write_splits(path: Path = SPLITS_FILE, seed: int = SEED) -> Path:
    """Write :func:`make_splits` to ``path`` (one clip list per line, so diffs stay readable)."""
    data = make_splits(seed)
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def official_splits() -> dict:
    """The shipped file's content, or :func:`make_splits` when the file is absent."""
    if SPLITS_FILE.is_file():
        return json.loads(SPLITS_FILE.read_text())
    return make_splits()


def sample_splits(clips: int) -> dict[str, list[int]]:
    """The split of a sample tree of ``clips`` clips (see the module docstring)."""
    if clips < 1:
        raise ValueError(f"clips must be >= 1, got {clips}")
    every = list(range(1, clips + 1))
    if clips < 3:
        return {name: list(every) for name in SPLITS}
    k = max(1, round(clips / 10))
    return {"train": every[:clips - 2 * k], "val": every[clips - 2 * k:clips - k], "test": every[clips - k:]}


def load_split(name: str, root=None) -> list[int]:
    """Clip numbers of split ``name`` (train, val or test), ascending.

    With ``root`` a sample tree (it has ``Inter4K/SAMPLE.json``), that sample's split; otherwise
    (``root`` None or a full tree) the official split.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
    if root is not None:
        marker = Path(root).expanduser() / "Inter4K" / layout.SAMPLE_MARKER
        if marker.is_file():
            return sample_splits(int(json.loads(marker.read_text())["clips"]))[name]
    return list(official_splits()[name])


if __name__ == "__main__":  # regenerate the shipped file: python -m inter4k.data.splits
    print(write_splits())
