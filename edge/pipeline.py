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
from .detect.tiles import plausible
from .geo import LocalFrame, Locator, frame_to_frame
from .rules import LifecycleEvent, RuleEngine
from .rules.kinds import holder_reach
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
    return DetectionStage(detector, cfg.motion, cfg.tiles)


@dataclass
class FrameResult:
    detections: Detections | None
    tracks: list[Track] = field(default_factory=list)
    events: list[LifecycleEvent] = field(default_factory=list)


def tracker_for(profile: Profile) -> Tracker:
    t = profile.track
    return Tracker(TrackerConfig(high_score=t.high_score, low_score=t.low_score, match_iou=t.match_iou,
                                 confirm_hits=t.confirm_hits, max_lost_s=t.max_lost_s,
                                 occlusion_hold_s=t.occlusion_hold_s,
                                 stationary_window_s=t.stationary_window_s,
                                 stationary_tolerance=t.stationary_tolerance))


class Pipeline:
    def __init__(self, profile: Profile, detect: DetectionStage | None, poses=None):
        self.profile = profile
        self.detect = detect
        self.tracker = tracker_for(profile)
        self.rules = RuleEngine(profile, __version__)
        self.poses = poses  # PoseTrack of a moving camera, or None
        self.locator = None
        self._last_camera = None
        self.pose_missing = False  # the last frame had no camera pose close enough in time
        self._size = (1, 1)

    def process(self, frame: Frame) -> FrameResult:
        if self.detect is None:
            return FrameResult(None)
        gate_tracks = [GateTrack(t.id, t.box, t.stationary and t.visible) for t in self.tracker.tracks]
        detections = self.detect.process(frame, gate_tracks)
        camera, warp = self._camera(frame)
        tiles = self.profile.detect.tiles
        if camera is not None and tiles is not None and tiles.ground_check:
            detections = plausible(detections, camera)  # no 10 m "rods" from a path's edge
        tracks = self.tracker.update(detections, frame.mono, warp)
        self._size = frame.size
        ground = None if camera is None else self._ground(tracks, camera)
        events = self.rules.update(tracks, frame.mono, frame.wall, frame.size, ground, image=frame.image)
        return FrameResult(detections, tracks, events)

    def _camera(self, frame: Frame):
        """The camera's pose at this frame (a drone with telemetry), and the image warp since the last one."""
        if self.poses is None:
            return None, None
        cfg = self.profile.telemetry
        pose = self.poses.at(frame.wall - cfg.frame_delay_s, cfg.max_age_s)
        self.pose_missing = pose is None
        if pose is None:
            self._last_camera = None
            return None, None
        if self.locator is None:
            frame_of_reference = self.rules.frame or LocalFrame(pose.lat, pose.lon)
            self.locator = Locator(frame_of_reference, cfg.hfov_deg, gps_sigma_m=cfg.gps_sigma_m,
                                   altitude_sigma_m=cfg.altitude_sigma_m, attitude_sigma_deg=cfg.attitude_sigma_deg)
        camera = self.locator.camera(pose, frame.size)
        warp = None if self._last_camera is None else frame_to_frame(self._last_camera, camera)
        self._last_camera = camera
        return camera, warp

    def _ground(self, tracks: list[Track], camera) -> dict:
        """Where each track stands (bottom of its box) and where a holder of it could stand."""
        ground = {}
        for t in tracks:
            x1, _, x2, y2 = t.box
            rx1, _, rx2, ry2 = holder_reach(t.box)
            ground[t.id] = (self.locator.locate(camera, (x1 + x2) / 2, y2),
                            self.locator.locate(camera, (rx1 + rx2) / 2, ry2))
        return ground

    def close(self, wall: float, reason: str = "shutdown") -> list[LifecycleEvent]:
        return self.rules.close(wall, reason)
