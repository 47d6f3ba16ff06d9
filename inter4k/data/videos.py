"""Real footage for validating frame interpolation: the three videos of Debian's ``opencv-doc`` package
as frame-interpolation samples, every other frame dropped and predicted from its two neighbours.

    root = build_video_corpus()              # ~/.cache/inter4k/videos/val/*.avi + manifest.json
    ds = VideoTripletsVFI(root)              # (inputs (2, 3, H, W), targets (1, 3, H, W), t (1,)) float32
    clips = VideoClipsVSR(root, frames=5, scale=4)   # (lr (5, 3, H/4, W/4), hr (5, 3, H, W)) for video SR
    plan = plan_samples(path)                # the samples of any video file (frames, cuts, kept / dropped)

**Videos** (:data:`OPENCV_VIDEOS`): ``vtest.avi`` (768x576, 10 fps, 795 frames, pedestrians seen by a
still camera), ``tree.avi`` (320x240, 68 frames at irregular times, a tree in the wind) and
``Megamind.avi`` (720x528, 23.976 fps, 270 frames, an animated film's trailer with cuts). They are
copied from the package (``apt-get download opencv-doc`` + ``dpkg -x``, as the photo corpus's
wallpapers; or from a folder that already holds them, ``source``) into ``val/``: the three are
validation footage, nothing is trained on them.

**Samples** (:func:`plan_samples`): frames are numbered in the order the decoder gives them; frame
``i``'s time is the ``i``-th smallest timestamp (AVI files with packed B-frames label frames in
decoding order; sorting gives their display times). A sample of span S (2: every other frame dropped,
as "30to60"; 4, 8 as "15to60", "8x") is frames ``s .. s + S`` for ``s = 0, S, 2S, ...``; the inputs are
frames s and s + S and the targets the frames between, at ``t = k / S``. A sample is **dropped, with
its reason recorded**, when a scene cut lies inside it (the cut detector of ``inter4k interpolate``,
:class:`inter4k.infer.scene.SceneCutDetector`, threshold 10) or when a target's time is more than
:data:`TIMING_TOLERANCE` of the input interval away from k / S (tree.avi's frames are 6 or 7 ticks
apart, so half its samples are uneven). Frames after the last whole sample are counted as ``unused``.

**Splits** (:func:`part_positions`): the footage is never trained on, and it is cut in two so that a
choice made on it is not reported on the same frames. Frame interpolation's ``test`` samples of a
video are the ``K`` at the middles of ``K`` equal parts of its kept samples (the benchmarks use
``K =`` :data:`VIDEO_TEST_SAMPLES`); its ``val`` samples are those at the borders between the parts,
each at least two samples (so no frame) away from a test sample. Video SR's clips split the same way
(:class:`VideoClipsVSR`).

``manifest.json`` holds, per video: its file, size, frame count, frame rate, the sha256 of the copy
and of the package file, the cut positions, the frame times, and the samples of span 2 kept and
dropped (with reasons). Other spans are planned from the same facts (:func:`sample_starts_for`).
"""

from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["OPENCV_VIDEOS", "OPENCV_PACKAGE", "OPENCV_DATA_DIR", "TIMING_TOLERANCE", "default_video_root",
           "plan_samples", "sample_starts_for", "build_video_corpus", "VideoTripletsVFI", "VideoClipsVSR"]

OPENCV_PACKAGE = "opencv-doc"
OPENCV_DATA_DIR = "usr/share/doc/opencv-doc/examples/data"
OPENCV_VIDEOS = ("vtest.avi", "tree.avi", "Megamind.avi")
OPENCV_LICENCE = "BSD-3-Clause / Apache-2.0 (OpenCV sample data, Debian package opencv-doc)"
#: How far (a fraction of the input interval) a target's time may be from k / span.
TIMING_TOLERANCE = 0.02
SPLIT = "val"
#: The samples per video of frame interpolation's test split in the benchmarks (``--frames 20``).
VIDEO_TEST_SAMPLES = 20


def part_positions(n: int, k: Optional[int], split: str = "test") -> list[int]:
    """Positions in a video's ``n`` kept samples: ``"test"``: the middles of ``k`` equal parts (all of
    them when ``k`` is None or at least ``n``); ``"val"``: the borders between those parts that lie at
    least two positions from every test position (none when ``k`` is None or at least ``n``).

    Examples:
        >>> part_positions(20, 4), part_positions(20, 4, "val"), part_positions(3, None)
        ([2, 7, 12, 17], [5, 10, 15], [0, 1, 2])
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    if k is None or k >= n:
        return list(range(n)) if split == "test" else []
    test = [min(n - 1, int((j + 0.5) * n / k)) for j in range(k)]
    if split == "test":
        return test
    return [p for p in dict.fromkeys(int(j * n / k) for j in range(1, k)) if min(abs(p - t) for t in test) >= 2]


def default_video_root() -> Path:
    """``$INTER4K_VIDEOS`` or ``~/.cache/inter4k/videos``."""
    env = os.environ.get("INTER4K_VIDEOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inter4k" / "videos"


def _scan(path: Path, threshold: float) -> dict:
    """One pass over a video: frame count, size, frame times (seconds, sorted timestamps) and cuts."""
    import av

    from ..infer.scene import SceneCutDetector
    from ..video import FrameConverter, VideoError, _open

    detector = SceneCutDetector(threshold)
    cuts, stamps, size, tb = [], [], None, None
    with _open(path) as c:
        if not c.streams.video:
            raise VideoError(f"{path}: has no video stream")
        v = c.streams.video[0]
        tb = v.time_base
        rate = v.average_rate or v.guessed_rate
        try:
            convert = FrameConverter()
            for i, frame in enumerate(c.decode(v)):
                rgb = convert.array(frame, "rgb24")
                size = [rgb.shape[1], rgb.shape[0]]
                stamps.append(frame.pts)
                if detector.push(torch.from_numpy(rgb).permute(2, 0, 1))[1]:
                    cuts.append(i)
        except av.error.FFmpegError as exc:
            raise VideoError(f"{path}: decoding failed after frame {len(stamps) - 1} ({exc})") from None
    if not stamps:
        raise VideoError(f"{path}: no frame decodes")
    if any(s is None for s in stamps) or tb is None:  # no timestamps: the nominal rate
        times = [float(i / Fraction(rate)) for i in range(len(stamps))]
    else:
        times = [float((s - min(stamps)) * tb) for s in sorted(stamps)]
    return {"frames": len(stamps), "size": size, "fps": str(Fraction(rate)) if rate else None, "cuts": cuts,
            "times": times}


def sample_starts_for(facts: dict, span: int) -> tuple[list[int], list[dict], int]:
    """(kept starts, dropped samples with reasons, unused frames) of span ``span`` from a video's facts
    (``frames``, ``cuts``, ``times``; see the module docstring)."""
    n, cuts, times = int(facts["frames"]), set(facts["cuts"]), facts["times"]
    kept, dropped = [], []
    starts = range(0, n - span, span)
    for s in starts:
        cut = next((i for i in range(s + 1, s + span + 1) if i in cuts), None)
        if cut is not None:
            dropped.append({"start": s, "reason": f"scene cut between frames {cut - 1} and {cut}"})
            continue
        interval = times[s + span] - times[s]
        if interval <= 0:
            dropped.append({"start": s, "reason": f"frames {s} and {s + span} have the same time"})
            continue
        off = [(times[s + k] - times[s]) / interval for k in range(1, span)]
        bad = next(((k, t) for k, t in enumerate(off, 1) if abs(t - k / span) > TIMING_TOLERANCE), None)
        if bad is not None:
            dropped.append({"start": s, "reason": f"uneven timing: frame {s + bad[0]} is at t = {bad[1]:.3f}, "
                                                  f"not {bad[0]}/{span}"})
            continue
        kept.append(s)
    last = (starts[-1] + span) if len(starts) else -1
    return kept, dropped, n - 1 - last


def plan_samples(path, span: int = 2, threshold: Optional[float] = None) -> dict:
    """The facts of a video (``frames``, ``size``, ``fps``, ``cuts``, ``times``) and its samples of
    ``span``: ``starts`` (kept), ``dropped`` (start and reason), ``unused`` (frames after the last sample).
    ``threshold``: the scene-cut threshold (default that of ``inter4k interpolate``)."""
    from ..infer.scene import DEFAULT_SCENE_THRESHOLD

    if isinstance(span, bool) or not isinstance(span, int) or span < 2:
        raise ValueError(f"span must be an int >= 2, got {span!r}")
    facts = _scan(Path(path), DEFAULT_SCENE_THRESHOLD if threshold is None else threshold)
    kept, dropped, unused = sample_starts_for(facts, span)
    return {**facts, "span": span, "starts": kept, "dropped": dropped, "unused": unused}


def build_video_corpus(root=None, cache=None, source=None, overwrite: bool = False,
                       progress: Optional[Callable[[int, int], None]] = None) -> Path:
    """Copy the opencv-doc videos into ``root/val`` (default :func:`default_video_root`), plan their samples and
    write ``root/manifest.json``; return ``root``. A corpus whose manifest exists is returned as it is
    unless ``overwrite``.

    ``source``: a folder holding the three videos (e.g. an unpacked opencv-doc's
    ``usr/share/doc/opencv-doc/examples/data``); None: ``apt-get download opencv-doc`` into ``cache``
    (default ``root/../debs``, shared with the photo corpus) and unpack it there.
    """
    from .download import sha256_file
    from .photos import fetch_debian_packages, publish, staging_folder

    root = Path(root).expanduser() if root is not None else default_video_root()
    if (root / "manifest.json").is_file() and not overwrite:
        return root
    if source is None:
        cache = Path(cache) if cache is not None else root.parent / "debs"
        source = fetch_debian_packages(cache, (OPENCV_PACKAGE,))[OPENCV_PACKAGE] / OPENCV_DATA_DIR
    source = Path(source)
    missing = [name for name in OPENCV_VIDEOS if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source} lacks {', '.join(missing)} (expected the opencv-doc sample videos)")
    with staging_folder(root) as staging:
        videos = []
        for done, name in enumerate(OPENCV_VIDEOS, 1):
            copy = staging / SPLIT / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, copy)
            plan = plan_samples(copy)
            videos.append({"file": f"{SPLIT}/{name}", "split": SPLIT, "licence": OPENCV_LICENCE,
                           "sha256": sha256_file(copy).hexdigest(), "source": str(source / name), **plan})
            if progress is not None:
                progress(done, len(OPENCV_VIDEOS))
        publish(staging, root, {"corpus": "videos", "package": OPENCV_PACKAGE, "timing_tolerance": TIMING_TOLERANCE,
                                "videos": videos})
    return root


class _Reader:
    """Forward-only frames of one video, reopened only when asked for an earlier frame; the last frame read
    is kept, since consecutive samples share it."""

    def __init__(self, path: Path) -> None:
        self.path, self.frames, self.next = path, None, 0
        self.last: Optional[tuple[int, np.ndarray]] = None

    def get(self, start: int, count: int) -> list[np.ndarray]:
        from ..video import iter_frames

        out = []
        if self.last is not None and self.last[0] == start:
            out.append(self.last[1])
            start, count = start + 1, count - 1
        if self.frames is None or start < self.next:
            # no seeking: its frame numbering is unreliable in AVI files with B-frames
            self.frames, self.next = iter_frames(self.path, start, seek=False), start
        else:
            while self.next < start:
                next(self.frames)
                self.next += 1
        for _ in range(count):
            out.append(next(self.frames))
            self.next += 1
        self.last = (self.next - 1, out[-1])
        return out


class VideoTripletsVFI(Dataset):
    """The kept samples of the video corpus (see the module docstring) in the format of
    :class:`~inter4k.data.datasets.Inter4KVFI`: ``(inputs (2, 3, H, W), targets (span - 1, 3, H, W), t (span - 1,))``
    float32 in [0, 1], t = k / span.

    Args:
        root: a corpus made by :func:`build_video_corpus` (default :func:`default_video_root`; not built here).
        mode: "30to60" (span 2, every other frame dropped), "15to60" (4) or "8x" (8).
        patch_size: None (whole frames) or the side of a centre crop (frames smaller than it: an error).
        videos: the names of the videos to use (default all of the split's).
        split, per_video: None (every kept sample) or the ``"test"`` / ``"val"`` samples of
            :func:`part_positions` with ``k = per_video`` (None: every sample for test, none for val).

    Samples are read in order without seeking (a sample after the previous one costs only its own
    frames); random access works but rereads a video from its start.
    """

    def __init__(self, root=None, mode: str = "30to60", patch_size: Optional[int] = None,
                 videos: Optional[Sequence[str]] = None, split: Optional[str] = None,
                 per_video: Optional[int] = None):
        from .datasets import VFI_SPANS

        if mode not in VFI_SPANS:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(VFI_SPANS)}")
        self.root = Path(root).expanduser() if root is not None else default_video_root()
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"no video corpus at {self.root} (no manifest.json): build it with "
                                    f"inter4k.data.videos.build_video_corpus()")
        entries = [v for v in json.loads(manifest.read_text())["videos"] if v["split"] == SPLIT]
        if videos is not None:
            known = {Path(v["file"]).stem: v for v in entries}
            unknown = [name for name in videos if name not in known]
            if unknown:
                raise ValueError(f"unknown videos {', '.join(unknown)}; the corpus has {', '.join(known)}")
            entries = [known[name] for name in videos]
        self.mode, self.span, self.patch_size = mode, VFI_SPANS[mode], patch_size
        self.videos = entries
        self.items: list[tuple[int, int]] = []
        for j, v in enumerate(entries):
            starts = v["starts"] if self.span == v.get("span") else sample_starts_for(v, self.span)[0]
            w, h = v["size"]
            if patch_size is not None and (patch_size > h or patch_size > w):
                raise ValueError(f"patch_size {patch_size} is larger than the frames of {v['file']} ({w}x{h})")
            if split is not None:  # the split's samples (:func:`part_positions`)
                starts = [starts[p] for p in part_positions(len(starts), per_video, split)]
            self.items += [(j, s) for s in starts]
        self._readers: dict[int, _Reader] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __getstate__(self):  # open decoders stay in their process
        state = self.__dict__.copy()
        state["_readers"] = {}
        return state

    def sample(self, index: int) -> tuple[str, int]:
        """``(video stem, first frame)`` of sample ``index`` (the stem may hold any character, "@" too)."""
        j, s = self.items[index]
        return Path(self.videos[j]["file"]).stem, s

    def name(self, index: int) -> str:
        """"<video stem>@<first frame>" of sample ``index`` (a label: :meth:`sample` gives its parts)."""
        return "{}@{}".format(*self.sample(index))

    def frames(self, index: int) -> torch.Tensor:
        """The ``span + 1`` frames of sample ``index``, (span + 1, 3, H, W) uint8 (centre-cropped to the patch)."""
        from .datasets import crop_window

        j, s = self.items[index]
        reader = self._readers.setdefault(j, _Reader(self.root / self.videos[j]["file"]))
        raw = reader.get(s, self.span + 1)
        h, w = raw[0].shape[:2]
        y, x, ph, pw = crop_window(h, w, self.patch_size, 1)
        return torch.from_numpy(np.stack([f[y:y + ph, x:x + pw] for f in raw])).permute(0, 3, 1, 2).contiguous()

    def __getitem__(self, index: int):
        from .datasets import split_vfi

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return split_vfi(self.frames(index % len(self)).float() / 255.0)


#: The clips of the footage's video SR test split that the benchmarks report (evenly spaced).
VIDEO_TEST_CLIPS = 24


def _spaced(items: list[int], count: Optional[int]) -> list[int]:
    """``count`` of ``items`` evenly spaced, first and last included (all of them when None or more)."""
    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in sorted({int(round(x)) for x in np.linspace(0, len(items) - 1, max(int(count), 1))})]


class VideoClipsVSR(Dataset):
    """Real footage for video SR: clips of ``frames`` consecutive frames of the corpus's videos, ``(lr, hr)``
    with ``hr`` (T, 3, H, W) the frames (cropped to a multiple of ``scale`` at the bottom / right) and
    ``lr = imresize(hr, 1/scale)`` rounded to 8 bits, as a video's LR is.

    The clips are the samples of span ``frames - 1`` that :func:`plan_samples` keeps (no scene cut
    inside; tree.avi's uneven ones left out as for VFI), so a clip never spans a cut; ``limit`` keeps that
    many of them, evenly spaced over all the videos' clips in order (deterministic), None all. That is
    the ``"test"`` split; the benchmarks report its :data:`VIDEO_TEST_CLIPS` clips. ``split="val"``
    takes the clips midway between consecutive ones of those ``test_clips`` (None:
    :data:`VIDEO_TEST_CLIPS`), at least two clips from either, so no val clip shares a frame with a
    test clip, and ``limit`` of them evenly spaced: a choice made on the footage is not made on the
    clips it is reported on.

    Shape:
        - lr: (T, 3, H / scale, W / scale); hr: (T, 3, H, W), float32 in [0, 1].
    """

    def __init__(self, root=None, frames: int = 5, scale: int = 4, limit: Optional[int] = None,
                 videos: Optional[Sequence[str]] = None, split: str = "test", test_clips: Optional[int] = None):
        from .clips import CLIP_FRAMES

        if frames not in CLIP_FRAMES:
            raise ValueError(f"frames must be one of {', '.join(map(str, CLIP_FRAMES))}, got {frames!r}")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be an int >= 1, got {scale!r}")
        self.samples = VideoTripletsVFI(root, mode=CLIP_FRAMES[frames], videos=videos)
        self.frames, self.scale = int(frames), int(scale)
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        clips = list(range(len(self.samples)))
        if split == "val":  # midway, at least two clips (one clip's frames) from either test clip
            test = _spaced(clips, VIDEO_TEST_CLIPS if test_clips is None else test_clips)
            clips = [(a + b) // 2 for a, b in zip(test, test[1:]) if b - a >= 4]
            if not clips:
                raise ValueError(f"no val clips between {len(test)} test clips of {len(self.samples)} clips")
        self.indices = _spaced(clips, limit)
        self.names = [self.samples.name(i) for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from .datasets import bicubic_lr, crop_window

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        hr = self.samples.frames(self.indices[index]).float() / 255.0
        y, x, h, w = crop_window(*hr.shape[-2:], None, self.scale)   # the whole frame, cut to a multiple of scale
        hr = hr[..., y:y + h, x:x + w].contiguous()
        return bicubic_lr(hr, self.scale, quantize=True), hr
