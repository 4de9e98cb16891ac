"""Static scenery that stands in the scene and hides actors behind it: trees, lamp posts, reeds, ...

Occluders are depth-sorted with the actors by their ground point, so a tree in the foreground hides a
person behind it while a person in front of a lamp post hides the post.  They are never labelled.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.actors.base import Ctx, shadow_alpha, stable_rng
from simulator.canvas import Canvas
from simulator.lighting import light_at
from simulator.palette import BRIGHT, jitter, pick, shade


class Occluder:
    def __init__(self, spec, index: int, ctx: Ctx):
        self.spec = spec
        self.kind = spec.kind
        self.depth = spec.y
        self.rng_seed = (ctx.seed, "occluder", spec.id or str(index))

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        s = self.spec
        x, y = s.x * ctx.w, s.y * ctx.h
        ppm = ctx.ppm(s.y) * s.scale
        rng = stable_rng(*self.rng_seed)  # same draws every frame: the object never changes
        cv.light = light_at(s.x, s.y - 0.05) if ctx.lighting == "night" else 1.0
        cv.scenery()

        def P(u: float, v: float) -> tuple[float, float]:
            return x + u * ppm, y - v * ppm

        getattr(self, "_" + self.kind)(cv, P, ppm, rng, ctx)
        cv.image_only()

    def _tree(self, cv, P, ppm, rng, ctx) -> None:
        ht = rng.uniform(2.2, 3.2)
        tw = rng.uniform(0.22, 0.38)
        sa = shadow_alpha(ctx.lighting)
        if sa:
            cv.shadow(*P(0.0, 0.0), 1.6 * ppm, 0.25 * ppm, sa * 0.7)
        bark = jitter(rng, (60, 80, 95), 12)
        cv.poly([P(-tw / 2, 0), P(tw / 2, 0), P(tw / 3, ht), P(-tw / 3, ht)], bark)
        for _ in range(3):
            a = rng.uniform(-1.0, 1.0)
            cv.line(P(0, ht * 0.9), P(math.sin(a) * 1.1, ht + math.cos(a) * 1.0), bark, max(2.0, 0.08 * ppm))
        R = rng.uniform(1.6, 2.4)
        cu, cvv = rng.uniform(-0.2, 0.2), ht + R * 0.75
        base = jitter(rng, pick(rng, [(50, 110, 60), (45, 95, 50), (60, 125, 80)]), 10)
        blobs = []
        for _ in range(int(rng.integers(45, 70))):
            a, r = rng.uniform(0, 2 * math.pi), R * math.sqrt(rng.uniform(0, 1))
            blobs.append((cu + r * math.cos(a), cvv + 0.8 * r * math.sin(a), rng.uniform(0.25, 0.5)))
        # Inner, lower leaves are in shade; the outer, upper ones catch the light.  Draw shade first.
        for u, v, rr in sorted(blobs, key=lambda b: (b[1] - cvv) + 0.3 * abs(b[0] - cu)):
            light = 0.78 + 0.3 * ((v - cvv) / R) + 0.12 * math.hypot(u - cu, v - cvv) / R
            cv.circle(P(u, v), rr * ppm, shade(base, max(0.55, min(light * rng.uniform(0.9, 1.08), 1.25))))
            if rr * ppm > 6:
                cv.circle(P(u - rr * 0.3, v + rr * 0.3), rr * 0.45 * ppm, shade(base, min(light * 1.15, 1.3)))

    def _lamp_post(self, cv, P, ppm, rng, ctx) -> None:
        col = pick(rng, [(120, 120, 120), (60, 60, 60), (170, 170, 165)])
        side = 1 if rng.random() < 0.5 else -1
        hgt = rng.uniform(5.0, 6.5)
        cv.poly([P(-0.12, 0), P(0.12, 0), P(0.06, hgt), P(-0.06, hgt)], col)
        cv.rect(*P(-0.16, 0.5), *P(0.16, 0.0), shade(col, 0.8))
        cv.line(P(0, hgt - 0.1), P(side * 1.1, hgt + 0.15), col, max(2.0, 0.06 * ppm))
        head = P(side * 1.15, hgt + 0.05)
        cv.ellipse(head, (0.35 * ppm, 0.1 * ppm), shade(col, 0.9))
        if ctx.lighting != "day":
            cv.image_only()
            cv.glow(head[0], head[1] + 0.1 * ppm, 0.9 * ppm, (150, 200, 230), 1.4)

    def _reeds(self, cv, P, ppm, rng, ctx) -> None:
        n = int(rng.integers(28, 45))
        width = rng.uniform(1.2, 2.6)
        stems = sorted(((rng.uniform(-width / 2, width / 2), rng.uniform(0.9, 1.9), rng.uniform(-0.35, 0.35),
                         rng.uniform(0, 0.4)) for _ in range(n)), key=lambda s: s[3])
        for u, hgt, lean, dv in stems:
            col = pick(rng, [(60, 120, 100), (50, 100, 80), (80, 140, 140), (70, 110, 120)])
            top = (u + lean, hgt + dv)
            mid = (u + lean * 0.4, hgt * 0.55 + dv)
            th = max(1.0, 0.03 * ppm)
            cv.line(P(u, dv), P(*mid), col, th)
            cv.line(P(*mid), P(*top), col, th * 0.8)
            if rng.random() < 0.35:
                cv.ellipse(P(top[0] - lean * 0.05, top[1] - 0.08), (max(1.2, 0.035 * ppm), max(2.0, 0.12 * ppm)),
                           (40, 60, 95), angle=math.degrees(math.atan2(lean, hgt)))

    def _bicycle(self, cv, P, ppm, rng, ctx) -> None:
        col = pick(rng, BRIGHT + [(30, 30, 30)])
        th = max(1.5, 0.04 * ppm)
        r = 0.34
        for u in (-0.52, 0.52):
            cv.circle(P(u, r), r * ppm, (30, 30, 30), th=max(1, int(0.05 * ppm)))
        cv.line(P(-0.52, r), P(0.0, r), col, th)
        cv.line(P(0.0, r), P(-0.12, 0.85), col, th)
        cv.line(P(-0.52, r), P(-0.12, 0.85), col, th)
        cv.line(P(-0.12, 0.8), P(0.42, 0.82), col, th)
        cv.line(P(0.0, r), P(0.42, 0.82), col, th)
        cv.line(P(0.52, r), P(0.45, 1.0), col, th)
        cv.line(P(0.38, 1.0), P(0.55, 1.02), (30, 30, 30), th)
        cv.line(P(-0.22, 0.9), P(-0.02, 0.9), (30, 30, 30), th * 1.5)

    def _bollard(self, cv, P, ppm, rng, ctx) -> None:
        col = pick(rng, [(150, 150, 150), (40, 200, 230), (235, 235, 235)])
        cv.rect(*P(-0.09, 0.9), *P(0.09, 0.0), col)
        cv.ellipse(P(0, 0.9), (0.09 * ppm, 0.04 * ppm), shade(col, 1.2))
        for v in (0.55, 0.7):
            cv.rect(*P(-0.09, v + 0.06), *P(0.09, v), (30, 30, 30))

    def _bench(self, cv, P, ppm, rng, ctx) -> None:
        wood = jitter(rng, (60, 110, 160), 15)
        w = rng.uniform(1.5, 2.0)
        for s in (-1, 1):
            cv.line(P(s * w * 0.4, 0.0), P(s * w * 0.4, 0.85), (50, 50, 50), max(2.0, 0.06 * ppm))
        cv.rect(*P(-w / 2, 0.5), *P(w / 2, 0.42), wood)
        for v in (0.62, 0.75):
            cv.rect(*P(-w / 2, v + 0.08), *P(w / 2, v), wood)

    def _sign(self, cv, P, ppm, rng, ctx) -> None:
        cv.line(P(0, 0), P(0, 2.2), (120, 120, 120), max(2.0, 0.07 * ppm))
        if rng.random() < 0.6:  # no-fishing / prohibition sign
            cv.rect(*P(-0.32, 2.5), *P(0.32, 1.75), (235, 235, 235))
            c = P(0, 2.125)
            cv.circle(c, 0.3 * ppm, (40, 40, 200), th=max(1, int(0.07 * ppm)))
            cv.ellipse(c, (0.17 * ppm, 0.06 * ppm), (90, 60, 30))
            cv.line(P(-0.2, 2.33), P(0.2, 1.92), (40, 40, 200), max(1.5, 0.07 * ppm))
        else:
            cv.rect(*P(-0.4, 2.45), *P(0.4, 1.85), (160, 90, 20))
            for v in (2.3, 2.15, 2.0):
                cv.line(P(-0.3, v), P(0.3 * rng.uniform(0.3, 1.0), v), (235, 235, 235), max(1.0, 0.04 * ppm))

    def _bush(self, cv, P, ppm, rng, ctx) -> None:
        base = jitter(rng, (55, 120, 70), 12)
        w, hgt = rng.uniform(1.0, 2.0), rng.uniform(0.7, 1.3)
        pts = np.column_stack([rng.uniform(-w / 2, w / 2, 16), rng.uniform(0.2, hgt, 16)])
        for u, v in sorted(pts.tolist(), key=lambda p: p[1]):
            cv.circle(P(u, v), rng.uniform(0.25, 0.45) * ppm, shade(base, rng.uniform(0.8, 1.2)))

    def _bin(self, cv, P, ppm, rng, ctx) -> None:
        col = pick(rng, [(60, 120, 60), (120, 120, 120), (170, 100, 30)])
        cv.rect(*P(-0.28, 0.95), *P(0.28, 0.0), col)
        cv.rect(*P(-0.31, 1.02), *P(0.31, 0.93), shade(col, 0.7))
        cv.rect(*P(-0.15, 0.7), *P(0.15, 0.6), (235, 235, 235))
