"""Detections: the one data type that flows from the detector to the tracker and the rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Region = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Detections:
    boxes: np.ndarray  # (N, 4) float32: x1, y1, x2, y2 in frame pixels
    scores: np.ndarray  # (N,) float32, 0..1
    class_ids: np.ndarray  # (N,) int32: index into `classes`
    classes: tuple[str, ...]  # the rule classes the ids refer to
    # Where the detector looked: None for the whole picture, else these regions (possibly none).
    # A tracker must not count an object as missed where nobody looked.
    coverage: tuple[Region, ...] | None = None

    @classmethod
    def empty(cls, classes: tuple[str, ...], coverage: tuple[Region, ...] | None = None) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), classes, coverage)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def names(self) -> list[str]:
        return [self.classes[i] for i in self.class_ids]

    def select(self, index: np.ndarray | slice) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index], self.classes, self.coverage)

    def scaled(self, sx: float, sy: float) -> Detections:
        """The same detections in a frame sx, sy times as large (lores stream -> main stream)."""
        if sx == 1.0 and sy == 1.0:
            return self
        coverage = None if self.coverage is None else tuple(
            (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)) for x1, y1, x2, y2 in self.coverage)
        return Detections(self.boxes * np.array([sx, sy, sx, sy], np.float32), self.scores, self.class_ids,
                          self.classes, coverage)

    def covers(self, box: tuple[float, float, float, float]) -> bool:
        """Whether the detector looked at the centre of `box` in this frame."""
        if self.coverage is None:
            return True
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return any(x1 <= cx < x2 and y1 <= cy < y2 for x1, y1, x2, y2 in self.coverage)
