"""Small boats seen from the side: skiff with outboard, rowing boat, cabin boat, canopy boat.

The anchor is the middle of the waterline.  Crew members are labelled persons (`<id>.crew<N>`) only
when tall enough to see; the wake and the reflection are drawn into the image only.
"""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx
from simulator.actors.figure import draw_figure, random_look
from simulator.canvas import Canvas
from simulator.palette import HULL, jitter, parse_color, pick, shade

_CANOPY = [(170, 100, 30), (40, 120, 230), (60, 140, 60), (200, 200, 200), (40, 40, 170)]


class Boat(Actor):
    kind = "boat"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        self.style = spec.style if spec.style != "auto" else str(
            rng.choice(["skiff", "rowing", "cabin", "canopy"], p=[0.4, 0.2, 0.2, 0.2]))
        self.color = parse_color(spec.color) if spec.color else jitter(rng, pick(rng, HULL), 12)
        self.stripe = pick(rng, [(235, 235, 235), (40, 40, 160), (30, 30, 30), (40, 180, 220), (160, 90, 30)])
        if self.stripe == self.color:
            self.stripe = shade(self.color, 0.6)
        default_len = {"skiff": (3.8, 5.5), "rowing": (3.0, 4.2), "cabin": (5.5, 7.5), "canopy": (4.5, 6.5)}[self.style]
        self.length = spec.length_m if spec.length_m else rng.uniform(*default_len)
        self.freeboard = rng.uniform(0.45, 0.65) * (1.15 if self.style == "cabin" else 1.0)
        n = spec.crew if spec.crew is not None else int(rng.choice([0, 1, 1, 2, 2, 3]))
        if self.style == "rowing":
            n = max(n, 1)
        self.crew = [random_look(rng, hat_p=(0.3, 0.2, 0.35, 0.15, 0.0)) for _ in range(n)]
        lo, hi = (0.18, 0.36) if self.style == "cabin" else (-0.32, 0.22)
        self.crew_u = sorted(rng.uniform(lo, hi, n)) if n else []
        self.canopy = pick(rng, _CANOPY)
        self.cabin_col = pick(rng, [(235, 235, 235), (200, 200, 200), shade(self.color, 1.3)])
        self.bob = rng.uniform(0, 2 * math.pi)
        self.default_f = 1 if rng.random() < 0.5 else -1
        self.lamp = spec.lamp == "on" or (spec.lamp == "auto" and ctx.lighting != "day")

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        f = {"left": -1, "right": 1}.get(self.spec.facing, self.path.heading(t, self.default_f))
        y += math.sin(2 * math.pi * t / 3.1 + self.bob) * 0.05 * ppm
        L = self.length * ppm
        moving = self.path.moving(t)
        speed = self.path.speed_mps(t)

        def P(u: float, v: float) -> tuple[float, float]:  # u: metres towards the bow, v: metres up
            return x + u * ppm * f, y - v * ppm

        half = self.length / 2
        fbm = self.freeboard
        hull = [P(-half, fbm), P(-half * 0.2, fbm * 0.97), P(half * 0.6, fbm * 1.08), P(half, fbm * 1.35),
                P(half * 0.86, fbm * 0.5), P(half * 0.7, 0.0), P(-half * 0.94, 0.0), P(-half, fbm * 0.35)]
        # Reflection and wake (image only).
        refl = [(px, 2 * y - py) for px, py in hull]
        refl = [(px, y + (py - y) * 0.55) for px, py in refl]
        cv.blend_poly(refl, shade(self.color, 0.5), 0.35)
        if moving:
            wl = min(0.4 + speed / 4.0, 1.1) * L
            sp = 0.18 * L
            stern = P(-half, 0.0)
            back = stern[0] - f * wl
            cv.blend_poly([stern, (back, stern[1] - sp * 0.3), (back, stern[1] + sp * 0.3)], (220, 220, 215), 0.18)
            mid = ((stern[0] + back) / 2, stern[1])
            cv.blend_poly([stern, (mid[0], mid[1] - sp * 0.08), (mid[0], mid[1] + sp * 0.08)], (240, 240, 240), 0.45)
            for s in (-1, 1):
                cv.blend_poly([stern, (back, stern[1] + s * sp * 0.42), (back, stern[1] + s * sp * 0.36)],
                              (225, 225, 220), 0.5)
            bow = P(half * 0.78, 0.02)
            cv.ellipse(bow, (0.09 * L, 0.02 * L), (235, 235, 235), mark=False)

        # Far gunwale's inner side (seen from above) is behind the crew; the hull is in front of them.
        boat_id = cv.begin("boat", self.id)
        cv.poly([P(-half, fbm), P(half, fbm * 1.35), P(half * 0.6, fbm * 1.22), P(-half * 0.96, fbm * 1.16)],
                shade(self.color, 0.55))
        cv.end()
        for i, (lk, u) in enumerate(zip(self.crew, self.crew_u, strict=True)):
            hp = ppm * lk.height_m
            fx, fy = P(u * self.length, fbm - 0.2 - 0.29 * lk.height_m)
            cv.begin("person", f"{self.id}.crew{i + 1}", min_h=20 * ctx.k)
            view = "side" if (i + int(self.bob * 10)) % 3 else "back"
            draw_figure(cv, fx, fy, hp, lk, view=view, f=f, pose="sit", stool=False,
                        arms="rod" if self.style == "rowing" else "swing")
            cv.end()
        cv.resume(boat_id)
        if self.style == "cabin":
            c0, c1 = -half * 0.55, half * 0.15
            top = fbm + 1.0
            cv.poly([P(c0, fbm), P(c1, fbm), P(c1 + 0.2, top - 0.15), P(c1, top), P(c0, top)], self.cabin_col)
            cv.rect(*P(c0 - 0.05, top + 0.08), *P(c1 + 0.1, top), shade(self.cabin_col, 0.8))
            nwin = 3
            for j in range(nwin):
                a = c0 + 0.15 + j * (c1 - c0 - 0.2) / nwin
                wx = (c1 - c0 - 0.2) / nwin - 0.12
                cv.rect(*P(a, top - 0.2), *P(a + wx, top - 0.5), (90, 70, 50))
        cv.poly(hull, self.color)
        cv.polyline([P(-half, fbm * 0.98), P(-half * 0.2, fbm * 0.95), P(half * 0.6, fbm * 1.05), P(half, fbm * 1.32)],
                    self.stripe, max(2.0, 0.12 * ppm))
        cv.polyline([P(-half * 0.94, 0.06), P(half * 0.7, 0.06)], shade(self.color, 0.45), max(1.0, 0.08 * ppm))
        if self.style == "skiff":
            cv.rect(*P(-half - 0.08, fbm + 0.45), *P(-half - 0.38, fbm + 0.05), (35, 35, 35))
            cv.line(P(-half - 0.25, fbm + 0.05), P(-half - 0.25, 0.0), (60, 60, 60), max(2.0, 0.08 * ppm))
        elif self.style == "canopy":
            top = fbm + 1.55
            for u in (-half * 0.45, half * 0.3):
                cv.line(P(u, fbm), P(u, top), (170, 170, 170), max(1.5, 0.05 * ppm))
            cv.poly([P(-half * 0.6, top), P(half * 0.45, top), P(half * 0.42, top + 0.12), P(-half * 0.57, top + 0.16)],
                    self.canopy)
            cv.poly([P(-half * 0.6, top), P(half * 0.45, top), P(half * 0.45, top - 0.15), P(-half * 0.6, top - 0.15)],
                    shade(self.canopy, 0.75))
        elif self.style == "rowing":
            a = math.sin(2 * math.pi * self.path.metres(t) / 2.0) * 0.5 if moving else 0.0
            for s in (0.9, 1.0):
                lock = P(-0.1 * half, fbm)
                blade = P(-0.1 * half + 1.6 * math.sin(a) * s, -0.15)
                cv.line(lock, blade, shade((60, 110, 160), s), max(1.5, 0.06 * ppm))
        cv.end()
        if self.lamp:
            lp = P(half * 0.85, fbm * 1.35 + 0.6) if self.style != "cabin" else P(0.0, fbm + 1.2)
            cv.image_only()
            cv.line(P(half * 0.85, fbm * 1.3), lp, (150, 150, 150), 1, mark=False)
            cv.glow(lp[0], lp[1], max(6 * ctx.k, 0.25 * ppm), (200, 220, 235), 1.0)
