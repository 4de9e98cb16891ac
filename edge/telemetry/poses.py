"""Poses over time, and the pose at the moment a frame was captured.

Telemetry and video arrive separately and at different rates; each frame needs the camera pose at
its own capture time, so poses are kept in a short history and interpolated (heading the short way
round).  A frame with no pose close enough in time gets none: better no location than a wrong one.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Pose:
    wall: float  # Unix seconds of the sample
    lat: float
    lon: float
    altitude_m: float  # above the ground the camera looks at
    heading_deg: float
    pitch_deg: float  # gimbal pitch: 0 level, -90 straight down

    @classmethod
    def from_sample(cls, s: dict) -> Pose:
        """From a JSON-lines sample (the jsonl source, the simulator's telemetry.jsonl)."""
        return cls(float(s["wall"]), float(s["lat"]), float(s["lon"]), float(s["altitude_m"]),
                   float(s["heading_deg"]), float(s.get("gimbal_pitch_deg", -90.0)))


def _lerp_angle(a: float, b: float, f: float) -> float:
    d = ((b - a + 180.0) % 360.0) - 180.0
    return (a + f * d) % 360.0


class PoseTrack:
    """Poses kept from keep_s before the latest frame asked about onwards: live telemetry stays small,
    and a recorded flight (a JSON-lines file read ahead of its video) is kept until its frames come."""

    MAX_POSES = 200_000  # about 5.5 hours at 10 Hz; beyond it the oldest go first

    def __init__(self, keep_s: float = 30.0):
        self.keep_s = keep_s
        self._walls: list[float] = []
        self._poses: list[Pose] = []
        self._lock = threading.Lock()
        self._asked: float | None = None  # the latest frame time asked about
        self.received = 0

    def add(self, pose: Pose) -> None:
        with self._lock:
            i = bisect.bisect(self._walls, pose.wall)
            self._walls.insert(i, pose.wall)
            self._poses.insert(i, pose)
            self._trim()
            self.received += 1

    def _trim(self) -> None:
        cut = 0 if self._asked is None else bisect.bisect_left(self._walls, self._asked - self.keep_s)
        cut = max(cut, len(self._walls) - self.MAX_POSES)
        if cut > 0:
            del self._walls[:cut], self._poses[:cut]

    def at(self, wall: float, max_age_s: float) -> Pose | None:
        with self._lock:
            if self._asked is None or wall > self._asked:
                self._asked = wall
                self._trim()
            if not self._poses:
                return None
            i = bisect.bisect(self._walls, wall)
            if 0 < i < len(self._poses):
                a, b = self._poses[i - 1], self._poses[i]
                if b.wall - a.wall > 2 * max_age_s:
                    nearest = a if wall - a.wall < b.wall - wall else b
                    return nearest if abs(nearest.wall - wall) <= max_age_s else None
                f = (wall - a.wall) / (b.wall - a.wall) if b.wall > a.wall else 0.0
                return Pose(wall, a.lat + f * (b.lat - a.lat), a.lon + f * (b.lon - a.lon),
                            a.altitude_m + f * (b.altitude_m - a.altitude_m),
                            _lerp_angle(a.heading_deg, b.heading_deg, f), a.pitch_deg + f * (b.pitch_deg - a.pitch_deg))
            nearest = self._poses[0] if i == 0 else self._poses[-1]
            return nearest if abs(nearest.wall - wall) <= max_age_s else None
