"""The frame-source interface: a capture thread and a one-frame mailbox.

Cameras produce frames at their own pace.  The pipeline must always see the newest one, so the
mailbox holds a single frame and a new frame replaces an unread one (counted as dropped): a slow
consumer never builds a queue.  Recorded material (files, the simulator) can instead be read in
lock-step, every frame, as fast as the consumer goes.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .frame import Frame

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source that cannot deliver.  `transient` errors (a camera that went away) are retried."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class SourceState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"  # a file or scenario reached its end
    FAILED = "failed"  # cannot continue; `error` says why
    STOPPED = "stopped"


@dataclass
class SourceStats:
    captured: int = 0
    delivered: int = 0
    dropped: int = 0
    reconnects: int = 0


@dataclass(frozen=True)
class Capture:
    """What a source's grab returns; timestamps default to the moment of capture."""

    image: np.ndarray
    lores: np.ndarray | None = None
    mono: float | None = None
    wall: float | None = None


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Exponential with jitter, so a fleet of boxes does not reconnect in step."""
        base = min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1))
        return base * random.uniform(0.5, 1.0)


class FrameMailbox:
    """Holds at most one frame.  put() replaces an unread frame, or waits for it to be read."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame, *, wait: bool, stop: threading.Event) -> None:
        with self._cond:
            if wait:
                while self._frame is not None and not self._closed and not stop.is_set():
                    self._cond.wait(0.1)
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def get(self, timeout: float | None) -> Frame | None:
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def empty(self) -> bool:
        with self._cond:
            return self._frame is None


class FrameSource:
    """Base of every source.  Subclasses implement _open, _grab and _close (and may add _preflight).

    `live` sources (cameras, streams) reconnect with backoff when they fail; recorded ones end.
    `realtime` sources pace themselves like a camera; otherwise they wait for each frame to be read.
    """

    live = True

    def __init__(self, name: str, *, realtime: bool = True, backoff: Backoff | None = None,
                 on_state: Callable[[SourceState, str | None], None] | None = None):
        self.name = name
        self.realtime = realtime
        self.backoff = backoff or Backoff()
        self.on_state = on_state
        self.stats = SourceStats()
        self.state = SourceState.CONNECTING
        self.error: str | None = None
        self._mailbox = FrameMailbox()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._state_lock = threading.Lock()
        # Called on the capture thread with every captured frame, before the mailbox drops any
        # (the evidence encoder).  They must be quick and must not raise.
        self.taps: list[Callable[[Frame], None]] = []

    # --- interface -------------------------------------------------------------------------
    def feed_telemetry(self, callback: Callable[[object], None]) -> bool:
        """Ask for the source's own camera poses (a simulated drone's telemetry samples, each handed
        over before its frame); False when the source has none (every real camera)."""
        return False

    def start(self) -> FrameSource:
        """Check what can be checked at once (raises SourceError), then capture on a thread."""
        self._preflight()
        self._thread = threading.Thread(target=self._run, name=f"capture:{self.name}", daemon=True)
        self._thread.start()
        return self

    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet read; None on timeout or when the source is done."""
        frame = self._mailbox.get(timeout)
        if frame is not None:
            self.stats.delivered += 1
        return frame

    @property
    def done(self) -> bool:
        """True when no frame will ever come again."""
        return self._thread is not None and not self._thread.is_alive() and self._mailbox.empty

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._mailbox.close()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.state not in (SourceState.ENDED, SourceState.FAILED):
            self._set_state(SourceState.STOPPED)

    def wait_state(self, states: set[SourceState], timeout: float) -> bool:
        """Wait until the source is in one of `states` (for start-up and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state in states:
                return True
            time.sleep(0.02)
        return self.state in states

    def __enter__(self) -> FrameSource:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- for subclasses ----------------------------------------------------------------------
    def _preflight(self) -> None:
        """Fail fast on what cannot work at all (missing file, missing module)."""

    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> Capture | None:
        """The next picture; None at the end of recorded material; SourceError on failure."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release the device; must be safe to call after a failed open."""

    def _sleep_until(self, due_mono: float) -> bool:
        """Pacing helper: False if the source was stopped while waiting."""
        delay = due_mono - time.monotonic()
        return not (delay > 0 and self._stop.wait(delay))

    # --- the capture loop -----------------------------------------------------------------------
    def _set_state(self, state: SourceState, error: str | None = None) -> None:
        with self._state_lock:
            if state == self.state and error == self.error:
                return
            self.state = state
            self.error = error
        if error:
            log.warning("source %s: %s (%s)", self.name, state.value, error)
        else:
            log.info("source %s: %s", self.name, state.value)
        if self.on_state is not None:
            self.on_state(state, error)

    def _publish(self, capture: Capture) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        self._seq += 1
        frame = Frame(
            image=capture.image,
            seq=self._seq,
            mono=capture.mono if capture.mono is not None else now_mono,
            wall=capture.wall if capture.wall is not None else now_wall,
            lores=capture.lores,
        )
        self.stats.captured += 1
        for tap in self.taps:
            try:
                tap(frame)
            except Exception:
                log.exception("source %s: a frame tap failed", self.name)
        self._mailbox.put(frame, wait=not self.realtime, stop=self._stop)
        self.stats.dropped = self._mailbox.dropped

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                try:
                    self._open()
                except SourceError as exc:
                    self._close()
                    if not (self.live and exc.transient):
                        self._set_state(SourceState.FAILED, str(exc))
                        return
                    attempt += 1
                    self._retry_after(attempt, str(exc))
                    continue
                self._set_state(SourceState.STREAMING)
                ended, error, delivered = self._stream()
                if delivered:  # only a stream that really flowed resets the backoff
                    attempt = 0
                self._close()
                if self._stop.is_set():
                    return
                if ended:
                    self._set_state(SourceState.ENDED)
                    return
                if not self.live:
                    self._set_state(SourceState.FAILED, error)
                    return
                attempt += 1
                self._retry_after(attempt, error)
        except Exception as exc:  # a bug or a driver crash: report it, never die silently
            log.exception("source %s crashed", self.name)
            self._set_state(SourceState.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            self._mailbox.close()

    def _stream(self) -> tuple[bool, str | None, bool]:
        """Grab until the end, a failure or stop; returns (ended normally, error, any frame grabbed)."""
        delivered = False
        while not self._stop.is_set():
            try:
                capture = self._grab()
            except SourceError as exc:
                return False, str(exc), delivered
            if capture is None:
                return True, None, delivered
            self._publish(capture)
            delivered = True
        return False, None, delivered

    def _retry_after(self, attempt: int, error: str | None) -> None:
        delay = self.backoff.delay(attempt)
        self.stats.reconnects += 1
        self._set_state(SourceState.RECONNECTING, f"{error}; retrying in {delay:.1f} s")
        self._stop.wait(delay)
