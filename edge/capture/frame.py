"""Frame: the one data type a frame source hands to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    image: np.ndarray  # BGR uint8, H x W x 3: the full-resolution picture, as evidence keeps it
    seq: int  # increasing per source; a gap means frames were dropped for a slow consumer
    mono: float  # monotonic seconds: durations, dwell times, frame age
    wall: float  # Unix seconds: what clocks and schedules see
    lores: np.ndarray | None = None  # a camera's low-resolution stream, where it has one

    @property
    def detect_image(self) -> np.ndarray:
        """The picture detection should look at: the low-resolution stream when there is one."""
        return self.lores if self.lores is not None else self.image

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]
