"""The detection stage of the node pipeline: Frame in, Detections (in frame pixels) out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..capture import Frame
from .detections import Detections
from .detector import Detector
from .gate import DetectionGate, GateTrack, Plan, merge_regions, square_region
from .motion import MotionDetector
from .tiles import tile_regions


@dataclass
class DetectStats:
    frames: int = 0
    detector_runs: int = 0  # frames on which the model ran at all
    inferences: int = 0  # model invocations (one per region)
    inference_ms: float = 0.0  # of the latest frame that ran the model
    reasons: dict[str, int] = field(default_factory=dict)


class DetectionStage:
    def __init__(self, detector: Detector, gate_config=None, tiles=None):
        self.detector = detector
        self.gate_config = gate_config
        self.tiles = tiles if tiles is not None and tiles.enabled else None  # TilesConfig: whole looks in tiles
        self._gate: DetectionGate | None = None
        self._gate_size: tuple[int, int] | None = None
        self.stats = DetectStats()
        self.last_plan: Plan | None = None
        self._last_tiled: float | None = None

    def _gate_for(self, size: tuple[int, int]) -> DetectionGate:
        if self._gate is None or self._gate_size != size:
            cfg = self.gate_config
            if cfg is None:
                self._gate = DetectionGate(size, self.detector.input_size)
            else:
                motion = MotionDetector(size, frame_height=cfg.frame_height, threshold=cfg.threshold,
                                        contour_area=cfg.contour_area, lightning_threshold=cfg.lightning_threshold,
                                        history=cfg.history, mask=cfg.mask)
                self._gate = DetectionGate(size, self.detector.input_size, enabled=cfg.enabled,
                                           recheck_s=cfg.recheck_s, stationary_interval_s=cfg.stationary_interval_s,
                                           max_regions=cfg.max_regions, motion=motion)
            self._gate_size = size
        return self._gate

    def _tiled_plan(self, size: tuple[int, int], now: float, tracks: Sequence[GateTrack]):
        """Every `interval_s` the whole picture in tiles; between, squares around the live tracks
        (what the tracker needs to keep them), or nothing."""
        side = self.tiles.side or max(self.detector.input_size)
        if self._last_tiled is None or now - self._last_tiled >= self.tiles.interval_s:
            self._last_tiled = now
            return tile_regions(size, side, self.tiles.overlap), True
        squares = [square_region(t.box, size, side) for t in tracks]
        return merge_regions(squares, size, side) if squares else [], False

    def process(self, frame: Frame, tracks: Sequence[GateTrack] = ()) -> Detections:
        image = frame.detect_image
        h, w = image.shape[:2]
        sx, sy = frame.image.shape[1] / w, frame.image.shape[0] / h
        if sx != 1.0 or sy != 1.0:  # tracks live in main-stream pixels; the gate sees the lores picture
            tracks = [GateTrack(t.id, (t.box[0] / sx, t.box[1] / sy, t.box[2] / sx, t.box[3] / sy), t.stationary)
                      for t in tracks]
        plan = self._gate_for((w, h)).plan(image, frame.mono, tracks)
        self.last_plan = plan
        self.stats.frames += 1
        self.stats.reasons[plan.reason] = self.stats.reasons.get(plan.reason, 0) + 1
        if not plan.runs_detector:
            return Detections.empty(self.detector.classes, coverage=()).scaled(sx, sy)
        regions, tiled = plan.regions, False
        if regions is None and self.tiles is not None:
            regions, tiled = self._tiled_plan((w, h), frame.mono, tracks)
            if not regions:
                return Detections.empty(self.detector.classes, coverage=()).scaled(sx, sy)
        started = time.perf_counter()
        detections = self.detector.detect(image, regions)
        if tiled:  # the tiles cover the whole picture: a whole look for the tracker
            detections = Detections(detections.boxes, detections.scores, detections.class_ids, detections.classes)
        self.stats.detector_runs += 1
        self.stats.inferences += 1 if regions is None else len(regions)
        self.stats.inference_ms = (time.perf_counter() - started) * 1000
        return detections.scaled(sx, sy)
