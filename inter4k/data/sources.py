"""What ``--data`` names, and the datasets it gives: the one place for the data rules of training
(``inter4k train-sr`` / ``train-vfi``) and evaluation (``inter4k evaluate``).

    spec = parse_data("images:~/photos", "sr")          # DataSpec(kind="images", path=...)
    train = open_dataset(spec, "sr", "train", scale=4, patch=192, seed=0)
    val = open_dataset(spec, "sr", "val", scale=4)        # None when the data has no validation set
    test = open_dataset(spec, "sr", "test", scale=4, split="test", limit=10)   # evaluation: whole frames

**Text** (``--data``): ``NAME:DIR`` or ``NAME`` alone, where NAME is a prefix a source kind of the
task registers (``images:DIR``, ``synthetic[:DIR]``, ``photos[:DIR]``); anything else is a folder (None:
``$INTER4K_ROOT`` or ``~/datasets/inter4k``) that the task's kinds claim in registration order
(``index.json``: a prepared folder; images and no ``Inter4K`` folder: an image folder), an Inter4K
root when none does.

**Kinds** (one registration each, :func:`register_source`; kind x task):

============  =====  ============================================================================
kind          task   datasets (purpose train / val / test)
============  =====  ============================================================================
inter4k       sr     :class:`~inter4k.data.datasets.Inter4KSR` (split train / val, 480-pixel centre
                     crops or whole frames when smaller / ``split``, whole frames)
inter4k       vfi    :class:`~inter4k.data.datasets.Inter4KVFI`, the same splits and crops
prepared      both   :class:`~inter4k.data.prepare.PreparedSR` / ``PreparedVFI``; val: a prepared val
                     folder's patches, else the val split of the Inter4K root it was cut from (rendered
                     samples: the fixed val clips of the data they were rendered from);
                     evaluation refuses patches (it reads whole frames)
images        sr     :class:`~inter4k.data.images.ImageFolderSR` over ``DIR/train`` and ``DIR/val``
                     when both exist, else every image of DIR; test: ``DIR/<split>`` or DIR, whole
photos        sr     the same over the real-photograph corpus (:mod:`inter4k.data.photos`, built on
                     first use), training samples shared out by area
synthetic     vfi    :class:`~inter4k.data.motion.SyntheticMotionVFI` over scikit-image's photographs
                     (``synthetic``) or the images of DIR (``synthetic:DIR``, ``images:DIR``, an
                     image folder), rigid motion unless ``realism`` says otherwise; with ``photos``
                     the kinds with the true flows
photos        vfi    the same over the real-photograph corpus's own ``train`` / ``val`` / ``test``
                     folders (a missing one is an error), realistic clips (``realism="real"``)
videos        vfi    :class:`~inter4k.data.videos.VideoTripletsVFI`, the real footage of the
                     opencv-doc videos (built on first use); validation and evaluation only
inter4k       vsr    :class:`~inter4k.data.datasets.Inter4KSR` with ``frames`` consecutive frames
prepared      vsr    :class:`~inter4k.data.prepare.PreparedSR` of ``frames``-frame clips (cut from
                     Inter4K with ``--frames``, or rendered by ``prepare --data``); val as above
photos        vsr    :class:`~inter4k.data.clips.SyntheticClipsVSR` clips over the corpus's own
                     ``train`` / ``val`` / ``test`` folders
videos        vsr    :class:`~inter4k.data.videos.VideoClipsVSR`, clips of consecutive frames of the
                     same real footage (no cut inside); validation and evaluation only
============  =====  ============================================================================

A new kind of data is one subclass of :class:`Source` under ``@register_source`` (docs/DESIGN.md#data-sources).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

__all__ = ["DataSpec", "DataOptions", "Source", "register_source", "list_sources", "get_source", "parse_data",
           "open_dataset", "split_folder", "split_or_all", "is_image_folder", "TASKS", "PURPOSES", "INTER4K", "PREPARED", "IMAGES",
           "PHOTOS", "SYNTHETIC", "VIDEOS", "INTER4K_VAL_PATCH", "SYNTHETIC_PATCH"]

TASKS = ("sr", "vfi", "vsr")  # vsr: video SR on clips of consecutive frames
PURPOSES = ("train", "val", "test")  # test: what ``inter4k evaluate`` reads

# The kinds, and the prefixes of ``--data`` (each defined here only).
INTER4K = "inter4k"
PREPARED = "prepared"
IMAGES = "images"
PHOTOS = "photos"
SYNTHETIC = "synthetic"
VIDEOS = "videos"
SEPARATOR = ":"

INTER4K_VAL_PATCH = 480  # centre crops of Inter4K validation frames (a multiple of 2, 3 and 4)
SYNTHETIC_PATCH = 256    # the side of rendered frames unless a patch is given


@dataclass(frozen=True)
class DataSpec:
    """What ``--data`` names: a kind (a registered source of the task) and a folder (None: the
    source's built-in pictures, e.g. scikit-image's photographs)."""

    kind: str
    path: Optional[Path]


@dataclass(frozen=True)
class DataOptions:
    """What a dataset depends on besides its :class:`DataSpec` (each source reads the fields it needs).

    ``patch``: the crop / frame side (None: the source's default for the purpose: training sets need
    one, validation 480 Inter4K crops or whole images, evaluation whole frames); ``train_patch``: the
    training side, which a rendered validation set defaults to; ``explicit``: the user named this
    validation data (an error instead of "no validation set"); ``split`` / ``limit``: evaluation's split
    and number of clips (images, samples or videos); ``realism``: of rendered VFI clips ("rigid" /
    "real"; None: the source's ``default_realism``); ``frames``: the frames of an SR sample (1: single
    frames; video SR's clips: T consecutive frames); ``samples``: the samples of a rendered training set
    (None: the source's default per epoch; ``inter4k prepare --data`` renders a fixed number once).
    """

    scale: int = 4
    mode: str = "30to60"
    patch: Optional[int] = None
    train_patch: Optional[int] = None
    seed: int = 0
    blur_prob: float = 0.0
    smooth_prob: float = 0.0
    with_flows: bool = False
    explicit: bool = False
    split: str = "test"
    limit: Optional[int] = None
    quantize: bool = False
    realism: Optional[str] = None
    frames: int = 1
    samples: Optional[int] = None


class Source:
    """One kind of data for one task. Subclasses set the class attributes and override what differs."""

    kind: str = ""
    task: str = ""
    prefixes: tuple[str, ...] = ()   # NAME of "NAME:DIR" (and of "NAME" alone when ``builtin``)
    builtin: bool = False            # "NAME" alone names the source's own pictures (``locate(None)``)
    hint: str = ""                   # how ``--data`` names it, in messages
    purposes: tuple[str, ...] = PURPOSES
    true_flows: bool = False         # VFI samples can carry the true motion (flow supervision)
    renders: bool = False            # training samples are rendered: ``inter4k prepare --data`` can store them
    default_realism: Optional[str] = None  # VFI clips rendered with this realism; None: footage, not rendered

    def locate(self, rest: Optional[str], text: str) -> Optional[Path]:
        """The folder of ``NAME:rest`` (``rest`` None: ``NAME`` alone, only when ``builtin``)."""
        path = Path(rest or "").expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"image folder {path} does not exist (from --data {text})")
        return path

    def claims(self, folder: Path) -> bool:
        """Whether a plain folder given to ``--data`` is this kind."""
        return False

    def stored_patch(self, spec: DataSpec) -> Optional[int]:
        """The patch side the data fixes (prepared patches), else None."""
        return None

    def has_true_flows(self, spec: DataSpec) -> bool:
        """Whether this data's VFI samples can carry the true motion (``with_flows``)."""
        return self.true_flows

    def stored_realism(self, spec: DataSpec) -> Optional[str]:
        """The realism the data was rendered with once and for all (rendered prepared samples), else None."""
        return None

    def describe(self, spec: DataSpec) -> str:
        return str(spec.path)

    def check_purpose(self, spec: DataSpec, purpose: str) -> None:
        """ValueError when this data cannot serve ``purpose`` (before anything is opened)."""

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions) -> Any:
        """The dataset of ``purpose`` (val: None when there is none, an error only when ``opt.explicit``)."""
        raise NotImplementedError


_SOURCES: dict[tuple[str, str], Source] = {}  # (task, kind) -> source, in registration order


def register_source(cls: type) -> type:
    """Class decorator: register a :class:`Source` subclass for its (task, kind)."""
    if cls.task not in TASKS:
        raise ValueError(f"source {cls.__name__}: unknown task {cls.task!r}; choose from {', '.join(TASKS)}")
    key = (cls.task, cls.kind)
    if key in _SOURCES:
        raise ValueError(f"data kind {cls.kind!r} is registered twice for task {cls.task!r}")
    _SOURCES[key] = cls()
    return cls


def list_sources(task: str, purpose: Optional[str] = None) -> list[Source]:
    """The sources of ``task`` (that serve ``purpose``), in registration order."""
    return [s for (t, _), s in _SOURCES.items() if t == task and (purpose is None or purpose in s.purposes)]


def get_source(kind: str, task: str) -> Source:
    try:
        return _SOURCES[(task, kind)]
    except KeyError:
        known = ", ".join(s.kind for s in list_sources(task))
        raise ValueError(f"unknown {task} data kind {kind!r}; known: {known}") from None


def _hints(task: str, purpose: str) -> str:
    hints = [s.hint for s in list_sources(task, purpose)]
    return hints[0] if len(hints) == 1 else ", ".join(hints[:-1]) + " or " + hints[-1]


def parse_data(data: Optional[str], task: str, purpose: str = "train") -> DataSpec:
    """What kind of data ``data`` names for ``task`` (see the module docstring). A missing folder is a
    FileNotFoundError whose message lists what ``--data`` takes for ``purpose``; a file is a
    NotADirectoryError."""
    from . import layout

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    text = None if data is None else str(data)
    if text is not None:
        name, sep, rest = text.partition(SEPARATOR)
        for source in list_sources(task):
            if name in source.prefixes and (sep or source.builtin):
                given = rest if sep and (rest or not source.builtin) else None
                return DataSpec(source.kind, source.locate(given, text))
    path = layout.resolve_root(text)
    if not path.exists():
        raise FileNotFoundError(f"data folder {path} does not exist: give --data {_hints(task, purpose)}")
    if not path.is_dir():
        raise NotADirectoryError(f"--data {path} is not a folder")
    for source in list_sources(task):
        if source.claims(path):
            return DataSpec(source.kind, path)
    return DataSpec(INTER4K, path)


def open_dataset(spec: DataSpec, task: str, purpose: str, **options) -> Any:
    """The ``purpose`` dataset ("train", "val" or "test") of ``spec`` for ``task``; ``options`` are
    :class:`DataOptions` fields (an unknown one is a TypeError). Val: None when the data has none."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; choose from {', '.join(PURPOSES)}")
    source = get_source(spec.kind, task)
    opt = DataOptions(**options)
    source.check_purpose(spec, purpose)
    return source.open(spec, purpose, opt)


# --- folders of images -------------------------------------------------------------------------------

def split_folder(path: Path, split: str) -> Path:
    """``path/split`` when ``path`` has both train/ and val/ folders of images, else ``path``."""
    from .images import list_images

    both = all((path / s).is_dir() and list_images(path / s) for s in ("train", "val"))
    return path / split if both else path


def split_or_all(path: Path, split: str) -> Path:
    """Evaluation's folder: ``path/split`` when it holds images, else ``path``."""
    from .images import list_images

    return path / split if (path / split).is_dir() and list_images(path / split) else path


def is_image_folder(path: Path) -> bool:
    """A folder of PNG / JPEG files (or of train/, val/, test/ folders of them) that is not an Inter4K root."""
    from .images import SPLITS, list_images

    if (path / "Inter4K").is_dir():
        return False
    return bool(list_images(path)) or any((path / s).is_dir() and list_images(path / s) for s in SPLITS)


# --- Inter4K roots and prepared patches -------------------------------------------------------------

def _smallest_side(root: Path, split: str) -> int:
    """The smallest frame side among the clips of ``split`` (read from the headers)."""
    from ..video import probe
    from . import layout
    from .datasets import resolve_clips

    sides = []
    for clip in resolve_clips(root, split, None):
        info = probe(layout.clip_path(root, clip))
        sides.append(min(info.height, info.width))
    return min(sides)


class _Inter4K(Source):
    """An Inter4K root (``inter4k download`` / ``inter4k sample``): the fallback of every plain folder."""

    kind = INTER4K
    hint = "an Inter4K root (inter4k download / inter4k sample)"

    def clips(self, root: Path, opt: DataOptions, **kwargs):
        """The task's clip dataset over ``root`` with the shared ``kwargs`` (split, patch_size, ...)."""
        raise NotImplementedError

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .datasets import resolve_clips

        if purpose == "train":
            return self.clips(spec.path, opt, split="train", patch_size=opt.patch, seed=opt.seed)
        if purpose == "test":  # the first ``limit`` clips of the split, planned as val / test samples
            clips = resolve_clips(spec.path, opt.split, None)[:opt.limit]
            # the dataset checks the clips (present, decodable, long enough, the crop fits)
            return self.clips(spec.path, opt, split=opt.split, patch_size=opt.patch, clips=clips, samples_per_clip=1,
                              seed=0, augment=False)
        try:
            # the side is checked against every val clip here (the dataset checks the first one only), so
            # that a small clip cannot stop a run at its first validation
            smallest, patch = _smallest_side(spec.path, "val"), opt.patch
            if patch is None:  # 480 centre crops, or the whole frames when a clip is smaller
                patch = INTER4K_VAL_PATCH if smallest >= INTER4K_VAL_PATCH else None
            elif patch > smallest:
                raise ValueError(f"the val patch {patch} is larger than the frames of the val clips of {spec.path} "
                                 f"(the smallest side is {smallest} pixels); pass a smaller --val-patch")
            return self.clips(spec.path, opt, split="val", patch_size=patch)
        except FileNotFoundError:
            if opt.explicit:
                raise
            return None


@register_source
class Inter4KSRSource(_Inter4K):
    task = "sr"

    def clips(self, root, opt, **kwargs):
        from .datasets import Inter4KSR

        return Inter4KSR(root, scale=opt.scale, quantize=opt.quantize, frames=opt.frames, **kwargs)


@register_source
class Inter4KVSRSource(Inter4KSRSource):
    """Inter4K for video SR: :class:`~inter4k.data.datasets.Inter4KSR` samples of ``frames`` consecutive
    frames, ``(lr, hr)`` of shapes (T, 3, h, w) and (T, 3, H, W)."""

    task = "vsr"


@register_source
class Inter4KVFISource(_Inter4K):
    task = "vfi"

    def clips(self, root, opt, **kwargs):
        from .datasets import Inter4KVFI

        return Inter4KVFI(root, mode=opt.mode, **kwargs)


class _Prepared(Source):
    """A folder made by ``inter4k prepare`` (it has ``index.json``): stored patches."""

    kind = PREPARED
    hint = "a folder made by inter4k prepare"
    purposes = ("train", "val")
    whole = "frames"    # what evaluation reads instead

    @property
    def other_hint(self) -> str:
        """The task's kinds named by a prefix (images:DIR, ...), to suggest instead."""
        return " or ".join(s.hint for s in list_sources(self.task) if s.prefixes)

    def claims(self, folder: Path) -> bool:
        return (folder / "index.json").is_file()

    def stored_patch(self, spec: DataSpec) -> Optional[int]:
        from .prepare import read_index

        index = read_index(spec.path)
        return int(index["config"]["patch"]) if index else None

    def has_true_flows(self, spec: DataSpec) -> bool:
        from .prepare import read_index, shard_parts

        index = read_index(spec.path)
        return bool(index) and any(key == "flows" for key, _, _ in shard_parts(index))

    def stored_realism(self, spec: DataSpec) -> Optional[str]:
        from .prepare import read_index

        index = read_index(spec.path)
        return (index.get("rendered") or {}).get("realism") if index else None

    def patches(self, path: Path, opt: DataOptions, augment: Optional[bool]):
        """The task's prepared dataset."""
        raise NotImplementedError

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .prepare import read_index

        if purpose == "test":
            raise ValueError(f"{spec.path} is a folder of training patches made by inter4k prepare; evaluate reads "
                             f"whole {self.whole}: give the Inter4K root it was made from, or {self.other_hint}")
        if purpose == "train":
            ds = self.patches(spec.path, opt, None)
            stored = int(ds.config["patch"])
            if opt.patch != stored:
                raise ValueError(f"the patches in {spec.path} are {stored} pixels wide; pass --patch {stored} or "
                                 f"leave it out")
            return ds
        index = read_index(spec.path)
        if index["config"]["split"] != "train":  # a prepared val / test folder: its stored patches
            return self.patches(spec.path, opt, False)
        if opt.explicit:
            raise ValueError(f"{spec.path} holds training patches; give a prepared val folder, an Inter4K root "
                             f"or {self.other_hint}")
        rendered = index.get("rendered")
        if rendered:  # the fixed val samples of the data they were rendered from, with the same realism
            data = DataSpec(rendered["kind"], Path(rendered["path"]) if rendered["path"] else None)
            try:
                return get_source(data.kind, self.task).open(data, purpose, replace(opt, realism=rendered["realism"]))
            except FileNotFoundError:
                return None
        root = Path(index.get("source", {}).get("root", ""))  # the val split of the root it was cut from
        if not root.is_dir():
            return None
        return get_source(INTER4K, self.task).open(DataSpec(INTER4K, root), purpose, opt)


@register_source
class PreparedSRSource(_Prepared):
    task = "sr"

    def patches(self, path, opt, augment):
        from .prepare import PreparedSR

        if augment is False:
            return PreparedSR(path, scale=opt.scale, augment=False)
        ds = PreparedSR(path, scale=opt.scale, seed=opt.seed)
        if ds.frames != 1:
            raise ValueError(f"{path} holds {ds.frames}-frame patches; train-sr trains on single frames (--frames 1)")
        return ds


@register_source
class PreparedVSRSource(_Prepared):
    """A prepared folder of clips for video SR: HR clips of ``frames`` frames, cut from Inter4K
    (``prepare --task sr --frames T``) or rendered (``prepare --data photos --task vsr``)."""

    task = "vsr"
    whole = "clips"

    def patches(self, path, opt, augment):
        from .prepare import PreparedSR

        ds = PreparedSR(path, scale=opt.scale, augment=augment, seed=opt.seed, quantize=opt.quantize)
        if ds.frames != opt.frames:
            raise ValueError(f"{path} holds clips of {ds.frames} frames; pass --frames {ds.frames}")
        return ds


@register_source
class PreparedVFISource(_Prepared):
    task = "vfi"
    whole = "clips"

    def patches(self, path, opt, augment):
        from .prepare import PreparedVFI

        ds = PreparedVFI(path, augment=augment, seed=opt.seed, with_flows=opt.with_flows)
        if ds.mode != opt.mode:
            raise ValueError(f"the patches in {path} are for mode {ds.mode}; pass --mode {ds.mode} or "
                             f"prepare {opt.mode} patches")
        return ds


# --- SR: folders of images and the photograph corpus -----------------------------------------------

@register_source
class ImagesSRSource(Source):
    """``images:DIR`` or a folder of images: SR pairs cut from them."""

    kind = IMAGES
    task = "sr"
    prefixes = (IMAGES,)
    hint = "images:DIR"
    weighting = "equal"

    def claims(self, folder: Path) -> bool:
        return is_image_folder(folder)

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .images import ImageFolderSR, list_images

        if purpose == "train":
            return ImageFolderSR(split_folder(spec.path, "train"), scale=opt.scale, patch_size=opt.patch,
                                 split="train", seed=opt.seed, weighting=self.weighting, blur_prob=opt.blur_prob,
                                 smooth_prob=opt.smooth_prob, quantize=opt.quantize)
        if purpose == "val":
            return ImageFolderSR(split_folder(spec.path, "val"), scale=opt.scale, patch_size=opt.patch, split="val")
        folder = split_or_all(spec.path, opt.split)
        files = list_images(folder) if folder.is_dir() else []
        if not files:
            raise FileNotFoundError(f"no PNG / JPEG images in {folder}")
        return ImageFolderSR(folder, scale=opt.scale, patch_size=None, split="test", files=files[:opt.limit],
                             augment=False, quantize=opt.quantize)


class _PhotoCorpus(Source):
    """``photos`` / ``photos:DIR`` (either task): the real-photograph corpus of :mod:`inter4k.data.photos`,
    built in the default folder (or DIR) on first use."""

    kind = PHOTOS
    prefixes = (PHOTOS,)
    builtin = True
    hint = "photos[:DIR]"

    def locate(self, rest: Optional[str], text: str) -> Path:
        from .photos import build_photo_corpus

        return build_photo_corpus(rest or None)

    def claims(self, folder: Path) -> bool:
        return False  # a plain folder of images is the task's image kind (images / synthetic)

    def split_photos(self, spec: DataSpec, split: str) -> Path:
        """The corpus's own ``split`` folder (a missing or empty one is an error): training never sees a
        held-out photograph."""
        from .images import list_images

        folder = spec.path / split
        if not folder.is_dir() or not list_images(folder):
            raise FileNotFoundError(f"the photo corpus {spec.path} has no {split}/ images; rebuild it "
                                    f"(inter4k.data.photos.build_photo_corpus(overwrite=True))")
        return folder


@register_source
class PhotosSRSource(_PhotoCorpus, ImagesSRSource):
    """The photo corpus for SR: photographs of very different sizes, so the training samples are shared
    out by area."""

    weighting = "area"


# --- VFI: synthetic motion over photographs, real footage ---------------------------------------------

@register_source
class SyntheticVFISource(Source):
    """``synthetic`` (scikit-image's photographs), ``synthetic:DIR`` / ``images:DIR`` or a folder of
    images: synthetic camera and object motion rendered over them, with the true flows."""

    kind = SYNTHETIC
    task = "vfi"
    prefixes = (SYNTHETIC, IMAGES)
    builtin = True
    hint = "synthetic[:DIR]"
    true_flows = True
    renders = True
    default_realism = "rigid"

    def locate(self, rest: Optional[str], text: str) -> Optional[Path]:
        return None if rest is None else super().locate(rest, text)

    def claims(self, folder: Path) -> bool:
        return is_image_folder(folder)

    def describe(self, spec: DataSpec) -> str:
        return "scikit-image photographs" if spec.path is None else str(spec.path)

    def photo_folder(self, spec: DataSpec, split: str, purpose: str) -> Optional[Path]:
        """The photographs of ``split`` (None: scikit-image's): DIR/split or DIR."""
        if spec.path is None:
            return None
        return split_or_all(spec.path, split) if purpose == "test" else split_folder(spec.path, split)

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .motion import SyntheticMotionVFI

        realism = opt.realism or self.default_realism
        if purpose == "train":
            return SyntheticMotionVFI(self.photo_folder(spec, "train", purpose), mode=opt.mode, patch_size=opt.patch,
                                      samples=opt.samples, seed=opt.seed, split="train", with_flows=opt.with_flows,
                                      realism=realism)
        if purpose == "val":
            patch = opt.patch if opt.patch is not None else opt.train_patch
            return SyntheticMotionVFI(self.photo_folder(spec, "val", purpose), mode=opt.mode, patch_size=patch,
                                      seed=0, split="val", realism=realism)
        return SyntheticMotionVFI(self.photo_folder(spec, opt.split, purpose), mode=opt.mode,
                                  patch_size=opt.patch or SYNTHETIC_PATCH, seed=opt.seed, split=opt.split,
                                  realism=realism)


@register_source
class PhotosVFISource(_PhotoCorpus, SyntheticVFISource):
    """The photo corpus for VFI: realistic clips (``realism="real"`` unless given) rendered over it, each
    purpose from the corpus's own split folder: training never sees a held-out photograph."""

    default_realism = "real"

    def photo_folder(self, spec: DataSpec, split: str, purpose: str) -> Path:
        return self.split_photos(spec, split)


@register_source
class PhotosVSRSource(_PhotoCorpus):
    """The photo corpus for video SR: :class:`~inter4k.data.clips.SyntheticClipsVSR` clips of ``frames``
    frames (realistic scene motion, LR = bicubic rounded to 8 bits) over the corpus's own split folders;
    val / test clips are fixed, ``limit`` of them (default: the generator's count)."""

    task = "vsr"
    renders = True

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .clips import SyntheticClipsVSR

        if purpose == "train":
            return SyntheticClipsVSR(self.split_photos(spec, "train"), frames=opt.frames, scale=opt.scale,
                                     patch_size=opt.patch, samples=opt.samples, seed=opt.seed, split="train",
                                     realism=opt.realism)
        split = "val" if purpose == "val" else opt.split
        patch = opt.patch or opt.train_patch or SYNTHETIC_PATCH
        return SyntheticClipsVSR(self.split_photos(spec, split), frames=opt.frames, scale=opt.scale, patch_size=patch,
                                 samples=opt.limit, seed=0, split=split, realism=opt.realism)


@register_source
class VideosVFISource(Source):
    """``videos`` / ``videos:DIR``: the real footage of :mod:`inter4k.data.videos` (built on first use),
    every other frame dropped; validation and evaluation only (it is never training data), whole frames
    or ``patch`` centre crops."""

    kind = VIDEOS
    task = "vfi"
    prefixes = (VIDEOS,)
    builtin = True
    hint = "videos[:DIR]"
    purposes = ("val", "test")

    def locate(self, rest: Optional[str], text: str) -> Path:
        from .videos import build_video_corpus

        return build_video_corpus(rest or None)

    def check_purpose(self, spec: DataSpec, purpose: str) -> None:
        if purpose not in self.purposes:
            raise ValueError(f"{spec.path} holds the real validation videos; train on Inter4K, synthetic or photos "
                             f"data and pass --val-data videos")

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .videos import VIDEO_TEST_SAMPLES, VideoTripletsVFI

        if purpose == "val":  # training's validation: the val samples between the benchmarks' test samples
            return VideoTripletsVFI(spec.path, mode=opt.mode, patch_size=opt.patch, split="val",
                                    per_video=VIDEO_TEST_SAMPLES)
        ds = VideoTripletsVFI(spec.path, mode=opt.mode, patch_size=opt.patch)
        if opt.limit is not None:  # the first ``limit`` videos
            ds = VideoTripletsVFI(spec.path, mode=opt.mode, patch_size=opt.patch,
                                  videos=[Path(v["file"]).stem for v in ds.videos[:opt.limit]])
        return ds


@register_source
class VideosVSRSource(VideosVFISource):
    """``videos`` / ``videos:DIR`` for video SR: :class:`~inter4k.data.videos.VideoClipsVSR`, clips of
    ``frames`` consecutive whole frames of the real footage with no cut inside (``limit`` of them, evenly
    spaced: the test split; validation takes the val split, the clips midway between them);
    validation and evaluation only."""

    task = "vsr"

    def open(self, spec: DataSpec, purpose: str, opt: DataOptions):
        from .videos import VideoClipsVSR

        split = "val" if purpose == "val" else opt.split
        return VideoClipsVSR(spec.path, frames=opt.frames, scale=opt.scale, limit=opt.limit, split=split)
