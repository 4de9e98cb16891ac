"""The ground seen from above: an orthophoto of the world (water, bank, footpath, trees) built once.

North-up, `res` metres per pixel, covering what the flight can see.  Textures are defined in metres,
so a scene looks the same at any render size.  The alpha channel marks open water (for the animated
sun glitter).  A coarser copy (area-averaged) serves the far, oblique part of a frame without aliasing.
Trees are flat in the orthophoto: they do not hide actors (scenario authors keep them apart, and the
builder keeps trees off the actors' paths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from simulator.lighting import Look
from simulator.sites.base import smooth_noise

LEVEL_STEP = 3  # each coarser level averages 3x3 pixels of the previous one


@dataclass
class Ortho:
    levels: list[np.ndarray]  # BGRA uint8, finest first
    res: list[float]  # metres per pixel of each level
    west: float  # east coordinate of the left edge (m)
    north: float  # north coordinate of the top edge (m)
    far: tuple[int, int, int, int]  # colour beyond the orthophoto

    @property
    def shape(self) -> tuple[int, int]:
        return self.levels[0].shape[:2]


def _cells(h: int, w: int, res: float, metres: float) -> tuple[int, int]:
    """Grid size for smooth noise with features about `metres` apart."""
    return max(int(h * res / metres), 2), max(int(w * res / metres), 2)


def _mix(planes: list[np.ndarray], color, f: np.ndarray) -> None:
    """planes = planes * (1 - f) + color * f, per colour plane (HxW float32, f in 0..1)."""
    for p, c in zip(planes, color, strict=True):
        tmp = p - np.float32(c)
        tmp *= f
        p -= tmp


def _scale(planes: list[np.ndarray], f: np.ndarray) -> None:
    for p in planes:
        p *= f


class _Canvas:
    """Pixel geometry of the orthophoto: ENU metres to pixel coordinates (cv2 fixed point)."""

    def __init__(self, west: float, north: float, res: float, h: int, w: int):
        self.west, self.north, self.res, self.h, self.w = west, north, res, h, w

    def px(self, en) -> np.ndarray:
        a = np.asarray(en, np.float64).reshape(-1, 2)
        return np.stack([(a[:, 0] - self.west) / self.res - 0.5, (self.north - a[:, 1]) / self.res - 0.5], 1)

    def fixed(self, en) -> np.ndarray:
        return np.rint(self.px(en) * 16).astype(np.int32)

    def mask(self, polygon, aa: bool = True) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        cv2.fillPoly(m, [self.fixed(polygon)], 255, cv2.LINE_AA if aa else cv2.LINE_8, 4)
        return m


def build_ortho(polygons: dict[str, np.ndarray], extent: tuple[float, float, float, float], res: float,
                lighting: str, rng: np.random.Generator, sun: tuple[float, float],
                keep_clear: list[np.ndarray], clutter: float = 1.0) -> Ortho:
    """Paint the world; polygons are ENU arrays (m), extent (west, south, east, north) in metres."""
    west, south, east, north = extent
    w, h = int(math.ceil((east - west) / res)), int(math.ceil((north - south) / res))
    cv = _Canvas(west, north, res, h, w)
    water = cv.mask(polygons["water"])
    shore = cv.mask(polygons["shore"])
    path = cv.mask(polygons["path"]) if "path" in polygons else np.zeros((h, w), np.uint8)
    wet = (water > 127).astype(np.uint8)
    d_land = cv2.distanceTransform(1 - wet, cv2.DIST_L2, 5) * res  # metres from the water, on land
    d_water = cv2.distanceTransform(wet, cv2.DIST_L2, 5) * res  # metres from the bank, on water

    planes = _land(h, w, res, rng, shore, path, d_land)
    _water(planes, h, w, res, rng, water, d_water)
    img = cv2.merge([np.clip(p, 0, 255, out=p).astype(np.uint8) for p in planes])
    del planes
    _ripples(img, cv, rng, wet, res)
    _reeds(img, cv, rng, wet, d_water, d_land, res)
    clear = np.zeros((h, w), np.uint8)
    for line in keep_clear:
        cv2.polylines(clear, [cv.fixed(line)], False, 255, max(1, int(8 / res)), cv2.LINE_8, 4)
    _trees(img, cv, rng, d_land, path, shore, clear, res, sun, clutter, 0.55 if lighting == "day" else 0.3)

    img = _light(img, wet, lighting)
    bgra = np.dstack([img, water])
    levels, ress = [bgra], [res]
    while min(levels[-1].shape[:2]) > 64 * LEVEL_STEP and len(levels) < 3:
        prev = levels[-1]
        levels.append(cv2.resize(prev, (prev.shape[1] // LEVEL_STEP, prev.shape[0] // LEVEL_STEP),
                                 interpolation=cv2.INTER_AREA))
        ress.append(ress[-1] * prev.shape[1] / levels[-1].shape[1])
    for lv in levels:
        lv.setflags(write=False)
    far = tuple(int(v) for v in cv2.mean(img, (wet == 0).astype(np.uint8))[:3]) + (0,)
    return Ortho(levels, ress, west, north, far)  # type: ignore[arg-type]


def _land(h, w, res, rng, shore, path, d_land) -> list[np.ndarray]:
    """Grass with worn and dry patches, a trampled bank with mud at the waterline, a gravel path."""
    img = [np.full((h, w), c, np.float32) for c in (58, 122, 84)]
    big = smooth_noise(rng, h, w, _cells(h, w, res, 30))
    mid = smooth_noise(rng, h, w, _cells(h, w, res, 5))
    fine = smooth_noise(rng, h, w, _cells(h, w, res, 0.8))
    _scale(img, 1 + 0.14 * big + 0.10 * mid + 0.07 * fine)
    dry = np.clip(smooth_noise(rng, h, w, _cells(h, w, res, 12)) * 1.6 - 0.35, 0, 1) * 0.55
    _mix(img, (72, 148, 150), dry)
    worn = (shore.astype(np.float32) / 255) * np.clip(0.45 + 0.4 * smooth_noise(rng, h, w, _cells(h, w, res, 4)), 0, 1)
    _mix(img, (86, 122, 138), worn * 0.6)
    mud_w = 1.6 + 1.2 * smooth_noise(rng, h, w, _cells(h, w, res, 9))
    _mix(img, (70, 92, 110), np.clip((mud_w - d_land) / 0.8, 0, 1))
    _mix(img, (52, 66, 76), np.clip((0.5 - d_land) / 0.5, 0, 1) * 0.7)  # wet edge
    p = path.astype(np.float32) / 255
    _mix(img, (148, 166, 178), p)
    edge = cv2.GaussianBlur(p, (0, 0), max(0.25 / res, 0.5))
    _mix(img, (90, 112, 120), np.clip(edge * (1 - p) * 2.5, 0, 1) * 0.5)
    grain = rng.standard_normal((h, w), np.float32) * 7
    for plane in img:
        plane += grain
    img[1] += rng.standard_normal((h, w), np.float32) * 3  # a little colour grain (green-magenta)
    return img


def _water(img, h, w, res, rng, water, d_water) -> None:
    """Shallow, sediment-coloured water at the bank, darker deep water, wind streaks and sky sheen."""
    a = water.astype(np.float32) / 255
    col = [np.full((h, w), c, np.float32) for c in (96, 118, 104)]  # shallow
    _mix(col, (98, 82, 44), np.sqrt(np.clip(d_water / 25.0, 0, 1)))  # deep
    streak = smooth_noise(rng, h, w, (max(int(h * res / 5), 2), max(int(w * res / 40), 2)))
    sheen = smooth_noise(rng, h, w, _cells(h, w, res, 60))
    mod = 1 + 0.06 * streak + 0.08 * sheen
    mod += rng.standard_normal((h, w), np.float32) * 0.025
    _scale(col, mod)
    _mix(col, (150, 160, 160), np.clip((0.4 - d_water) / 0.4, 0, 1) * (d_water > 0) * 0.5)  # lapping edge
    for p, c in zip(img, col, strict=True):
        c -= p
        c *= a
        p += c


def _ripples(img, cv, rng, wet, res) -> None:
    """Short wave crests across the wind (the wind blows along east): a brightness texture on the water."""
    ys, xs = np.nonzero(wet[::8, ::8])
    if not len(ys):
        return
    layer = np.full(wet.shape, 128, np.uint8)
    n = int(len(ys) * 64 * res * res / 2.5)  # one crest per ~2.5 m² of water
    pick = rng.integers(0, len(ys), n)
    x = xs[pick] * 8 + rng.uniform(0, 8, n)
    y = ys[pick] * 8 + rng.uniform(0, 8, n)
    half = rng.uniform(0.12, 0.45, n) / res
    slant = rng.uniform(-0.3, 0.3, n)
    level = np.where(rng.random(n) < 0.5, rng.integers(140, 158, n), rng.integers(104, 118, n))
    th = max(1, int(round(0.08 / res)))
    for xi, yi, hl, sl, lv in zip(x, y, half, slant, level, strict=True):
        cv2.line(layer, (int((xi - sl * hl) * 16), int((yi - hl) * 16)), (int((xi + sl * hl) * 16), int((yi + hl) * 16)),
                 int(lv), th, cv2.LINE_AA, 4)
    gain = cv2.blur(layer, (3, 3)).astype(np.float32) / 128.0
    gain[wet == 0] = 1.0
    img[:] = np.clip(img * gain[..., None], 0, 255).astype(np.uint8)


def _reeds(img, cv, rng, wet, d_water, d_land, res) -> None:
    """Clumps of reeds in the shallows and at the water's edge."""
    edge = np.nonzero((d_water[::6, ::6] > 0) & (d_water[::6, ::6] < 2.5))
    if not len(edge[0]):
        return
    n = max(int(len(edge[0]) * 36 * res * res / 120), 1)
    for k in rng.integers(0, len(edge[0]), n):
        cy, cx = edge[0][k] * 6, edge[1][k] * 6
        r = rng.uniform(0.8, 2.2) / res
        for _ in range(int(rng.integers(25, 60))):
            a, d = rng.uniform(0, 2 * np.pi), r * np.sqrt(rng.random())
            x, y = cx + d * np.cos(a), cy + d * np.sin(a)
            g = rng.uniform(0.7, 1.3)
            c = (int(38 * g), int(92 * g), int(70 * g)) if rng.random() < 0.7 else (int(60 * g), int(130 * g), int(120 * g))
            ln = rng.uniform(0.15, 0.4) / res
            cv2.line(img, (int(x * 16), int(y * 16)), (int((x + ln * 0.3) * 16), int((y - ln) * 16)), c,
                     max(1, int(0.06 / res)), cv2.LINE_AA, 4)


def _trees(img, cv, rng, d_land, path, shore, clear, res, sun, clutter, shade_alpha: float) -> None:
    """Trees and bushes on the land, off the path, the bank strip and the actors' ways, with shadows."""
    if clutter <= 0:
        return
    h, w = d_land.shape
    free = (d_land[::4, ::4] > 6) & (path[::4, ::4] < 30) & (shore[::4, ::4] < 30) & (clear[::4, ::4] == 0)
    ys, xs = np.nonzero(free)
    if not len(ys):
        return
    area = len(ys) * 16 * res * res
    az, el = math.radians(sun[0]), math.radians(sun[1])
    sdx, sdy = -math.sin(az), math.cos(az)  # shadow direction in pixel axes (x east, y south)
    spots = []
    for k in rng.integers(0, len(ys), int(clutter * area / 450)):
        x, y = xs[k] * 4 + rng.uniform(0, 4), ys[k] * 4 + rng.uniform(0, 4)
        spots.append((x, y))
        for _ in range(int(rng.integers(0, 4)) if rng.random() < 0.5 else 0):  # groups of trees
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(3, 7) / res
            px, py = x + d * np.cos(a), y + d * np.sin(a)
            if 0 <= px < w and 0 <= py < h and free[min(int(py) // 4, free.shape[0] - 1), min(int(px) // 4, free.shape[1] - 1)]:
                spots.append((px, py))
    for x, y in spots:
        bush = rng.random() < 0.4
        r = (rng.uniform(0.5, 1.2) if bush else rng.uniform(1.6, 3.8)) / res
        tall = (rng.uniform(0.8, 1.6) if bush else rng.uniform(5, 10)) / res
        reach = min(tall / math.tan(el), 4 * r) if el > 0 else 0
        roi = _roi(x, y, r + reach + 4, w, h) if reach else None
        if roi:
            x1, y1, x2, y2 = roi
            sub = img[y1:y2, x1:x2]
            over = sub.copy()
            p0 = (x + sdx * reach * 0.55 - x1, y + sdy * reach * 0.55 - y1)
            cv2.ellipse(over, (int(p0[0] * 16), int(p0[1] * 16)), (int((r + reach * 0.45) * 16), int(r * 0.95 * 16)),
                        math.degrees(math.atan2(sdy, sdx)), 0, 360, (30, 50, 40), -1, cv2.LINE_AA, 4)
            cv2.addWeighted(sub, 1 - shade_alpha, over, shade_alpha, 0, dst=sub)
        g = rng.uniform(0.8, 1.15)
        base = (int(38 * g), int(84 * g), int(46 * g)) if not bush else (int(44 * g), int(104 * g), int(70 * g))
        for _ in range(int(rng.integers(5, 10))):
            a, d = rng.uniform(0, 2 * np.pi), r * 0.45 * np.sqrt(rng.random())
            rr = r * rng.uniform(0.45, 0.7)
            cv2.circle(img, (int((x + d * np.cos(a)) * 16), int((y + d * np.sin(a)) * 16)), int(rr * 16), base, -1,
                       cv2.LINE_AA, 4)
        lit = tuple(int(min(c * 1.45, 255)) for c in base)
        for _ in range(int(rng.integers(4, 9))):
            a, d = rng.uniform(0, 2 * np.pi), r * 0.5 * np.sqrt(rng.random())
            px, py = x + d * np.cos(a) - sdx * r * 0.25, y + d * np.sin(a) - sdy * r * 0.25
            cv2.circle(img, (int(px * 16), int(py * 16)), int(r * rng.uniform(0.12, 0.28) * 16), lit, -1, cv2.LINE_AA, 4)


def _roi(x, y, r, w, h):
    x1, y1, x2, y2 = max(int(x - r), 0), max(int(y - r), 0), min(int(x + r) + 2, w), min(int(y + r) + 2, h)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _light(img: np.ndarray, wet: np.ndarray, lighting: str) -> np.ndarray:
    """Day as painted; dusk through the fixed camera's dusk look; night a dim grey IR picture."""
    if lighting == "dusk":
        return Look("dusk").apply(img)
    if lighting == "night":
        f = img.astype(np.float32)
        g = (0.6 * f.mean(axis=2) + 0.4 * f.max(axis=2)) * 0.5 + 5
        g *= np.where(wet > 0, 0.55, 1.0).astype(np.float32)
        g = np.clip(g, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    return img
