"""`file:` source: a video file or a folder of images, paced like a camera or read frame by frame."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from .base import Capture, FrameSource, SourceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class FileSource(FrameSource):
    live = False

    def __init__(self, path: str | Path, *, loop: bool = False, image_fps: float | None = None, **kwargs):
        super().__init__(f"file:{path}", **kwargs)
        self.path = Path(path)
        self.loop = loop
        self._image_fps = image_fps or 5.0  # a folder of images has no frame rate of its own
        self._cap: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        self._pos = 0
        self._fps = self._image_fps
        self._t0_mono = 0.0
        self._t0_wall = 0.0
        self._offset_s = 0.0  # media time added by earlier loops
        self._media_s = 0.0

    def _preflight(self) -> None:
        if not self.path.exists():
            raise SourceError(f"{self.name}: not found")
        if self.path.is_dir():
            self._images = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise SourceError(f"{self.name}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")

    def _open(self) -> None:
        if self._images:
            self._fps = self._image_fps
        else:
            cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
            if not cap.isOpened():
                cap.release()
                raise SourceError(f"{self.name}: cannot decode (not a video, or an unsupported codec)")
            self._cap = cap
            native = cap.get(cv2.CAP_PROP_FPS)
            self._fps = native if 0 < native < 1000 else 25.0
        self._pos = 0
        self._t0_mono, self._t0_wall = time.monotonic(), time.time()

    def _next_picture(self) -> np.ndarray | None:
        if self._images:
            while self._pos < len(self._images):
                image = cv2.imread(str(self._images[self._pos]), cv2.IMREAD_COLOR)
                self._pos += 1
                if image is not None:
                    return image
            return None
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok:
            return None
        self._pos += 1
        return image

    def _grab(self) -> Capture | None:
        image = self._next_picture()
        if image is None and self.loop and self._pos > 0:
            self._offset_s += self._pos / self._fps
            self._rewind()
            image = self._next_picture()
        if image is None:
            if self._pos == 0:
                raise SourceError(f"{self.name}: no decodable frame")
            return None
        media_s = self._offset_s + (self._pos - 1) / self._fps
        if self.realtime:
            if not self._sleep_until(self._t0_mono + media_s):
                return None
            return Capture(image)
        return Capture(image, mono=self._t0_mono + media_s, wall=self._t0_wall + media_s)

    def _rewind(self) -> None:
        self._pos = 0
        if self._cap is not None:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
