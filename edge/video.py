"""H.264 MP4 writing through PyAV (libx264): the format browsers and VLC play."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .util import finish_atomic


class H264Writer:
    """Writes BGR frames to an H.264 MP4 at a fixed frame rate.

    The file is written under a temporary name and renamed on close, so a crash never leaves a
    half-written file under the final name.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], crf: int = 23,
                 preset: str = "veryfast"):
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        self.width, self.height = size
        if self.width % 2 or self.height % 2:
            raise ValueError(f"H.264 needs even frame sizes, got {self.width}x{self.height}")
        self._rate = Fraction(fps).limit_denominator(1000)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        self._stream = self._container.add_stream("libx264", rate=self._rate)
        self._stream.width = self.width
        self._stream.height = self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        if bgr.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {bgr.shape[1]}x{bgr.shape[0]}, writer is {self.width}x{self.height}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self._rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        finish_atomic(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
