"""The node's per-frame pipeline: Frame -> Detections -> Tracks -> lifecycle events.

Shared by `edge-node run` (live, newest frame only) and `edge-sim score` (every frame of a
scenario, faster than real time), so what is scored is what runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import __version__
from .capture import Frame
from .config import Profile
from .detect import Detections, DetectionStage, GateTrack
from .rules import LifecycleEvent, RuleEngine
from .track import Track, Tracker, TrackerConfig

log = logging.getLogger("edge.node")


def build_detection(profile: Profile, threads: int | None = None) -> DetectionStage | None:
    """The detection stage the profile asks for, or None; a bad model raises ModelError now, not mid-run."""
    from .detect import Detector

    cfg = profile.detect
    if cfg.model is None:
        return None
    detector = Detector(profile.resolve(cfg.model), classes=cfg.classes, class_map=cfg.class_map,
                        score_threshold=cfg.score_threshold, iou_threshold=cfg.iou_threshold,
                        threads=threads or cfg.threads)
    log.info("model %s (%s, %dx%d, %s)", detector.model.manifest.name, detector.model.path, *detector.input_size,
             detector.layout)
    return DetectionStage(detector, cfg.motion)


@dataclass
class FrameResult:
    detections: Detections | None
    tracks: list[Track] = field(default_factory=list)
    events: list[LifecycleEvent] = field(default_factory=list)


def tracker_for(profile: Profile) -> Tracker:
    t = profile.track
    return Tracker(TrackerConfig(high_score=t.high_score, low_score=t.low_score, match_iou=t.match_iou,
                                 confirm_hits=t.confirm_hits, max_lost_s=t.max_lost_s,
                                 stationary_window_s=t.stationary_window_s,
                                 stationary_tolerance=t.stationary_tolerance))


class Pipeline:
    def __init__(self, profile: Profile, detect: DetectionStage | None):
        self.profile = profile
        self.detect = detect
        self.tracker = tracker_for(profile)
        self.rules = RuleEngine(profile, __version__)
        self._size = (1, 1)

    def process(self, frame: Frame) -> FrameResult:
        if self.detect is None:
            return FrameResult(None)
        gate_tracks = [GateTrack(t.id, t.box, t.stationary and t.visible) for t in self.tracker.tracks]
        detections = self.detect.process(frame, gate_tracks)
        tracks = self.tracker.update(detections, frame.mono)
        self._size = frame.size
        events = self.rules.update(tracks, frame.mono, frame.wall, frame.size)
        return FrameResult(detections, tracks, events)

    def close(self, wall: float, reason: str = "shutdown") -> list[LifecycleEvent]:
        return self.rules.close(wall, reason)
