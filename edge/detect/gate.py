"""The detection gate: decide where the detector should look in this frame.

A static scene should cost almost nothing, so the detector runs only on square regions around
motion and around moving tracks, each resized to the model input (small, distant objects get
bigger, not smaller).  Stationary objects are re-checked at an interval, and the whole picture is
looked at every `recheck_s` so that something that never moved while watched is still found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .motion import Box, MotionDetector


@dataclass(frozen=True)
class GateTrack:
    """What the gate needs to know of a live track."""

    id: int
    box: tuple[float, float, float, float]
    stationary: bool


@dataclass(frozen=True)
class Plan:
    regions: list[Box] | None  # None: the whole picture, letterboxed
    motion: list[Box]
    reason: str  # off, recheck, motion, tracks, idle, large object, too much motion

    @property
    def runs_detector(self) -> bool:
        return self.regions is None or bool(self.regions)


def square_region(box: Sequence[float], frame_size: tuple[int, int], min_side: int, context: float = 1.4) -> Box:
    """A square around `box`, with some context, at least `min_side`, shifted to lie in the frame."""
    w, h = frame_size
    x1, y1, x2, y2 = box
    side = int(max(min_side, max(x2 - x1, y2 - y1) * context))
    side = min(side, w, h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(min(max(cx - side / 2, 0), w - side))
    top = int(min(max(cy - side / 2, 0), h - side))
    return left, top, left + side, top + side


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def merge_regions(regions: list[Box], frame_size: tuple[int, int], min_side: int) -> list[Box]:
    """Merge overlapping squares into the square around both, until none overlap."""
    regions = list(regions)
    merged = True
    while merged:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                if _overlap(regions[i], regions[j]):
                    a, b = regions[i], regions[j]
                    union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    regions[i] = square_region(union, frame_size, min_side, context=1.0)
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    return regions


class DetectionGate:
    def __init__(self, frame_size: tuple[int, int], model_input: tuple[int, int], *, enabled: bool = True,
                 recheck_s: float = 10.0, stationary_interval_s: float = 5.0, max_regions: int = 4,
                 motion: MotionDetector | None = None):
        self.frame_size = frame_size
        self.enabled = enabled
        self.recheck_s = recheck_s
        self.stationary_interval_s = stationary_interval_s
        self.max_regions = max_regions
        # A region never smaller than the model input: detection at native resolution or better.
        self.min_side = min(max(model_input), *frame_size)
        self.motion = motion or MotionDetector(frame_size)
        self._last_full: float | None = None
        self._last_checked: dict[int, float] = {}

    def plan(self, image, now: float, tracks: Sequence[GateTrack] = ()) -> Plan:
        motion = self.motion.detect(image) if self.enabled else []
        if not self.enabled:
            return Plan(None, [], "off")
        if self._last_full is None or now - self._last_full >= self.recheck_s:
            self._last_full = now
            self._last_checked = {t.id: now for t in tracks}
            return Plan(None, motion, "recheck")
        boxes: list[Sequence[float]] = list(motion)
        live = set()
        for track in tracks:
            live.add(track.id)
            due = now - self._last_checked.get(track.id, -1e9) >= self.stationary_interval_s
            if not track.stationary or due:
                boxes.append(track.box)
                self._last_checked[track.id] = now
        self._last_checked = {k: v for k, v in self._last_checked.items() if k in live}
        if not boxes:
            return Plan([], [], "idle")
        w, h = self.frame_size
        if any(max(b[2] - b[0], b[3] - b[1]) * 1.4 > min(w, h) for b in boxes):
            self._last_full = now  # an object larger than any square crop: look at everything
            return Plan(None, motion, "large object")
        regions = merge_regions([square_region(b, self.frame_size, self.min_side) for b in boxes],
                                self.frame_size, self.min_side)
        if len(regions) > self.max_regions or sum((r[2] - r[0]) * (r[3] - r[1]) for r in regions) >= 0.8 * w * h:
            self._last_full = now
            return Plan(None, motion, "too much motion")
        return Plan(regions, motion, "motion" if motion else "tracks")
