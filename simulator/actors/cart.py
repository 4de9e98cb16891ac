"""Cargo tricycle seen from the side: one front wheel, two rear wheels under a cargo box, handlebar.

The rider is drawn with the cart but labelled separately as a `person` (`<id>.rider`), so a detector
learns that a person riding is still a person.  `rider = "moving"` leaves the saddle empty while the
cart stands (the rider got off; script that person as a separate actor if they should be seen).
"""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, shadow_alpha
from simulator.actors.figure import draw_figure, random_look
from simulator.canvas import Canvas
from simulator.palette import BRIGHT, jitter, parse_color, pick, shade

_BOX = [(170, 95, 30), (160, 90, 40), (60, 130, 60), (120, 120, 120), (40, 40, 170), (60, 110, 160),
        (200, 200, 200), (140, 130, 30)]


class Cart(Actor):
    kind = "cart"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        self.color = parse_color(spec.color) if spec.color else jitter(rng, pick(rng, _BOX), 12)
        self.frame = pick(rng, [(40, 40, 40), (150, 80, 30), (40, 40, 150), (60, 60, 60)])
        self.cargo = spec.cargo if spec.cargo != "auto" else str(
            rng.choice(["boxes", "sacks", "produce", "cylinders", "empty"], p=[0.35, 0.25, 0.15, 0.1, 0.15]))
        self.box_len = rng.uniform(1.2, 1.6)
        self.box_h = rng.uniform(0.3, 0.5)
        self.roof = spec.roof if spec.roof is not None else bool(rng.random() < 0.3)
        self.roof_col = pick(rng, [(170, 100, 30), (40, 40, 170), (40, 140, 230), (200, 200, 200)])
        self.rider = random_look(rng, hat_p=(0.45, 0.2, 0.15, 0.05, 0.15))
        self.load = [(rng.uniform(0.25, 0.45), rng.uniform(0.2, 0.4), pick(rng, BRIGHT)) for _ in range(6)]
        self.default_f = 1 if rng.random() < 0.5 else -1

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        f = {"left": -1, "right": 1}.get(self.spec.facing, self.path.heading(t, self.default_f))
        moving = self.path.moving(t)
        dist = self.path.metres(t)

        def P(u: float, v: float) -> tuple[float, float]:  # u forward from the cart's middle, v up (m)
            return x + u * ppm * f, y - v * ppm

        sa = shadow_alpha(ctx.lighting)
        if sa:
            cv.shadow(x, y, 1.3 * ppm, 0.12 * ppm, sa)
        L, bh = self.box_len, self.box_h
        rear_u, front_u, wr = -0.45, 1.0, 0.3
        b0, b1 = rear_u - L * 0.55, rear_u + L * 0.45
        cid = cv.begin("cart", self.id)
        self._wheel(cv, P, ppm, rear_u - 0.08, wr, dist, far=True)
        # cargo box: floor, sides, load
        cv.poly([P(b0, 0.62), P(b1, 0.62), P(b1 - 0.05, 0.62 + bh + 0.12), P(b0 + 0.05, 0.62 + bh + 0.12)],
                shade(self.color, 0.55))
        self._load(cv, P, ppm, b0, b1, 0.62 + bh)
        cv.poly([P(b0, 0.55), P(b1, 0.55), P(b1, 0.55 + bh), P(b0, 0.55 + bh)], self.color)
        cv.polyline([P(b0, 0.55 + bh), P(b1, 0.55 + bh)], shade(self.color, 1.3), max(1.0, 0.04 * ppm))
        for j in range(1, 4):
            u = b0 + j * (b1 - b0) / 4
            cv.line(P(u, 0.57), P(u, 0.53 + bh), shade(self.color, 0.75), max(1.0, 0.03 * ppm))
        # frame: rear axle to the crank, seat post, head tube and fork
        th = max(2.0, 0.05 * ppm)
        seat, bars, crank = (0.55, 0.92), (0.86, 1.08), (0.62, 0.32)
        cv.line(P(rear_u, wr), P(crank[0], crank[1]), self.frame, th)
        cv.line(P(b1, 0.55), P(front_u - 0.12, 0.78), self.frame, th)
        cv.line(P(crank[0], crank[1]), P(front_u - 0.12, 0.78), self.frame, th)
        cv.line(P(seat[0] - 0.03, seat[1] - 0.04), P(crank[0], crank[1]), self.frame, th)
        cv.line(P(front_u - 0.12, 0.78), P(bars[0], bars[1]), self.frame, th)
        cv.line(P(front_u, wr), P(front_u - 0.12, 0.78), self.frame, th)
        cv.line(P(bars[0] - 0.05, bars[1] + 0.02), P(bars[0] + 0.09, bars[1] - 0.02), (30, 30, 30), th)
        cv.line(P(seat[0] - 0.12, seat[1] + 0.01), P(seat[0] + 0.06, seat[1] + 0.01), (25, 25, 25), th * 1.6)
        if self.roof:
            for u in (seat[0] - 0.25, bars[0] + 0.05):
                cv.line(P(u, 0.7), P(u, 1.85), (160, 160, 160), max(1.5, 0.035 * ppm))
            cv.poly([P(seat[0] - 0.35, 1.85), P(bars[0] + 0.2, 1.8), P(bars[0] + 0.15, 1.92), P(seat[0] - 0.33, 1.95)],
                    self.roof_col)
        self._wheel(cv, P, ppm, rear_u, wr, dist, far=False)
        self._wheel(cv, P, ppm, front_u, wr * 0.92, dist, far=False)
        ang = dist / 0.5 * 2.0 * math.pi * 0.25
        for s in (0.0, math.pi):
            px = crank[0] + 0.16 * math.cos(ang + s)
            pv = crank[1] + 0.16 * math.sin(ang + s)
            cv.line(P(crank[0], crank[1]), P(px, pv), (50, 50, 50), max(1.5, 0.03 * ppm))
        cv.end()
        rider = self.spec.rider == "always" or (self.spec.rider == "moving" and moving)
        if rider:
            hp = ppm * self.rider.height_m
            s = 1.0 / self.rider.height_m  # metres -> rider body heights
            cv.begin("person", f"{self.id}.rider")
            draw_figure(cv, x, y, hp, self.rider, view="side", f=f, pose="ride", ride={
                "seat": (seat[0] * s - 0.06, (seat[1] + 0.03) * s), "crank": (crank[0] * s, crank[1] * s),
                "crank_r": 0.16 * s, "crank_angle": ang, "bars": (bars[0] * s, bars[1] * s)})
            cv.end()
            cv.resume(cid)
            cv.line(P(bars[0] - 0.05, bars[1] + 0.02), P(bars[0] + 0.09, bars[1] - 0.02), (30, 30, 30), th)
            cv.end()

    def _wheel(self, cv, P, ppm, u, r, dist, far: bool) -> None:
        c = P(u, r)
        R = r * ppm
        s = 0.75 if far else 1.0
        cv.circle(c, R, shade((30, 30, 30), s))
        cv.circle(c, R * 0.78, shade((150, 150, 150), s))
        cv.circle(c, R * 0.66, shade((70, 70, 70), s))
        a = dist / max(r, 0.1)
        for i in range(4):
            q = a + i * math.pi / 4
            cv.line((c[0] - R * 0.7 * math.cos(q), c[1] - R * 0.7 * math.sin(q)),
                    (c[0] + R * 0.7 * math.cos(q), c[1] + R * 0.7 * math.sin(q)), shade((190, 190, 190), s), 1)
        cv.circle(c, max(R * 0.15, 1.0), shade((120, 120, 120), s))

    def _load(self, cv, P, ppm, b0, b1, v) -> None:
        if self.cargo == "empty":
            return
        u = b0 + 0.08
        for i, (lw, lh, col) in enumerate(self.load):
            if u + lw > b1 - 0.05:
                break
            if self.cargo == "boxes":
                c = (60, 120, 170) if i % 3 else (80, 140, 190)
                cv.rect(*P(u, v + lh), *P(u + lw, v - 0.05), c)
                cv.line(P(u + lw / 2, v + lh), P(u + lw / 2, v), (170, 190, 200), max(1.0, 0.03 * ppm))
                if i % 2 == 0:
                    cv.rect(*P(u + 0.03, v + lh * 2), *P(u + lw - 0.03, v + lh), (70, 130, 180))
            elif self.cargo == "sacks":
                cv.ellipse(P(u + lw / 2, v + lh * 0.5), (lw * ppm * 0.55, lh * ppm * 0.7), (205, 215, 220))
            elif self.cargo == "cylinders":
                cv.rect(*P(u + 0.02, v + 0.55), *P(u + 0.2, v - 0.05), (170, 90, 30))
                cv.ellipse(P(u + 0.11, v + 0.55), (0.09 * ppm, 0.05 * ppm), (150, 80, 25))
                lw = 0.22
            else:  # produce in sacks-and-crates piled high
                cv.ellipse(P(u + lw / 2, v + 0.1), (lw * ppm * 0.5, 0.16 * ppm), col)
            u += lw + 0.03
