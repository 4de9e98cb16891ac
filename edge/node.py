"""The node runtime: pull the newest frame, run the pipeline stages, report the rate."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .capture import FrameSource, SourceState
from .config import Profile

log = logging.getLogger("edge.node")


@dataclass
class RunSummary:
    frames: int
    seconds: float
    final_state: SourceState
    error: str | None
    stopped: bool  # by a signal, --duration or --max-frames rather than the source ending

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class RateMeter:
    """Frames per second over the last reporting interval."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s = interval_s
        self._count = 0
        self._since = time.monotonic()

    def tick(self) -> float | None:
        """Count a frame; return the rate when an interval has passed."""
        self._count += 1
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < self.interval_s:
            return None
        rate = self._count / elapsed
        self._count, self._since = 0, now
        return rate


class Node:
    def __init__(self, profile: Profile, source: FrameSource, report_interval_s: float = 1.0):
        self.profile = profile
        self.source = source
        self.report_interval_s = report_interval_s

    def run(self, stop: threading.Event, *, duration_s: float | None = None,
            max_frames: int | None = None) -> RunSummary:
        source = self.source
        meter = RateMeter(self.report_interval_s)
        started = time.monotonic()
        last_report = started
        frames = 0
        stopped = False
        while True:
            if stop.is_set() or (duration_s is not None and time.monotonic() - started >= duration_s):
                stopped = True
                break
            frame = source.read(timeout=0.25)
            now = time.monotonic()
            if frame is None:
                if source.done:
                    break
                if now - last_report >= self.report_interval_s:  # say so when nothing arrives
                    self._report(0.0)
                    last_report = now
                continue
            frames += 1
            rate = meter.tick()
            if rate is not None:
                self._report(rate)
                last_report = now
            if max_frames is not None and frames >= max_frames:
                stopped = True
                break
        seconds = time.monotonic() - started
        return RunSummary(frames, seconds, source.state, source.error, stopped)

    def _report(self, rate: float) -> None:
        s = self.source.stats
        log.info("fps %.1f | source %s | frames %d | dropped %d | reconnects %d",
                 rate, self.source.state.value, s.captured, s.dropped, s.reconnects)
