"""Letterboxing: fit a picture into the model input keeping its aspect ratio, and map boxes back.

The convention is the one YOLO exports are trained with: resize so the picture fits, pad with grey
(114) split evenly on both sides.  Back-projection uses the exact scale of each axis after rounding,
so a box maps back to the pixels it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Letterbox:
    sx: float  # input pixels per source pixel, x
    sy: float
    left: int
    top: int

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes (N, 4) xyxy in model-input pixels -> source-image pixels."""
        out = boxes.astype(np.float32, copy=True)
        out[:, [0, 2]] = (out[:, [0, 2]] - self.left) / self.sx
        out[:, [1, 3]] = (out[:, [1, 3]] - self.top) / self.sy
        return out


def letterbox(image: np.ndarray, width: int, height: int, pad_value: int = 114,
              center: bool = True) -> tuple[np.ndarray, Letterbox]:
    h, w = image.shape[:2]
    r = min(width / w, height / h)
    new_w, new_h = max(1, round(w * r)), max(1, round(h * r))
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = width - new_w, height - new_h
    left, top = (dw // 2, dh // 2) if center else (0, 0)
    out = cv2.copyMakeBorder(resized, top, dh - top, left, dw - left, cv2.BORDER_CONSTANT,
                             value=(pad_value, pad_value, pad_value))
    return out, Letterbox(new_w / w, new_h / h, left, top)
