"""Cars, SUVs, vans and small trucks seen from the side, moving or parked; lights on at night."""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, shadow_alpha
from simulator.canvas import Canvas
from simulator.palette import VEHICLE, jitter, parse_color, pick, shade

# Body outlines: (u along the length from the rear, -0.5..0.5; v height in metres), front to the right.
_BODY = {
    "car": [(-0.5, 0.3), (-0.5, 0.78), (-0.47, 0.88), (-0.31, 0.93), (-0.2, 1.42), (0.1, 1.45), (0.27, 0.97),
            (0.46, 0.85), (0.5, 0.66), (0.5, 0.3)],
    "suv": [(-0.5, 0.32), (-0.5, 1.05), (-0.46, 1.7), (0.14, 1.72), (0.3, 1.12), (0.47, 1.0), (0.5, 0.75), (0.5, 0.32)],
    "van": [(-0.5, 0.32), (-0.5, 1.95), (0.3, 2.0), (0.44, 1.2), (0.5, 0.9), (0.5, 0.32)],
    "truck": [(-0.5, 0.45), (-0.5, 0.75), (0.22, 0.75), (0.22, 2.1), (0.4, 2.1), (0.46, 1.3), (0.5, 1.1), (0.5, 0.45)],
}
_WINDOWS = {
    "car": [[(-0.29, 0.97), (-0.195, 1.37), (-0.03, 1.39), (-0.03, 0.97)], [(0.0, 0.97), (0.0, 1.39), (0.085, 1.4), (0.235, 0.97)]],
    "suv": [[(-0.44, 1.12), (-0.42, 1.6), (-0.15, 1.62), (-0.15, 1.12)], [(-0.12, 1.12), (-0.12, 1.62), (0.12, 1.64), (0.12, 1.12)],
            [(0.15, 1.12), (0.15, 1.63), (0.27, 1.15)]],
    "van": [[(0.12, 1.25), (0.12, 1.85), (0.29, 1.88), (0.4, 1.25)], [(-0.4, 1.3), (-0.4, 1.82), (0.05, 1.85), (0.05, 1.3)]],
    "truck": [[(0.27, 1.35), (0.27, 1.95), (0.38, 1.95), (0.43, 1.35)]],
}
_LEN = {"car": (3.9, 4.8), "suv": (4.3, 4.9), "van": (4.6, 5.4), "truck": (5.2, 6.5)}
_CARGO = [(235, 235, 235), (170, 100, 30), (60, 120, 60), (200, 200, 200), (40, 130, 220)]


class Vehicle(Actor):
    kind = "vehicle"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        self.style = spec.style if spec.style != "auto" else str(
            rng.choice(["car", "suv", "van", "truck"], p=[0.55, 0.2, 0.15, 0.1]))
        self.color = parse_color(spec.color) if spec.color else jitter(rng, pick(rng, VEHICLE), 8)
        self.length = rng.uniform(*_LEN[self.style])
        self.hscale = rng.uniform(0.94, 1.06)
        self.cargo = pick(rng, _CARGO)
        self.default_f = 1 if rng.random() < 0.5 else -1
        self.driver = bool(rng.random() < 0.8)

    def _lights_on(self, moving: bool, lighting: str) -> bool:
        if self.spec.lights != "auto":
            return self.spec.lights == "on"
        return moving and lighting != "day"

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        f = {"left": -1, "right": 1}.get(self.spec.facing, self.path.heading(t, self.default_f))
        moving = self.path.moving(t)
        L, hs = self.length, self.hscale

        def P(u: float, v: float) -> tuple[float, float]:  # u in lengths, v in metres
            return x + u * L * ppm * f, y - v * hs * ppm

        sa = shadow_alpha(ctx.lighting)
        if sa:
            cv.shadow(x, y - 0.02 * ppm, 0.55 * L * ppm, 0.16 * ppm, sa * 1.4)
        style = self.style
        wr = 0.33 if style in ("car", "suv") else 0.38
        wheels = (-0.33, 0.33) if style != "truck" else (-0.3, 0.33)
        cv.begin("vehicle", self.id)
        if style == "truck":
            cv.rect(*P(-0.5, 2.35), *P(0.19, 0.72), self.cargo)
            cv.polyline([P(-0.5, 2.35), P(0.19, 2.35), P(0.19, 0.72), P(-0.5, 0.72)], shade(self.cargo, 0.7),
                        max(1.0, 0.04 * ppm), closed=True)
        body = [P(u, v) for u, v in _BODY[style]]
        cv.poly(body, self.color)
        for win in _WINDOWS[style]:
            pts = [P(u, v) for u, v in win]
            cv.poly(pts, (95, 78, 62))
            a, b = pts[0], pts[1]
            cv.line(((a[0] * 2 + pts[-1][0]) / 3, a[1] - (a[1] - b[1]) * 0.15),
                    ((b[0] * 2 + pts[2][0]) / 3, b[1] + (a[1] - b[1]) * 0.1), (150, 140, 130), max(1.0, 0.05 * ppm))
        if self.driver:
            du = {"car": 0.05, "suv": 0.05, "van": 0.22, "truck": 0.31}[style]
            dv = {"car": 1.17, "suv": 1.35, "van": 1.55, "truck": 1.62}[style]
            cv.circle(P(du, dv), 0.12 * ppm, (45, 40, 38))
        # sills, door cuts, handle, lights, bumpers
        cv.line(P(-0.48, 0.42), P(0.48, 0.42), shade(self.color, 0.6), max(1.0, 0.05 * ppm))
        for u in ((-0.03, 0.27) if style in ("car", "suv") else ((0.1,) if style == "van" else (0.26,))):
            cv.line(P(u, 0.45), P(u, 0.95 if style == "car" else 1.1), shade(self.color, 0.65), 1)
        cv.rect(*P(0.485, 0.8), *P(0.5, 0.68), (190, 230, 240))
        cv.rect(*P(-0.5, 0.85), *P(-0.485, 0.7), (40, 40, 200))
        for u in (-0.5, 0.5):
            cv.rect(*P(u - 0.012 * (1 if u > 0 else -1), 0.5), *P(u, 0.3), (40, 40, 40))
        for wu in wheels:
            c = P(wu, wr)
            cv.ellipse((c[0], c[1]), (wr * 1.15 * ppm, wr * 1.15 * hs * ppm), (30, 30, 30), a0=180, a1=360)
        for wu in wheels:
            self._wheel(cv, P(wu, wr), wr * ppm, t)
        cv.end()
        if self._lights_on(moving, ctx.lighting):
            head = P(0.5, 0.74)
            tail = P(-0.5, 0.78)
            cv.glow(head[0] + f * 0.04 * L * ppm, head[1], 0.6 * ppm, (220, 235, 245), 1.3)
            cv.glow(tail[0], tail[1], 0.25 * ppm, (60, 60, 200) if ctx.lighting != "night" else (120, 120, 120), 1.0)

    def _wheel(self, cv, c, R, t) -> None:
        cv.circle(c, R, (28, 28, 28))
        cv.circle(c, R * 0.62, (175, 175, 172))
        cv.circle(c, R * 0.5, (120, 120, 118))
        a = self.path.metres(t) / 0.33
        for i in range(5):
            q = a + i * 2 * math.pi / 5
            cv.line(c, (c[0] + R * 0.5 * math.cos(q), c[1] + R * 0.5 * math.sin(q)), (185, 185, 182), max(1.0, R * 0.12))
        cv.circle(c, R * 0.15, (90, 90, 90))
