"""Lighting looks (day, dusk, night IR), brightness changes over time, sensor noise.

The look is a per-pixel colour transform.  The static background gets it once (cached); actors get the
same transform applied to their colours, which is equivalent and costs nothing per pixel.  Night is an IR
camera: greyscale, lit by the camera's own illuminator, which falls off with distance and to the edges.
"""

from __future__ import annotations

import functools

import numpy as np

from simulator.scenario import LightChange

_DUSK_WARM = np.array([0.66, 0.84, 1.06], np.float32)  # B, G, R
_DUSK_HAZE = np.array([70.0, 72.0, 95.0], np.float32)
_DUSK_BRIGHT, _DUSK_CONTRAST = 0.66, 0.72
# IR brightness: most paints, dyes and leaves reflect near-infrared well, whatever their visible hue, so
# the brightest channel counts as much as the average (a dark-blue van is not black under IR).
DEFAULT_NOISE = {"day": 2.0, "dusk": 3.5, "night": 7.0}


def illumination(w: int, h: int) -> np.ndarray:
    """Night IR illuminator: bright near the camera (bottom centre), falling off up and to the sides."""
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    near = np.exp(-(((1.05 - ys) / 0.75) ** 2))
    side = np.exp(-(((xs - 0.5) / 0.65) ** 2))
    return (0.22 + 0.9 * near * side + 0.14 * side).astype(np.float32)


def light_at(x_rel: float, y_rel: float) -> float:
    near = np.exp(-(((1.05 - y_rel) / 0.75) ** 2))
    side = np.exp(-(((x_rel - 0.5) / 0.65) ** 2))
    return float(0.22 + 0.9 * near * side + 0.14 * side)


class Look:
    """The colour transform of one lighting condition."""

    def __init__(self, lighting: str):
        self.lighting = lighting

    def tone(self, c: tuple, light: float = 1.0) -> tuple:
        if self.lighting == "day":
            return c
        v = np.asarray(c[:3], np.float32)
        if self.lighting == "dusk":
            o = _DUSK_CONTRAST * v * _DUSK_WARM * _DUSK_BRIGHT + (1 - _DUSK_CONTRAST) * _DUSK_HAZE
            return tuple(int(min(max(x, 0), 255)) for x in o)
        base = 0.6 * float(v.mean()) + 0.4 * float(v.max())
        # Painted hulls, car bodies and clothes return more of the illuminator than water or asphalt.
        base = 255.0 * (base / 255.0) ** 0.75
        g = int(min(max(base * light * 0.95 + 6, 0), 255))
        return (g, g, g)

    def apply(self, img: np.ndarray) -> np.ndarray:
        """Transform a whole BGR uint8 image (the cached background)."""
        if self.lighting == "day":
            return img
        f = img.astype(np.float32)
        if self.lighting == "dusk":
            o = _DUSK_CONTRAST * f * (_DUSK_WARM * _DUSK_BRIGHT) + (1 - _DUSK_CONTRAST) * _DUSK_HAZE
            return np.clip(o, 0, 255).astype(np.uint8)
        h, w = img.shape[:2]
        g = (0.6 * f.mean(axis=2) + 0.4 * f.max(axis=2)) * illumination(w, h) * 0.95 + 6
        g = np.clip(g, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)


def gain_at(t: float, changes: list[LightChange]) -> float:
    """Overall brightness factor at time t (clouds, a lamp switching on): product of all changes."""
    g = 1.0
    for c in changes:
        if not c.start_s <= t <= c.end_s:
            continue
        r = c.ramp_s
        f = 1.0 if r <= 0 else min(1.0, (t - c.start_s) / r, (c.end_s - t) / r)
        g *= 1.0 + (c.gain - 1.0) * max(f, 0.0)
    return g


NOISE_PAD = 24
NOISE_LAYERS = 3


@functools.lru_cache(maxsize=4)
def noise_bank(w: int, h: int, sigma10: int, grey: bool) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """A few padded noise frames split into (+, -) uint8 parts; a frame picks one at a random offset.

    Drawing fresh Gaussian noise per frame would cost more than all the rest of rendering.
    """
    sigma = sigma10 / 10.0
    rng = np.random.default_rng([0x5E, w, h, sigma10])
    out = []
    shape = (h + 2 * NOISE_PAD, w + 2 * NOISE_PAD)
    for _ in range(NOISE_LAYERS):
        n = rng.standard_normal(shape, dtype=np.float32)[..., None] * (sigma * 0.85)
        if grey:
            n = np.repeat(n, 3, axis=2)
        else:
            n = n + rng.standard_normal((*shape, 3), dtype=np.float32) * (sigma * 0.45)
        n = np.rint(n)
        out.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
    return tuple(out)
