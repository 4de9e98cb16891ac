"""What every site template provides: regions, the perspective law, a background and its animation."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Polygon = list[tuple[float, float]]


@dataclass
class Background:
    """A rendered static scene (already in the scenario's lighting) plus what animates on it."""

    image: np.ndarray
    # Rows [water_y0, water_y1) are open water that ripples (None: nothing animates).
    water_y0: int | None = None
    water_y1: int | None = None
    glints: list[np.ndarray] = field(default_factory=list)  # additive uint8 layers, wider than the frame
    ripple_amp: np.ndarray | None = None  # per-row horizontal ripple amplitude (px)


class Site:
    """A site template.  Subclasses set the constants and implement build()."""

    name = ""
    regions: dict[str, Polygon] = {}
    # Product zone name -> region it corresponds to.
    zones: dict[str, str] = {}
    # Perspective law: a 1.7 m person with feet at relative y is slope * (y - horizon) image heights tall.
    horizon = 0.0
    slope = 0.1

    def person_height(self, y: float) -> float:
        """Height of a 1.7 m person standing at relative y, as a fraction of the image height."""
        return max(self.slope * (y - self.horizon), 0.01)

    def person_px(self, y: float, h: int) -> float:
        return self.person_height(y) * h

    def px_per_m(self, y: float, h: int) -> float:
        return self.person_height(y) * h / 1.7

    def build(self, w: int, h: int, lighting: str, rng: np.random.Generator, look) -> Background:
        raise NotImplementedError

    def region_mask(self, name: str, w: int, h: int) -> np.ndarray:
        m = np.zeros((h, w), np.uint8)
        pts = np.array([(x * w, y * h) for x, y in self.regions[name]], np.int32)
        cv2.fillPoly(m, [pts], 255)
        return m


# ------------------------------------------------------------------ painting helpers


def vgrad(img: np.ndarray, y0: int, y1: int, c0, c1) -> None:
    """Vertical colour gradient over rows [y0, y1)."""
    n = max(y1 - y0, 1)
    f = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    col = np.asarray(c0, np.float32) * (1 - f) + np.asarray(c1, np.float32) * f
    img[y0:y1] = col[:, None, :].astype(np.uint8)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (a random grid, bicubic upscaled)."""
    g = rng.uniform(-1, 1, (max(cells[0], 2), max(cells[1], 2))).astype(np.float32)
    return np.clip(cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC), -1, 1)


def modulate(img: np.ndarray, y0: int, y1: int, field_: np.ndarray, amount: float) -> None:
    """Multiply rows [y0, y1) by (1 + amount * field)."""
    part = img[y0:y1].astype(np.float32) * (1 + amount * field_[..., None])
    img[y0:y1] = np.clip(part, 0, 255).astype(np.uint8)


def speckle(img: np.ndarray, y0: int, y1: int, rng: np.random.Generator, amount: float) -> None:
    """Fine grain (gravel, grass, asphalt)."""
    n = rng.normal(0, amount, (y1 - y0, img.shape[1], 1)).astype(np.float32)
    img[y0:y1] = np.clip(img[y0:y1].astype(np.float32) + n, 0, 255).astype(np.uint8)


def profile(rng: np.random.Generator, w: int, base: float, amp: float, waves: int = 4) -> np.ndarray:
    """A smooth random 1-D profile (hill tops, shorelines) of length w."""
    x = np.linspace(0, 1, w, dtype=np.float32)
    y = np.zeros(w, np.float32)
    for k in range(1, waves + 1):
        y += rng.uniform(-1, 1) / k * np.sin(2 * np.pi * (k * x * rng.uniform(0.6, 1.4) + rng.uniform()))
    y /= max(np.abs(y).max(), 1e-6)
    return base + amp * y


def aa_poly(img: np.ndarray, pts, color) -> None:
    p = np.rint(np.asarray(pts, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(img, [p], tuple(int(c) for c in color), cv2.LINE_AA, 4)


def aa_line(img: np.ndarray, p, q, color, th: int = 1) -> None:
    cv2.line(img, (int(round(p[0] * 16)), int(round(p[1] * 16))), (int(round(q[0] * 16)), int(round(q[1] * 16))),
             tuple(int(c) for c in color), max(1, int(th)), cv2.LINE_AA, 4)
