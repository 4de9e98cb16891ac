"""The node runtime: pull the newest frame, run the pipeline stages, report the rate."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

from .capture import FrameSource, SourceState
from .config import Profile
from .detect import DetectionStage
from .pipeline import Pipeline
from .rules import JsonlSink, LifecycleEvent

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
    """Runs the pipeline on each newest frame and hands lifecycle events to the sink and actions."""

    def __init__(self, profile: Profile, source: FrameSource, detect: DetectionStage | None = None,
                 sink: JsonlSink | None = None, report_interval_s: float = 1.0):
        self.profile = profile
        self.source = source
        self.detect = detect
        self.pipeline = Pipeline(profile, detect)
        self.sink = sink
        self.report_interval_s = report_interval_s
        self._seen: Counter[str] = Counter()
        self._runs_at_report = 0
        self._frames_at_report = 0

    def run(self, stop: threading.Event, *, duration_s: float | None = None,
            max_frames: int | None = None) -> RunSummary:
        source = self.source
        meter = RateMeter(self.report_interval_s)
        started = time.monotonic()
        last_report = started
        frames = 0
        stopped = False
        last_wall = 0.0
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
            result = self.pipeline.process(frame)
            if result.detections is not None and result.detections.coverage != ():
                self._seen = Counter(result.detections.names)  # what the detector saw when it last looked
            for event in result.events:
                self._handle(event)
            last_wall = frame.wall
            rate = meter.tick()
            if rate is not None:
                self._report(rate)
                last_report = now
            if max_frames is not None and frames >= max_frames:
                stopped = True
                break
        if frames:
            for event in self.pipeline.close(last_wall):
                self._handle(event)
        seconds = time.monotonic() - started
        return RunSummary(frames, seconds, source.state, source.error, stopped)

    def _handle(self, event: LifecycleEvent) -> None:
        m = event.message
        objects = ", ".join(f"{o['class']}#{o['track']}" for o in m["objects"])
        log.warning("%s %s: %s in %s (%s) [%s]%s", m["stage"].upper(), m["id"], m["kind"], m["zone"], objects,
                    m["rule"], " - loudspeaker warning" if event.speak else "")
        if self.sink is not None:
            self.sink.write(event)

    def _report(self, rate: float) -> None:
        s = self.source.stats
        parts = [f"fps {rate:.1f}"]
        if self.detect is not None:
            d = self.detect.stats
            runs, self._runs_at_report = d.detector_runs - self._runs_at_report, d.detector_runs
            seen = ", ".join(f"{n} {c}" for c, n in sorted(self._seen.items())) or "nothing"
            parts.append(f"detect {runs}/{d.frames - self._frames_at_report} frames, {d.inference_ms:.0f} ms | {seen}")
            self._frames_at_report = d.frames
        parts.append(f"source {self.source.state.value} | frames {s.captured} | dropped {s.dropped} "
                     f"| reconnects {s.reconnects}")
        log.info(" | ".join(parts))
