"""Pairs mode: compare given predictions with references, frame by frame, clip by clip (for video SR,
``--task vsr``, with the temporal values of each frame after a clip's first).

Frames are paired in order (see :mod:`.sources`). Before any frame is decoded, clips whose frame
counts are known (image folders) are checked; a video's count is found while decoding. A count
mismatch is a ValueError naming both counts, a size mismatch one naming the frame and both sizes.
"""

from __future__ import annotations

from typing import Optional

from ..metrics.temporal import TEMPORAL_KEYS, error_flicker, warping_error
from .crops import CropPicker
from .results import FrameRecord, MethodResult
from .scoring import Scorer
from .sources import ClipPair, pair_clips
from .tasks import EvalTask, FrameProgress, register_task

__all__ = ["compare_clips", "planned_frames", "PairsTask"]


def planned_frames(pairs: list[ClipPair], frames: Optional[int]) -> tuple[Optional[int], list[str]]:
    """(the total frames to compare if known, else None; the count mismatches already visible)."""
    total: Optional[int] = 0
    problems = []
    for pair in pairs:
        p, r = pair.pred.declared_frames(), pair.ref.declared_frames()
        if pair.pred.kind == "images" and pair.ref.kind == "images" and p != r and (frames is None or min(p, r) < frames):
            problems.append(_count_message(pair, p, r))
        n = r if r is not None else p
        if n is None or total is None:
            total = None
        else:
            total += n if frames is None else min(n, frames)
    return total, problems


def _count_message(pair: ClipPair, pred_count: int, ref_count: int) -> str:
    return (f"clip {pair.name!r}: frame counts differ: pred ({pair.pred.describe()}) has {pred_count} frames, "
            f"ref ({pair.ref.describe()}) has {ref_count}")


def _size(t) -> str:
    return f"{t.shape[-1]}x{t.shape[-2]}"


def compare_clips(pairs: list[ClipPair], scorer: Scorer, frames: Optional[int] = None,
                  picker: Optional[CropPicker] = None, progress: Optional[FrameProgress] = None,
                  name: str = "pred", temporal: bool = False) -> MethodResult:
    """Compare every clip's frames (the first ``frames`` of each when given) and return the values.

    ``progress(done, total, clip)`` is called after each frame. ``temporal`` (video SR) adds each
    frame's ``flicker_y`` and ``warp_y`` against the previous frame of its clip (None for the first),
    computed on the pair of consecutive frames, so only one previous frame is held.
    """
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise ValueError(f"frames must be an int >= 1 or None, got {frames!r}")
    total, problems = planned_frames(pairs, frames)
    if problems:
        raise ValueError("; ".join(problems))
    result = MethodResult(name, [*scorer.keys, *(TEMPORAL_KEYS if temporal else ())])
    done = 0
    for pair in pairs:
        pit, rit = pair.pred.frames(), pair.ref.frames()
        index = 0
        previous = None
        while frames is None or index < frames:
            p = next(pit, None)
            r = next(rit, None)
            if p is None and r is None:
                break
            if p is None or r is None:  # one side ended: count the other's rest for the message
                rest = 1 + sum(1 for _ in (rit if p is None else pit))
                if frames is not None:
                    rest = min(rest, frames - index)
                pc, rc = (index, index + rest) if p is None else (index + rest, index)
                raise ValueError(_count_message(pair, pc, rc) + (f" (within the first {frames})" if frames else ""))
            (pname, pframe), (rname, rframe) = p, r
            if pframe.shape != rframe.shape:
                raise ValueError(f"clip {pair.name!r}, frame {index} (pred {pname}, ref {rname}): sizes differ: "
                                 f"pred is {_size(pframe)}, ref is {_size(rframe)}")
            values = scorer(pframe, rframe)
            if temporal:
                values.update(_temporal(previous, pframe, rframe, scorer.crop_border))
                previous = (pframe, rframe)
            label = rname if pair.ref.kind == "images" else pname
            result.frames.append(FrameRecord(pair.name, index, label, values))
            if picker is not None:
                picker.offer_pair(pair.name, index, pframe, rframe, values.get("psnr_y"))
            index += 1
            done += 1
            if progress is not None:
                progress(done, total, pair.name)
        if index == 0:
            raise ValueError(f"clip {pair.name!r}: no frames to compare in {pair.pred.describe()} "
                             f"and {pair.ref.describe()}")
        result.close_clip(pair.name, str(pair.pred.path), str(pair.ref.path))
    return result


def _temporal(previous, pframe, rframe, crop_border: int) -> dict:
    """``flicker_y`` and ``warp_y`` of a frame against the previous pair of its clip (None for the first)."""
    if previous is None:
        return dict.fromkeys(TEMPORAL_KEYS)
    import torch

    pred, ref = torch.stack([previous[0], pframe]), torch.stack([previous[1], rframe])
    return {"flicker_y": float(error_flicker(pred, ref, crop_border)[0]),
            "warp_y": float(warping_error(pred, ref, crop_border=crop_border)[0])}


@register_task("pairs")
class PairsTask(EvalTask):
    """Pairs mode of every task: the given predictions (one method, "pred") against the references."""

    def open(self) -> dict:
        self.pairs = pair_clips(self.req.pred, self.req.ref)
        if self.req.limit is not None:
            self.pairs = self.pairs[:self.req.limit]
        self.clips = len(self.pairs)
        self.methods = [("pred", None)]
        self.extra_keys = TEMPORAL_KEYS if self.req.task == "vsr" else ()
        return {}

    def run(self, scorer: Scorer, picker: CropPicker, progress: Optional[FrameProgress] = None) -> list[MethodResult]:
        # the clips are paired sources, not a stream of frames: frame counts are checked per pair
        return [compare_clips(self.pairs, scorer, self.req.frames, picker, progress, temporal=bool(self.extra_keys))]
