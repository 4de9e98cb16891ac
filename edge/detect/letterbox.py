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
        shift = np.array([self.left, self.top, self.left, self.top], np.float32)
        scale = np.array([self.sx, self.sy, self.sx, self.sy], np.float32)
        return ((boxes - shift) / scale).astype(np.float32, copy=False)


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


class InputTensor:
    """Letterboxes (or stretches) pictures straight into one reused model input tensor.

    The node's hot path: no padded picture, no fresh 1.2 MB tensor (and its page faults) per frame;
    the padding is written once per picture geometry, and each frame fills only the picture's part.
    The values are those of letterbox() followed by cv2.dnn.blobFromImage().  Float (1, 3, H, W) is
    the YOLO convention; uint8 (1, H, W, 3) that of the TF Object Detection API; `stretch` resizes to
    the full input without keeping the aspect ratio, as SSD and RT-DETR models are trained.
    """

    def __init__(self, width: int, height: int, *, pad_value: int = 114, center: bool = True,
                 scale: float = 1 / 255, rgb: bool = True, nhwc: bool = False, dtype: str = "float32",
                 stretch: bool = False):
        self.width, self.height = width, height
        # float32, not a Python float: uint8 * float64 would compute in doubles, twice the work.
        self.pad_value, self.center, self.scale, self.rgb = pad_value, center, np.float32(scale), rgb
        self.nhwc, self.stretch = nhwc, stretch
        self.dtype = np.dtype(dtype)
        shape = (1, height, width, 3) if nhwc else (1, 3, height, width)
        self.tensor = np.empty(shape, self.dtype)
        self._placed: tuple[int, int, int, int] | None = None  # (new_w, new_h, left, top) padded for

    def fill(self, image: np.ndarray) -> Letterbox:
        """Put `image` (BGR) into self.tensor; valid until the next fill()."""
        h, w = image.shape[:2]
        if self.stretch:
            new_w, new_h, left, top = self.width, self.height, 0, 0
        else:
            r = min(self.width / w, self.height / h)
            new_w, new_h = max(1, round(w * r)), max(1, round(h * r))
            dw, dh = self.width - new_w, self.height - new_h
            left, top = (dw // 2, dh // 2) if self.center else (0, 0)
        if self._placed != (new_w, new_h, left, top):
            pad = self.pad_value if self.dtype == np.uint8 else np.float32(self.pad_value) * self.scale
            self.tensor.fill(pad)
            self._placed = (new_w, new_h, left, top)
        resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h),
                                                                     interpolation=cv2.INTER_LINEAR)
        if self.nhwc:
            window = self.tensor[0, top:top + new_h, left:left + new_w, :]
            pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB) if self.rgb else resized
            if self.dtype == np.uint8:
                window[...] = pixels
            else:
                np.multiply(pixels, self.scale, out=window, casting="unsafe")
        else:
            window = self.tensor[0, :, top:top + new_h, left:left + new_w]
            for i, plane in enumerate(cv2.split(resized)):
                np.multiply(plane, self.scale, out=window[2 - i if self.rgb else i], casting="unsafe")
        return Letterbox(new_w / w, new_h / h, left, top)
