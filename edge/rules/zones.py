"""Zones: which tracked objects are inside, decided by an anchor point, with inertia.

Zone polygons are in relative coordinates, so one profile fits any resolution; they are turned into
pixels for the picture size in use.  An object's membership changes only after `inertia_frames`
consecutive observations say so: a box that flickers on the border does not toggle it.  An object
seen only on sparse looks (more than `SPARSE_S` between observations, e.g. one that the gate's crops
miss) changes at its first observation: flicker is a frame-to-frame matter.  Each membership
remembers since when it holds (from the first observation of the streak that made it), so a
violation's dwell starts when the object came, not when inertia and track confirmation caught up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..config.zones import ZoneConfig

SPARSE_S = 1.0


@dataclass
class Zone:
    config: ZoneConfig
    armed: bool = True
    geo: np.ndarray | None = None  # the geofence in local east/north metres (a moving camera)
    _size: tuple[int, int] | None = None
    _poly: np.ndarray | None = None
    _mask: np.ndarray | None = None
    _mask_scale: float = 0.125
    # (track, as_gear) -> (inside, streak, last observation, streak start, inside since)
    _state: dict[tuple[int, bool], tuple] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ZoneConfig, frame=None) -> Zone:
        zone = cls(config, armed=config.armed)
        if config.geo_polygon is not None:
            if frame is None:
                raise ValueError(f"zone {config.name}: a geofence needs a local frame")
            zone.geo = np.array([frame.to_enu(lat, lon) for lat, lon in config.geo_polygon], np.float32)
        return zone

    def contains_ground(self, east: float, north: float) -> bool:
        return cv2.pointPolygonTest(self.geo, (float(east), float(north)), False) >= 0

    @property
    def name(self) -> str:
        return self.config.name

    def _prepare(self, size: tuple[int, int]) -> None:
        if self._size == size:
            return
        w, h = size
        self._size = size
        self._poly = (np.array(self.config.polygon, np.float32) * [w, h]).astype(np.float32)
        mw, mh = max(1, round(w * self._mask_scale)), max(1, round(h * self._mask_scale))
        self._mask = np.zeros((mh, mw), np.uint8)
        cv2.fillPoly(self._mask, [np.round(self._poly * self._mask_scale).astype(np.int32)], 1)

    def accepts(self, cls: str, box, size: tuple[int, int]) -> bool:
        """Class filter and size limits."""
        if self.config.classes and cls not in self.config.classes:
            return False
        area = max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]) / (size[0] * size[1])
        return self.config.min_area <= area <= self.config.max_area

    def contains(self, box, size: tuple[int, int], anchor: str | None = None) -> bool:
        """Is this box inside the zone right now (no inertia)?"""
        self._prepare(size)
        anchor = anchor or self.config.anchor
        x1, y1, x2, y2 = box
        if anchor == "any":
            s = self._mask_scale
            mh, mw = self._mask.shape
            ax1, ay1 = max(0, int(x1 * s)), max(0, int(y1 * s))
            ax2, ay2 = min(mw, int(np.ceil(x2 * s))), min(mh, int(np.ceil(y2 * s)))
            return ax2 > ax1 and ay2 > ay1 and bool(self._mask[ay1:ay2, ax1:ax2].any())
        point = ((x1 + x2) / 2, y2) if anchor == "bottom_center" else ((x1 + x2) / 2, (y1 + y2) / 2)
        return cv2.pointPolygonTest(self._poly, (float(point[0]), float(point[1])), False) >= 0

    def observe(self, key: tuple[int, bool], inside_now: bool, now: float | None = None,
                first_seen: float | None = None) -> bool:
        """Feed one observation of (track id, as-gear mode); return its membership after inertia.
        `now`: the observation's time; `first_seen`: when the track began (a new key's streak
        starts there)."""
        new = key not in self._state
        inside, streak, last, start, since = self._state.get(key, (False, 0, None, None, None))
        if inside_now == inside:
            streak, start = 0, None
        else:
            if streak == 0:
                start = first_seen if new and first_seen is not None else now
            streak += 1
            sparse = now is not None and last is not None and now - last >= SPARSE_S
            if streak >= self.config.inertia_frames or sparse:
                inside, streak, since = inside_now, 0, start
        self._state[key] = (inside, streak, now, start, since)
        return inside

    def membership(self, key: tuple[int, bool]) -> bool:
        return self._state.get(key, (False,))[0]

    def inside_since(self, key: tuple[int, bool]) -> float | None:
        """Since when the key has been inside (None when not inside or not known)."""
        state = self._state.get(key)
        return state[4] if state is not None and state[0] else None

    def forget(self, live_ids: set[int]) -> None:
        self._state = {k: v for k, v in self._state.items() if k[0] in live_ids}
