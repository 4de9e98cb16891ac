"""Motion detection at low resolution, in the spirit of Frigate's motion detector.

The picture is shrunk to about a hundred rows, greyed and blurred, then compared with a per-pixel
background model (OpenCV's MOG2 Gaussian mixture).  A mixture, not a running average, because the
places this product watches move by themselves: rippling water and glints, swaying trees.  Pixels
that flicker between a few values learn those values as background; a boat or a person is new.
When most of the picture changes at once it is a lighting change (a cloud, IR switching on), not
motion: the model is re-learnt from the current picture and nothing is reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[int, int, int, int]
Polygon = Sequence[tuple[float, float]]


class MotionDetector:
    def __init__(self, frame_size: tuple[int, int], *, frame_height: int = 120, threshold: int = 32,
                 contour_area: int = 8, lightning_threshold: float = 0.8, history: int = 300,
                 mask: Sequence[Polygon] = ()):
        w, h = frame_size
        self.frame_size = frame_size
        self.scale = min(1.0, frame_height / h)
        self.small = (max(8, round(w * self.scale)), max(8, round(h * self.scale)))
        self.contour_area = contour_area
        self.lightning_threshold = lightning_threshold
        self._model = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=threshold,
                                                         detectShadows=False)
        self._warmup = 10  # frames to learn the scene before reporting anything
        self._kernel = np.ones((3, 3), np.uint8)
        self._mask = None
        if mask:
            sw, sh = self.small
            keep = np.full((sh, sw), 255, np.uint8)
            for poly in mask:
                pts = np.round(np.array(poly, np.float32) * [sw, sh]).astype(np.int32)
                cv2.fillPoly(keep, [pts], 0)
            self._mask = keep
        self.last_fraction = 0.0

    def detect(self, image: np.ndarray) -> list[Box]:
        """Boxes of moving areas, in the pixels of `image`."""
        sw, sh = self.small
        # Bilinear to twice the target, then area-average: nearly the noise suppression of a full
        # area resize at a sixth of its cost on a 720p frame.
        if image.shape[1] > 2 * sw:
            image = cv2.resize(image, (2 * sw, 2 * sh), interpolation=cv2.INTER_LINEAR)
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.GaussianBlur(cv2.resize(grey, self.small, interpolation=cv2.INTER_AREA), (3, 3), 0)
        moving = self._model.apply(small)
        if self._mask is not None:
            moving = cv2.bitwise_and(moving, self._mask)
        self.last_fraction = cv2.countNonZero(moving) / moving.size
        if self._warmup:
            self._warmup -= 1
            return []
        if self.last_fraction > self.lightning_threshold:
            self._model.apply(small, learningRate=1.0)  # lighting change: this picture is the new scene
            self._warmup = 3
            return []
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, self._kernel)  # drop single-pixel flicker
        moving = cv2.dilate(moving, self._kernel, iterations=2)
        contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        inv = 1.0 / self.scale
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) < self.contour_area:
                continue
            x, y, bw, bh = cv2.boundingRect(contour)
            boxes.append((int(x * inv), int(y * inv), int(np.ceil((x + bw) * inv)), int(np.ceil((y + bh) * inv))))
        return boxes
