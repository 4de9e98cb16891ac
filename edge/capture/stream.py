"""`usb:N` and `rtsp://` sources: live cameras read through OpenCV, reconnected when they drop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2

from .base import Capture, FrameSource, SourceError
from .uri import expand_env, redact_uri

# OpenCV's FFmpeg backend reads its options from the environment at open time.
_ENV_LOCK = threading.Lock()


class RtspSource(FrameSource):
    def __init__(self, url: str, *, transport: str = "tcp", open_timeout_s: float = 10.0,
                 read_timeout_s: float = 5.0, **kwargs):
        super().__init__(redact_uri(url), **kwargs)
        self._url = url
        self.transport = transport
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self._cap: cv2.VideoCapture | None = None

    def _preflight(self) -> None:
        expand_env(self._url)  # a missing variable is a configuration error, not a network one

    def _open(self) -> None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000),
        ]
        with _ENV_LOCK:
            saved = os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS")
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{self.transport}"
            try:
                cap = cv2.VideoCapture(expand_env(self._url), cv2.CAP_FFMPEG, params)
            finally:
                if saved is None:
                    os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
                else:
                    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = saved
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot open the stream", transient=True)
        self._cap = cap

    def _grab(self) -> Capture | None:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: the stream stopped sending frames", transient=True)
        return Capture(image)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class UsbSource(FrameSource):
    def __init__(self, index: int, *, size: tuple[int, int] | None = None, fps: float | None = None, **kwargs):
        super().__init__(f"usb:{index}", **kwargs)
        self.index = index
        self.size = size
        self.fps = fps
        self._cap: cv2.VideoCapture | None = None

    @property
    def device(self) -> str:
        return f"/dev/video{self.index}"

    def _open(self) -> None:
        if not Path(self.device).exists():
            raise SourceError(f"{self.name}: no camera at {self.device}", transient=True)
        cap = cv2.VideoCapture(self.index, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot open {self.device} (busy, or not a capture device)",
                              transient=True)
        if self.size:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self._cap = cap

    def _grab(self) -> Capture | None:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: {self.device} stopped sending frames (unplugged?)", transient=True)
        return Capture(image)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
