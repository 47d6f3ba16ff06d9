"""Video SR clips ``(lr, hr)`` of T consecutive frames, rendered from still photographs.

    ds = SyntheticClipsVSR(corpus / "train", frames=5, scale=4, patch_size=192)
    lr, hr = ds[0]                      # (5, 3, 48, 48), (5, 3, 192, 192), float32 in [0, 1]

The HR frames are the frames of a :class:`~inter4k.data.motion.SyntheticMotionVFI` clip (span T - 1,
so T is 3, 5 or 9: :data:`CLIP_FRAMES`) rendered with the realism of the scene (:data:`SCENE_REALISM`:
the "real" preset's large displacements, occluding layers, non-rigid motion, motion blur and
brightness changes) but none of its measurement effects: sensor noise and H.264 would only reach the
first and last frames there (VFI's inputs), and here the LR is what the camera records,
``LR = imresize(HR, 1/scale)`` rounded to 8 bits (:func:`~inter4k.data.datasets.bicubic_lr`), as an
LR video frame is. ``realism="recorded"`` adds the camera's sensor noise and H.264 to every HR frame
(and so to the LR made from them): the clips of real footage, whose frames carry both. The randomness is the generator's: a training sample draws from ``(seed, epoch,
index)`` (new motion every epoch, :meth:`set_epoch`), a val / test sample is fixed.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch.utils.data import Dataset

from .datasets import bicubic_lr
from .motion import SyntheticMotionVFI
from .realism import REALISM, Realism

__all__ = ["SyntheticClipsVSR", "CLIP_FRAMES", "SCENE_REALISM", "DEFAULT_CLIP_FRAMES"]

#: The clip lengths T, and the VFI mode whose span (T - 1) renders them.
CLIP_FRAMES = {3: "30to60", 5: "15to60", 9: "8x"}
DEFAULT_CLIP_FRAMES = 5
#: The default: the "real" preset without its measurement effects (the LR is made from the HR frames).
SCENE_REALISM = REALISM["scene"]


class SyntheticClipsVSR(Dataset):
    """``(lr, hr)`` clips of ``frames`` frames (see the module docstring).

    Args:
        images: what :class:`~inter4k.data.motion.SyntheticMotionVFI` takes (a folder, arrays, None).
        frames: T, one of :data:`CLIP_FRAMES`.
        scale: the SR factor; ``patch_size`` must be a multiple of it.
        patch_size: the HR frame side P.
        samples, seed, split: as :class:`~inter4k.data.motion.SyntheticMotionVFI`.
        realism: of the rendered scene (default :data:`SCENE_REALISM`).

    Shape:
        - lr: (T, 3, P / scale, P / scale); hr: (T, 3, P, P).

    Example:
        >>> import numpy as np
        >>> img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
        >>> lr, hr = SyntheticClipsVSR([img, img], frames=3, scale=2, patch_size=16, split="val")[0]
        >>> tuple(lr.shape), tuple(hr.shape)
        ((3, 3, 8, 8), (3, 3, 16, 16))
    """

    def __init__(self, images=None, frames: int = DEFAULT_CLIP_FRAMES, scale: int = 4, patch_size: int = 192,
                 samples: Optional[int] = None, seed: int = 0, split: str = "train",
                 realism: Union[str, Realism, None] = None):
        if frames not in CLIP_FRAMES:
            raise ValueError(f"frames must be one of {', '.join(map(str, CLIP_FRAMES))} (a clip of span 2, 4 or 8), "
                             f"got {frames!r}")
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be an int >= 1, got {scale!r}")
        if isinstance(patch_size, int) and patch_size % scale:
            raise ValueError(f"patch_size {patch_size} is not a multiple of scale {scale}")
        self.frames, self.scale = int(frames), int(scale)
        self.motion = SyntheticMotionVFI(images, mode=CLIP_FRAMES[frames], patch_size=patch_size, samples=samples,
                                         seed=seed, split=split, quantize=True,
                                         realism=SCENE_REALISM if realism is None else realism)
        self.names, self.split = self.motion.names, split

    def __len__(self) -> int:
        return len(self.motion)

    def set_epoch(self, epoch: int) -> None:
        self.motion.set_epoch(epoch)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        hr = self.motion.render(self.motion.plan(index))
        return bicubic_lr(hr, self.scale, quantize=True), hr
