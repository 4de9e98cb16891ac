"""A fishing rod left on a stand (a forked stick or a small tripod) with nobody near it.

The rod is labelled `fishing_rod` (`<id>.rod`); the stand is scenery.  An unattended rod in the
shore zone is fishing all the same: its angler is hidden or has stepped away.
"""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, bezier
from simulator.canvas import Canvas


class RodStand(Actor):
    kind = "rod_stand"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        self.length_m = self.rng.uniform(2.8, 3.6)
        self.elev = math.radians(self.rng.uniform(22, 34))
        self.sway = self.rng.uniform(0, 2 * math.pi)

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        side = -1 if self.spec.facing == "left" else 1
        th = max(1.5, 0.03 * ppm)
        cv.scenery()  # the stand: two legs and a fork
        fork = (x + side * 0.1 * ppm, y - 0.55 * ppm)
        cv.line((x - 0.15 * ppm, y), fork, (70, 90, 110), th)
        cv.line((x + 0.15 * ppm, y), fork, (70, 90, 110), th)
        cv.image_only()
        el = self.elev + math.radians(1.5) * math.sin(2 * math.pi * t / 5.0 + self.sway)
        L = self.length_m * ppm
        butt = (x - side * 0.35 * L * math.cos(el), y - 0.02 * ppm)
        dx, dy = side * math.cos(el), -math.sin(el)
        tip = (butt[0] + dx * L, butt[1] + dy * L + 0.05 * L)
        pts = bezier(butt, (butt[0] + dx * L / 2, butt[1] + dy * L / 2), tip, 11)
        cv.begin("fishing_rod", f"{self.id}.rod")
        n = len(pts) - 1
        for i in range(n):
            s = i / n
            cv.line(pts[i], pts[i + 1], (28, 28, 28) if s > 0.15 else (110, 160, 195),
                    max(4.0 * ctx.k, 0.05 * ppm) * (1 - 0.7 * s))
        cv.end()
        cv.line(tip, (tip[0] + side * 0.1 * L, min(tip[1] + 0.4 * L, 0.585 * ctx.h)), (205, 205, 205), 1, mark=False)
