"""Keyframe paths: position, speed, facing and gait phase at any time, computed without history.

Everything here is a pure function of t, so frame i renders the same whether or not frames < i were.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np


class Keyframed:
    """Keyframe times `t`, a lifetime [t0, t1] and the metres covered at each keyframe `m`: which
    segment an instant falls in, how far the path has come and how fast it goes."""

    t: list[float]
    t0: float
    t1: float
    m: list[float]

    def alive(self, t: float) -> bool:
        return self.t0 <= t <= self.t1

    def _seg(self, t: float) -> int:
        """Index of the segment [t_i, t_i+1] containing t (the later one at a keyframe), -1 if none."""
        if len(self.t) < 2 or t < self.t0 or t > self.t[-1]:
            return -1
        return min(bisect.bisect_right(self.t, t) - 1, len(self.t) - 2)

    def speed_mps(self, t: float) -> float:
        i = self._seg(t)
        if i < 0:
            return 0.0
        return (self.m[i + 1] - self.m[i]) / (self.t[i + 1] - self.t[i])

    def metres(self, t: float) -> float:
        i = self._seg(t)
        if i < 0:
            return self.m[0] if t < self.t0 else self.m[-1]
        f = (t - self.t[i]) / (self.t[i + 1] - self.t[i])
        return self.m[i] + f * (self.m[i + 1] - self.m[i])


class Path(Keyframed):
    """Piecewise-linear path of an actor's bottom-centre in relative image coordinates."""

    def __init__(self, keys: list[tuple[float, float, float]], duration_s: float, size: tuple[int, int],
                 px_per_m: Callable[[float], float]):
        self.t = [float(k[0]) for k in keys]
        self.x = [float(k[1]) for k in keys]
        self.y = [float(k[2]) for k in keys]
        self.t0 = self.t[0]
        self.t1 = self.t[-1] if len(keys) > 1 else float(duration_s)
        w, h = size
        # Metres travelled at each keyframe (pixel length over the local scale): drives gait and wheels.
        self.m = [0.0]
        self.vx_px: list[float] = []
        self.vy_px: list[float] = []
        for i in range(1, len(keys)):
            dx = (self.x[i] - self.x[i - 1]) * w
            dy = (self.y[i] - self.y[i - 1]) * h
            ppm = max(px_per_m(0.5 * (self.y[i] + self.y[i - 1])), 1e-3)
            # Depth motion (dy) covers more ground per pixel than sideways motion: weight it up.
            self.m.append(self.m[-1] + float(np.hypot(dx, dy * 2.5)) / ppm)
            dt = self.t[i] - self.t[i - 1]
            self.vx_px.append(dx / dt)
            self.vy_px.append(dy / dt)
        self._ppm = px_per_m


    def at(self, t: float) -> tuple[float, float]:
        i = self._seg(t)
        if i < 0:
            j = 0 if t < self.t0 or len(self.t) == 1 else len(self.t) - 1
            return self.x[j], self.y[j]
        f = (t - self.t[i]) / (self.t[i + 1] - self.t[i])
        return self.x[i] + f * (self.x[i + 1] - self.x[i]), self.y[i] + f * (self.y[i + 1] - self.y[i])

    def velocity_px(self, t: float) -> tuple[float, float]:
        i = self._seg(t)
        return (self.vx_px[i], self.vy_px[i]) if i >= 0 else (0.0, 0.0)

    def moving(self, t: float) -> bool:
        return self.speed_mps(t) > 0.05

    def heading(self, t: float, default: int) -> int:
        """+1 facing right, -1 left: the current horizontal motion, else the last one, else the next."""
        i = self._seg(t)
        if i >= 0 and abs(self.vx_px[i]) > 1.0:
            return 1 if self.vx_px[i] > 0 else -1
        n = len(self.vx_px)
        start = i if i >= 0 else (n if t > self.t0 else 0)
        for j in range(min(start, n) - 1, -1, -1):
            if abs(self.vx_px[j]) > 1.0:
                return 1 if self.vx_px[j] > 0 else -1
        for j in range(max(start, 0), n):
            if abs(self.vx_px[j]) > 1.0:
                return 1 if self.vx_px[j] > 0 else -1
        return default


def in_intervals(t: float, intervals: list[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in intervals)
