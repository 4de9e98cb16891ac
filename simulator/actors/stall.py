"""Roadside stall seen from the front: table with cloth, piles of goods, crates, umbrella or gazebo.

It is set up progressively over `setup_s` (crates, then table, goods, then the shade) and taken down in
reverse over `teardown_s`.  It is labelled `stall` from the moment the table stands; the crates alone
are unlabelled clutter.  The vendor, if any, is a separate person actor.
"""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, shadow_alpha
from simulator.canvas import Canvas
from simulator.palette import BRIGHT, jitter, parse_color, pick, shade

_CLOTHS = [(40, 40, 190), (170, 100, 30), (60, 140, 60), (230, 230, 230), (40, 170, 230), (120, 60, 140),
           (30, 110, 200), (200, 200, 120)]
_FRUIT = [(30, 140, 250), (40, 40, 210), (40, 210, 235), (50, 180, 90), (60, 60, 150), (30, 100, 230)]
_VEG = [(60, 170, 70), (40, 120, 40), (130, 200, 150), (110, 50, 110), (30, 120, 240), (220, 230, 230)]
_CRATES = [(40, 40, 190), (170, 100, 30), (50, 150, 50), (40, 200, 230), (200, 200, 200)]


class Stall(Actor):
    kind = "stall"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        self.style = spec.style if spec.style != "auto" else str(rng.choice(["umbrella", "canopy", "plain"], p=[0.5, 0.35, 0.15]))
        self.goods = spec.goods if spec.goods != "auto" else str(rng.choice(["fruit", "vegetables", "clothes", "snacks", "mixed"]))
        self.W = spec.width_m if spec.width_m else rng.uniform(1.4, 2.4)
        self.cloth = parse_color(spec.color) if spec.color else jitter(rng, pick(rng, _CLOTHS), 10)
        self.shade_a = parse_color(spec.color) if spec.color else pick(rng, BRIGHT)
        self.shade_b = pick(rng, [(235, 235, 235), (40, 210, 235), (40, 40, 200)])
        if self.shade_b == self.shade_a:
            self.shade_b = (235, 235, 235)
        self.top = pick(rng, [(60, 110, 160), (200, 200, 200), (40, 80, 130)])
        self.pole_u = rng.uniform(-0.15, 0.15) * self.W
        self.radius = rng.uniform(1.15, 1.5) * max(self.W / 1.8, 0.8)
        self.stripes = bool(rng.random() < 0.5)
        self.crates = [(rng.uniform(0.25, 0.7) * (1 if rng.random() < 0.6 else -1), pick(rng, _CRATES))
                       for _ in range(int(rng.integers(2, 5)))]
        self.items = self._items(rng)
        self.sign = bool(rng.random() < 0.5)

    def _items(self, rng) -> list[tuple]:
        """Goods as (kind, u, v, size, colour) in the order they are put out: baskets, then piles."""
        W, out = self.W, []
        kinds = {"fruit": ["fruit"], "vegetables": ["veg"], "snacks": ["pack"], "clothes": ["cloth"],
                 "mixed": ["fruit", "veg", "pack"]}[self.goods]
        if "cloth" in kinds:
            n = max(3, int(W / 0.34))
            for i in range(n):
                out.append(("shirt", -W / 2 + 0.2 + i * (W - 0.4) / max(n - 1, 1), 1.72, 0.4, pick(rng, BRIGHT + _CLOTHS)))
            for i in range(int(W / 0.24)):
                u = -W / 2 + 0.15 + i * 0.24
                for j in range(int(rng.integers(2, 5))):
                    out.append(("fold", u, 0.82 + j * 0.06, 0.22, pick(rng, BRIGHT + _CLOTHS)))
            return out
        for row, v in ((0, 0.93), (1, 0.8)):  # back row on the table, front row in baskets
            u = -W / 2 + 0.05
            while True:
                pw = rng.uniform(0.28, 0.42)
                if u + pw > W / 2 - 0.03:
                    break
                kind = kinds[int(rng.integers(len(kinds)))]
                if row == 1:
                    out.append(("basket", u + pw / 2, v, pw, pick(rng, [(60, 110, 150), (50, 90, 130), (40, 40, 180)])))
                size = rng.uniform(0.09, 0.13) if kind != "pack" else rng.uniform(0.12, 0.17)
                col = pick(rng, _FRUIT if kind == "fruit" else (_VEG if kind == "veg" else BRIGHT))
                n0 = max(2, int(pw / (size * 0.95)))
                for level in range(3 if kind != "pack" else 2):
                    n = n0 - level
                    for j in range(n):
                        iu = u + pw / 2 + (j - (n - 1) / 2) * size * 0.95
                        out.append((kind, iu, v + 0.05 + level * size * 0.75, size, jitter(rng, col, 18)))
                u += pw + rng.uniform(0.02, 0.06)
        return out

    def _progress(self, t: float) -> float:
        t0, t1 = self.path.t0, self.path.t1
        a = 1.0 if self.spec.setup_s <= 0 else (t - t0) / self.spec.setup_s
        # A single keyframe means the stall is still standing when the clip ends: no take-down.
        single = len(self.spec.path) == 1
        b = 1.0 if self.spec.teardown_s <= 0 or single else (t1 - t) / self.spec.teardown_s
        return max(0.0, min(1.0, a, b))

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        f = self._progress(t)
        W = self.W

        def P(u: float, v: float) -> tuple[float, float]:
            return x + u * ppm, y - v * ppm

        sa = shadow_alpha(ctx.lighting)
        if sa and f >= 0.2:
            cv.shadow(x, y - 0.1 * ppm, (W / 2 + 0.3) * ppm, 0.18 * ppm, sa)
        # Crates come first; they are clutter until the table stands.
        ncrates = len(self.crates) if f >= 0.2 else math.ceil(len(self.crates) * f / 0.2)
        if f < 0.2:
            cv.scenery()
        else:
            cv.begin("stall", self.id)
        for i, (side, col) in enumerate(self.crates[: max(ncrates, 1)]):
            u = side * W / 2 + (0.35 if side > 0 else -0.35) + (0 if i < 2 else 0.05)
            v0 = 0.35 * (i // 2) if i >= 2 else 0.0
            cv.rect(*P(u - 0.25, v0 + 0.32), *P(u + 0.25, v0), col)
            for k in range(3):
                cv.rect(*P(u - 0.2 + k * 0.14, v0 + 0.26), *P(u - 0.12 + k * 0.14, v0 + 0.12), shade(col, 0.65))
        if f < 0.2:
            cv.image_only()
            return
        # Table: back legs, top surface, cloth, front legs.
        top, back = 0.78, 1.0
        for s in (-1, 1):
            cv.line(P(s * (W / 2 - 0.1), back), P(s * (W / 2 - 0.1), 0.15), (50, 50, 50), max(2.0, 0.05 * ppm))
        cv.poly([P(-W / 2, top), P(W / 2, top), P(W / 2 - 0.06, back), P(-W / 2 + 0.06, back)], self.top)
        if f >= 0.3:
            cv.rect(*P(-W / 2, top), *P(W / 2, 0.38), self.cloth)
            if self.stripes:
                for j in range(1, 4):
                    cv.rect(*P(-W / 2, 0.38 + j * 0.1 - 0.02), *P(W / 2, 0.38 + j * 0.1), shade(self.cloth, 1.5))
        for s in (-1, 1):
            cv.line(P(s * (W / 2 - 0.05), top), P(s * (W / 2 - 0.05), 0.0), (45, 45, 45), max(2.0, 0.06 * ppm))
        # Goods appear one by one.
        n = int(len(self.items) * min(max((f - 0.35) / 0.45, 0.0), 1.0))
        if self.goods == "clothes" and n:
            cv.line(P(-W / 2, 1.75), P(W / 2, 1.75), (120, 120, 120), max(1.5, 0.04 * ppm))
            for s in (-1, 1):
                cv.line(P(s * W / 2, 1.8), P(s * W / 2, top), (120, 120, 120), max(1.5, 0.04 * ppm))
        for kind, u, v, size, col in self.items[:n]:
            self._item(cv, P, ppm, kind, u, v, size, col)
        if self.sign and f >= 0.8:
            cv.rect(*P(W / 2 - 0.45, top + 0.32), *P(W / 2 - 0.12, top + 0.1), (235, 235, 235))
            cv.line(P(W / 2 - 0.4, top + 0.22), P(W / 2 - 0.17, top + 0.22), (40, 40, 200), max(1.0, 0.04 * ppm))
        # Shade.
        if f >= 0.8:
            g = (f - 0.8) / 0.2
            if self.style == "umbrella":
                self._umbrella(cv, P, ppm, g)
            elif self.style == "canopy":
                self._canopy(cv, P, ppm, g)
        cv.end()

    def _item(self, cv, P, ppm, kind, u, v, size, col) -> None:
        if kind == "basket":
            cv.poly([P(u - size / 2, v + 0.12), P(u + size / 2, v + 0.12), P(u + size * 0.42, v - 0.02),
                     P(u - size * 0.42, v - 0.02)], col)
            cv.line(P(u - size / 2, v + 0.12), P(u + size / 2, v + 0.12), shade(col, 1.3), max(1.0, 0.03 * ppm))
        elif kind in ("fruit", "veg"):
            c = P(u, v)
            r = size * ppm * 0.5
            if kind == "veg" and size > 0.085:
                cv.ellipse(c, (r * 1.5, r * 0.8), col)
            else:
                cv.circle(c, r, col)
            if r > 3:
                cv.circle((c[0] - r * 0.3, c[1] - r * 0.3), r * 0.3, shade(col, 1.35))
        elif kind == "pack":
            cv.rect(*P(u - size * 0.35, v + size), *P(u + size * 0.35, v - 0.02), col)
            cv.rect(*P(u - size * 0.25, v + size * 0.7), *P(u + size * 0.25, v + size * 0.45), (235, 235, 235))
        elif kind == "shirt":
            s = size
            cv.poly([P(u - s * 0.3, v - 0.05), P(u + s * 0.3, v - 0.05), P(u + s * 0.5, v - 0.18), P(u + s * 0.3, v - 0.22),
                     P(u + s * 0.3, v - 0.6), P(u - s * 0.3, v - 0.6), P(u - s * 0.3, v - 0.22), P(u - s * 0.5, v - 0.18)], col)
            cv.line(P(u, v), P(u, v - 0.05), (90, 90, 90), 1)
        elif kind == "fold":
            cv.rect(*P(u - size * 0.45, v + 0.06), *P(u + size * 0.45, v), col)
            cv.line(P(u - size * 0.45, v + 0.03), P(u + size * 0.45, v + 0.03), shade(col, 0.7), 1)

    def _umbrella(self, cv, P, ppm, g: float) -> None:
        pu = self.pole_u
        top = 2.25
        cv.line(P(pu, 0.78), P(pu, top + 0.35), (200, 200, 200), max(2.0, 0.05 * ppm))
        R = self.radius * (0.2 + 0.8 * g)
        apex = P(pu, top + 0.45 * (0.4 + 0.6 * g))
        n = 8
        rim = [P(pu + R * math.cos(math.pi * (1 - i / n)), top - 0.14 * math.sin(math.pi * i / n) - (1 - g) * 0.6)
               for i in range(n + 1)]
        for i in range(n):
            cv.poly([apex, rim[i], rim[i + 1]], self.shade_a if i % 2 == 0 else self.shade_b)
        cv.polyline(rim, shade(self.shade_a, 0.7), max(1.0, 0.03 * ppm))
        cv.circle(apex, max(1.5, 0.04 * ppm), (200, 200, 200))

    def _canopy(self, cv, P, ppm, g: float) -> None:
        W = self.W
        h0 = 1.15 + 0.9 * g
        for s in (-1, 1):
            cv.line(P(s * (W / 2 + 0.12), 0.0), P(s * (W / 2 + 0.12), h0 + 0.05), (170, 170, 170), max(2.0, 0.05 * ppm))
        cv.poly([P(-W / 2 - 0.3, h0), P(W / 2 + 0.3, h0), P(W / 2 + 0.05, h0 + 0.5), P(-W / 2 - 0.05, h0 + 0.5)], self.shade_a)
        cv.rect(*P(-W / 2 - 0.3, h0 + 0.02), *P(W / 2 + 0.3, h0 - 0.16), self.shade_b)
        for j in range(int((W + 0.6) / 0.3)):
            u = -W / 2 - 0.3 + 0.3 * j + 0.15
            cv.circle(P(u, h0 - 0.16), max(1.0, 0.08 * ppm), self.shade_b)
