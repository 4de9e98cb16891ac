"""The pre-roll buffer: the last few minutes of encoded video, in memory, bounded.

It holds H.264 access units (bytes), not raw frames: 10 s of 720p at 5 fps is a few hundred kB
instead of 140 MB.  Old video leaves a whole GOP at a time, so what remains always starts at a
keyframe and a clip can be cut from any point it still covers.  Open clips subscribe to it and see
every new unit as it arrives.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes  # one H.264 access unit, Annex B (SPS/PPS in-band before keyframes)
    keyframe: bool
    mono: float  # the captured frame's monotonic time
    wall: float


class PrerollBuffer:
    def __init__(self, seconds: float, max_bytes: int):
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._frames: deque[EncodedFrame] = deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[EncodedFrame], None]] = []
        self.size: tuple[int, int] | None = None
        self.fps: float = 5.0

    def push(self, frame: EncodedFrame) -> None:
        with self._lock:
            if not self._frames and not frame.keyframe:
                return  # the buffer must start at a keyframe
            self._frames.append(frame)
            self._bytes += len(frame.data)
            self._trim(frame.mono)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(frame)

    def _trim(self, now: float) -> None:
        """Drop the oldest GOP while what would remain still covers `seconds`, or while too big."""
        while self._frames:
            next_key = next((i for i, f in enumerate(self._frames) if i > 0 and f.keyframe), None)
            if next_key is None:
                return  # one GOP only: keep it
            still_covered = now - self._frames[next_key].mono >= self.seconds
            if not (still_covered or self._bytes > self.max_bytes):
                return
            for _ in range(next_key):
                self._bytes -= len(self._frames.popleft().data)

    def since(self, mono: float) -> list[EncodedFrame]:
        """Frames from the last keyframe at or before `mono` (or the oldest there is) to now."""
        with self._lock:
            frames = list(self._frames)
        start = 0
        for i, f in enumerate(frames):
            if f.mono > mono:
                break
            if f.keyframe:
                start = i
        return frames[start:]

    def subscribe(self, listener: Callable[[EncodedFrame], None]) -> list[EncodedFrame]:
        """Atomically: the frames held now, and every later frame to `listener`."""
        with self._lock:
            self._listeners.append(listener)
            return list(self._frames)

    def unsubscribe(self, listener: Callable[[EncodedFrame], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def span_s(self) -> float:
        with self._lock:
            return self._frames[-1].mono - self._frames[0].mono if self._frames else 0.0
