"""Weather on a rendered frame: rain streaks, fog that thickens with distance, local glare.

Applied after the actors are drawn and before sensor noise, so what the labels say is visible is
what a camera behind rain or in fog would have; labels are not changed (a detector should still
find what is there).  Glare is local: a bright spot that washes out one part of the picture (the
sun on the water, a headlight), not one global gain.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from simulator.conditions import Weather


@functools.lru_cache(maxsize=8)
def _fog_ramp(w: int, h: int) -> np.ndarray:
    """How much haze each row gets: most at the top (far), little at the bottom (near)."""
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)
    ramp = np.clip(1.15 - ys * 1.1, 0.05, 1.0) ** 1.5
    return np.repeat(ramp[:, None, None], w, axis=1)


@functools.lru_cache(maxsize=4)
def _rain_layers(w: int, h: int, intensity10: int, angle10: int) -> tuple[np.ndarray, ...]:
    """A few streak layers (uint8 brightness to add), picked per frame at an offset."""
    rng = np.random.default_rng([0x4A1, w, h, intensity10, angle10 % (1 << 32)])  # a slant to the left is < 0
    n = int(intensity10 / 10 * w * h / 900)
    angle = math.radians(angle10 / 10)
    out = []
    for _ in range(4):
        layer = np.zeros((h + 64, w + 64), np.uint8)
        for _ in range(n):
            x, y = rng.integers(0, w + 64), rng.integers(0, h + 64)
            ln = int(rng.integers(8, 22) * h / 720)
            x2, y2 = int(x + ln * math.sin(angle)), int(y + ln * math.cos(angle))
            cv2.line(layer, (int(x), int(y)), (x2, y2), int(rng.integers(25, 70)), 1, cv2.LINE_AA)
        out.append(layer)
    return tuple(out)


def apply_weather(img: np.ndarray, t: float, weather: Weather, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    fog = weather.fog
    if fog is not None and fog.active(t):
        ramp = _fog_ramp(w, h) * fog.density
        haze = np.array(fog.color, np.float32)[None, None, :]
        img[:] = np.clip(img.astype(np.float32) * (1 - ramp) + haze * ramp, 0, 255).astype(np.uint8)
    rain = weather.rain
    if rain is not None and rain.active(t):
        layers = _rain_layers(w, h, int(round(rain.intensity * 10)), int(round(rain.angle_deg * 10)))
        layer = layers[int(rng.integers(len(layers)))]
        ox, oy = (int(v) for v in rng.integers(0, 64, 2))
        streaks = layer[oy: oy + h, ox: ox + w]
        cv2.add(img, cv2.merge([streaks, streaks, streaks]), dst=img)
        # rain also dims and flattens the scene a little
        cv2.convertScaleAbs(img, dst=img, alpha=1.0 - 0.12 * rain.intensity, beta=10 * rain.intensity)
    for g in weather.glare:
        if not g.active(t):
            continue
        r = g.radius * w
        cx, cy = g.x * w, g.y * h
        x1, y1, x2, y2 = (max(0, int(cx - 2 * r)), max(0, int(cy - 2 * r)), min(w, int(cx + 2 * r)),
                          min(h, int(cy + 2 * r)))
        if x2 <= x1 or y2 <= y1:
            continue
        yy, xx = np.mgrid[y1:y2, x1:x2].astype(np.float32)
        a = g.strength * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.6 * r) ** 2)))
        roi = img[y1:y2, x1:x2].astype(np.float32)
        img[y1:y2, x1:x2] = np.clip(roi * (1 - a[..., None]) + 255.0 * a[..., None], 0, 255).astype(np.uint8)
