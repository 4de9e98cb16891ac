"""Encoding captured frames into the pre-roll buffer, off the capture thread.

In software (PyAV's libx264, ultrafast and zero-latency) everywhere; on a Raspberry Pi with
picamera2 the camera's hardware H.264 encoder can feed the same buffer (Picamera2BufferOutput).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from fractions import Fraction

import numpy as np

from ..capture import Frame
from .buffer import EncodedFrame, PrerollBuffer

log = logging.getLogger("edge.evidence")


class SoftwareEncoder:
    """A thread that encodes frames handed to it by the capture thread.

    submit() never blocks a live camera: if the encoder falls behind, frames are skipped (and
    counted).  For recorded sources read in lock-step, `blocking=True` makes the capture wait
    instead, so every frame reaches the clip.
    """

    def __init__(self, buffer: PrerollBuffer, *, crf: int = 28, gop_s: float = 2.0, max_fps: float | None = None,
                 blocking: bool = False, queue_size: int = 8):
        self.buffer = buffer
        self.crf = crf
        self.gop_s = gop_s
        self.max_fps = max_fps
        self.blocking = blocking
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._codec = None
        self._size: tuple[int, int] | None = None
        self._last_mono: float | None = None
        self._t0: float | None = None
        self.skipped = 0
        self.encoded = 0
        self.error: str | None = None

    def start(self) -> SoftwareEncoder:
        self._thread = threading.Thread(target=self._run, name="evidence-encoder", daemon=True)
        self._thread.start()
        return self

    def submit(self, frame: Frame) -> None:
        """Capture thread: hand over a frame."""
        if self.max_fps and self._last_mono is not None and frame.mono - self._last_mono < 0.999 / self.max_fps:
            return
        self._last_mono = frame.mono
        try:
            if self.blocking:
                self._queue.put(frame, timeout=5.0)
            else:
                self._queue.put_nowait(frame)
        except queue.Full:
            self.skipped += 1

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=2.0)
            self._thread.join(5.0)

    def _open(self, size: tuple[int, int], fps: float) -> None:
        import av

        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height = size
        codec.pix_fmt = "yuv420p"
        codec.time_base = Fraction(1, 1000)
        codec.framerate = Fraction(fps).limit_denominator(1000)
        codec.gop_size = max(1, round(self.gop_s * fps))
        codec.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(self.crf)}
        codec.open()
        self._codec = codec
        self._size = size
        self.buffer.size = size
        self.buffer.fps = fps

    def _run(self) -> None:

        pending: dict[int, Frame] = {}
        first: Frame | None = None
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self._codec is None and first is None:
                first = frame  # the second frame tells the frame rate, and so the GOP length
                continue
            try:
                image = frame.image
                h, w = image.shape[:2]
                size = (w - w % 2, h - h % 2)
                if self._codec is None or size != self._size:
                    rate = 1.0 / max(frame.mono - first.mono, 1e-3) if first is not None else 5.0
                    self._open(size, min(60.0, max(1.0, self.max_fps or rate)))
                    self._t0 = (first or frame).mono
                    if first is not None:
                        self._encode(first, pending)
                        first = None
                if size != (w, h):
                    image = np.ascontiguousarray(image[: size[1], : size[0]])
                self._encode(frame, pending, image)
            except Exception as exc:  # an encoder failure must not take capture down
                if self.error is None:
                    log.exception("evidence encoder failed; clips are unavailable until it recovers")
                self.error = f"{type(exc).__name__}: {exc}"
                self._codec = None

    def _encode(self, frame: Frame, pending: dict[int, Frame], image: np.ndarray | None = None) -> None:
        import av

        if image is None:
            w, h = self._size
            image = np.ascontiguousarray(frame.image[:h, :w])
        av_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        pts = round((frame.mono - self._t0) * 1000)
        av_frame.pts = pts
        av_frame.time_base = Fraction(1, 1000)
        pending[pts] = frame
        for packet in self._codec.encode(av_frame):
            source = pending.pop(packet.pts, frame)
            self.buffer.push(EncodedFrame(bytes(packet), bool(packet.is_keyframe), source.mono, source.wall))
            self.encoded += 1
        for stale in [p for p in pending if p < pts - 10_000]:
            pending.pop(stale, None)


def picamera2_buffer_output(buffer: PrerollBuffer):
    """A picamera2 Output feeding the camera's hardware-encoded H.264 into the pre-roll buffer.

    For `picam2.start_encoder(H264Encoder(bitrate), output=..., name="main")` on a Pi; picamera2
    calls outputframe() from its encoder thread with timestamps in microseconds (the camera's
    monotonic clock, the same as time.monotonic() on Raspberry Pi OS).
    """
    import time

    from picamera2.outputs import Output  # type: ignore[import-not-found]

    class BufferOutput(Output):
        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            if audio or not self.recording:
                return
            mono = timestamp / 1e6 if timestamp is not None else time.monotonic()
            buffer.push(EncodedFrame(bytes(frame), bool(keyframe), mono, time.time()))

    return BufferOutput()
