"""The drone's flight: the true camera pose at any time, and the telemetry it reports (true + noise).

Keyframes are interpolated linearly (heading the short way round); before the first keyframe and after
the last the drone hovers there.  Telemetry noise is a smooth random process (seeded knots every
`correlation_s`, blended with a smoothstep), so GPS and attitude errors wander like real ones instead of
jumping per sample, and any time can be evaluated on its own (random access, any sample rate).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from edge.geo import CameraPose, LocalFrame
from simulator.actors.base import stable_rng


def lerp_angle(a: float, b: float, f: float) -> float:
    d = ((b - a + 180.0) % 360.0) - 180.0
    return (a + f * d) % 360.0


@dataclass(frozen=True)
class FlightState:
    """Where the drone is (local metres and lat/lon) and where its camera points."""

    t: float
    east: float
    north: float
    lat: float
    lon: float
    altitude_m: float
    heading_deg: float
    pitch_deg: float
    v_east: float = 0.0
    v_north: float = 0.0
    v_up: float = 0.0


class Flight:
    def __init__(self, scenario, seed: int):
        d = scenario.drone
        self.frame: LocalFrame = scenario.frame
        self.hfov_deg = d.hfov_deg
        self.noise = d.noise
        self.seed = seed
        self.start_wall = scenario.start.timestamp()
        self.elevation_m = scenario.world.elevation_m
        self.t = [k[0] for k in d.path]
        self.keys = [(*self.frame.to_enu(lat, lon), alt, heading % 360.0, pitch)
                     for _t, lat, lon, alt, heading, pitch in d.path]

    def _seg(self, t: float) -> tuple[int, float]:
        if len(self.t) == 1 or t <= self.t[0]:
            return 0, 0.0
        if t >= self.t[-1]:
            return len(self.t) - 2, 1.0
        i = bisect.bisect_right(self.t, t) - 1
        return i, (t - self.t[i]) / (self.t[i + 1] - self.t[i])

    def state(self, t: float) -> FlightState:
        """The true state at scene time t."""
        i, f = self._seg(t)
        a = self.keys[i]
        b = self.keys[min(i + 1, len(self.keys) - 1)]
        e, n, alt = (a[k] + f * (b[k] - a[k]) for k in range(3))
        heading = lerp_angle(a[3], b[3], f)
        pitch = a[4] + f * (b[4] - a[4])
        moving = len(self.t) > 1 and self.t[0] < t < self.t[-1]
        dt = self.t[i + 1] - self.t[i] if moving else 1.0
        ve, vn, vu = ((b[k] - a[k]) / dt if moving else 0.0 for k in range(3))
        lat, lon = self.frame.to_latlon(e, n)
        return FlightState(t, e, n, lat, lon, alt, heading, pitch, ve, vn, vu)

    def pose(self, t: float, size: tuple[int, int]) -> CameraPose:
        """The exact camera pose the frame at t is rendered from."""
        s = self.state(t)
        return CameraPose(s.east, s.north, s.altitude_m, s.heading_deg, s.pitch_deg, self.hfov_deg, *size)

    # ------------------------------------------------------------ telemetry

    def _knot(self, k: int) -> np.ndarray:
        return stable_rng(self.seed, "telemetry", k).standard_normal(5)

    def error(self, t: float) -> np.ndarray:
        """Telemetry error at t: east, north, altitude (m), heading, pitch (deg)."""
        n = self.noise
        x = t / n.correlation_s
        k = math.floor(x)
        f = x - k
        f = f * f * (3 - 2 * f)
        z = (1 - f) * self._knot(k) + f * self._knot(k + 1)
        return z * np.array([n.gps_sigma_m, n.gps_sigma_m, n.altitude_sigma_m, n.heading_sigma_deg,
                             n.pitch_sigma_deg])

    def reported(self, t: float) -> FlightState:
        """What the drone reports at t: the true state plus the telemetry error."""
        s = self.state(t)
        de, dn, da, dh, dp = self.error(t)
        e, n = s.east + de, s.north + dn
        lat, lon = self.frame.to_latlon(e, n)
        return FlightState(t, e, n, lat, lon, max(s.altitude_m + da, 0.0), (s.heading_deg + dh) % 360.0,
                           min(max(s.pitch_deg + dp, -90.0), 0.0), s.v_east, s.v_north, s.v_up)

    def sample(self, t: float, wall0: float | None = None) -> dict:
        """One telemetry sample as written to telemetry.jsonl and sent over MAVLink (noisy)."""
        s = self.reported(t)
        return {"t": round(t, 4), "wall": round((self.start_wall if wall0 is None else wall0) + t, 3),
                "lat": round(float(s.lat), 8), "lon": round(float(s.lon), 8),
                "altitude_m": round(float(s.altitude_m), 3), "heading_deg": round(float(s.heading_deg), 3),
                "gimbal_pitch_deg": round(float(s.pitch_deg), 3), "hfov_deg": self.hfov_deg}
