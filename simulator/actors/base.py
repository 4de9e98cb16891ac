"""What all actors share: a seeded look, a keyframe path, the render context, and small geometry."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from simulator.canvas import Canvas
from simulator.lighting import light_at
from simulator.motion import Path
from simulator.sites import Site


def stable_rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded from ints and strings; strings via crc32 (never hash(): it changes per process)."""
    return np.random.default_rng([p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts])


@dataclass(frozen=True)
class Ctx:
    """Everything an actor needs to know about the frame it draws into."""

    w: int
    h: int
    site: Site
    lighting: str
    seed: int

    @property
    def k(self) -> float:
        return self.h / 720.0

    def ppm(self, y_rel: float) -> float:
        return self.site.px_per_m(y_rel, self.h)


class Actor:
    kind = ""

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        self.spec = spec
        self.id = spec.id
        self.scale = spec.scale
        self.rng = stable_rng(ctx.seed, "actor", spec.id)
        self.path = Path(spec.path, duration_s, (ctx.w, ctx.h), lambda y: ctx.ppm(y) * spec.scale)

    def alive(self, t: float) -> bool:
        return self.path.alive(t)

    def depth(self, t: float) -> float:
        return self.path.at(t)[1]

    def place(self, cv: Canvas, t: float, ctx: Ctx) -> tuple[float, float, float]:
        """Anchor in pixels and pixels per metre; also sets the night illumination for this actor."""
        x, y = self.path.at(t)
        cv.light = light_at(x, y - 0.04) if ctx.lighting == "night" else 1.0
        return x * ctx.w, y * ctx.h, ctx.ppm(y) * self.scale

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        raise NotImplementedError


def shadow_alpha(lighting: str) -> float:
    return {"day": 0.35, "dusk": 0.22, "night": 0.0}[lighting]


def rot(u: float, v: float, a: float) -> tuple[float, float]:
    c, s = math.cos(a), math.sin(a)
    return u * c - v * s, u * s + v * c


def ik2(hip, foot, l1: float, l2: float, bend: float) -> tuple[float, float]:
    """Knee (or elbow) of a two-bone limb from hip to foot; bend=+1/-1 picks the side it bends to."""
    dx, dy = foot[0] - hip[0], foot[1] - hip[1]
    d = max(min(math.hypot(dx, dy), l1 + l2 - 1e-6), abs(l1 - l2) + 1e-6)
    a = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    hh = math.sqrt(max(l1 * l1 - a * a, 0.0))
    mx, my = hip[0] + a * dx / d, hip[1] + a * dy / d
    return mx + bend * hh * (-dy) / d, my + bend * hh * dx / d


def bezier(p0, p1, p2, n: int) -> np.ndarray:
    s = np.linspace(0, 1, n)[:, None]
    return (1 - s) ** 2 * np.asarray(p0) + 2 * (1 - s) * s * np.asarray(p1) + s**2 * np.asarray(p2)
