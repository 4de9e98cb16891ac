"""Reservoir bank seen from a pole: sky, far hills and tree line, open water, grassy shore, footpath.

Bands (relative y): sky 0-0.20, far bank 0.20-0.30, water 0.30-0.60 (shoreline waves by < 0.01),
shore 0.60-0.80, footpath 0.80-0.92, grass to the bottom.  Region polygons are a contract: zone
configs are written from them.
"""

from __future__ import annotations

import cv2
import numpy as np

from simulator.sites.base import (
    Background,
    Site,
    aa_line,
    aa_poly,
    modulate,
    profile,
    smooth_noise,
    speckle,
    vgrad,
)

REGIONS = {
    "water": [(0.0, 0.30), (1.0, 0.30), (1.0, 0.60), (0.0, 0.60)],
    "shore": [(0.0, 0.60), (1.0, 0.60), (1.0, 0.80), (0.0, 0.80)],
    "path": [(0.0, 0.80), (1.0, 0.80), (1.0, 0.92), (0.0, 0.92)],
}

_SKY = {"day": ((228, 186, 140), (238, 222, 206)), "dusk": ((175, 120, 112), (135, 196, 255)),
        "night": ((70, 55, 50), (90, 80, 75))}
_GLINT = {"day": (70, 70, 70), "dusk": (20, 40, 62), "night": (10, 10, 10)}


class Reservoir(Site):
    name = "reservoir"
    regions = REGIONS
    zones = {"shore": "shore", "water": "water", "path": "path"}
    horizon = 0.12
    slope = 0.26  # person 94 px tall at the shoreline, 138 px on the path, 37 px at the far bank (720p)

    def build(self, w: int, h: int, lighting: str, rng: np.random.Generator, look) -> Background:
        k = h / 720.0
        img = np.zeros((h, w, 3), np.uint8)
        Y = lambda r: int(round(r * h))  # noqa: E731
        xs = np.arange(w)

        # Sky and clouds.
        vgrad(img, 0, Y(0.31), *_SKY[lighting])
        if lighting != "night":
            sky = img[: Y(0.24)].copy()
            for _ in range(int(rng.integers(3, 8))):
                c = (int(rng.uniform(0, w)), int(rng.uniform(0.02, 0.15) * h))
                ax = (int(rng.uniform(60, 200) * k), int(rng.uniform(8, 22) * k))
                cv2.ellipse(sky, c, ax, 0, 0, 360, (246, 246, 246) if lighting == "day" else (170, 200, 240), -1)
            sky = cv2.GaussianBlur(sky, (0, 0), 9 * k)
            img[: Y(0.24)] = cv2.addWeighted(img[: Y(0.24)], 0.45, sky, 0.55, 0)

        # Far hills (hazy), nearer hills, tree line, far bank.
        far = profile(rng, w, 0.185, 0.03, 5) * h
        near = profile(rng, w, 0.235, 0.018, 6) * h
        hills = img.copy()
        for top, col in ((far, (150, 158, 140)), (near, (88, 118, 86))):
            pts = np.concatenate([np.stack([xs, top], 1), [[w - 1, Y(0.30)], [0, Y(0.30)]]])
            aa_poly(hills, pts, col)
        modulate(hills, Y(0.12), Y(0.30), smooth_noise(rng, Y(0.30) - Y(0.12), w, (6, 40)), 0.10)
        hm = np.zeros((h, w), np.uint8)
        aa_poly(hm, np.concatenate([np.stack([xs, far], 1), [[w - 1, Y(0.30)], [0, Y(0.30)]]]), (255,))
        a = hm[..., None].astype(np.float32) / 255
        img[:] = (img * (1 - a) + hills * a).astype(np.uint8)
        tree = profile(rng, w, 0.275, 0.008, 8) * h
        cv2.rectangle(img, (0, int(tree.min() + 6 * k)), (w, Y(0.295)), (48, 86, 52), -1)
        for _ in range(int(w * 0.9)):
            x = rng.uniform(0, w)
            r = rng.uniform(3, 9) * k
            yy = tree[min(int(x), w - 1)] + r * 0.6
            g = rng.uniform(0.75, 1.25)
            cv2.circle(img, (int(x), int(yy)), max(int(r), 1), (int(40 * g), int(82 * g), int(48 * g)), -1,
                       cv2.LINE_AA)
        for _ in range(int(rng.integers(2, 6))):  # far houses
            x, y = rng.uniform(0.03, 0.97) * w, rng.uniform(0.262, 0.285) * h
            bw, bh = rng.uniform(10, 22) * k, rng.uniform(6, 10) * k
            cv2.rectangle(img, (int(x), int(y)), (int(x + bw), int(y + bh)), (225, 228, 230), -1)
            roof = (60, 60, 150) if rng.random() < 0.5 else (90, 90, 95)
            aa_poly(img, [(x - 2 * k, y), (x + bw + 2 * k, y), (x + bw * 0.8, y - 4 * k), (x + bw * 0.2, y - 4 * k)], roof)
        vgrad(img, Y(0.292), Y(0.30), (95, 128, 140), (85, 112, 120))

        # Water: sky-lit far water, darker near water, reflection of the far bank, wind patches.
        shore = profile(rng, w, 0.60, 0.009, 6) * h
        y_end = int(shore.max()) + 2
        vgrad(img, Y(0.30), y_end, (178, 166, 146), (112, 104, 72))
        refl_h = Y(0.30) - Y(0.19)
        refl = cv2.flip(img[Y(0.19): Y(0.30)], 0)
        refl = cv2.resize(refl, (w, int(refl_h * 1.15)))
        refl = cv2.blur(refl, (int(9 * k) | 1, 3))
        r0 = Y(0.30)
        r1 = min(r0 + refl.shape[0], y_end)
        fade = np.linspace(0.55, 0.0, r1 - r0, dtype=np.float32)[:, None, None]
        part = img[r0:r1].astype(np.float32)
        img[r0:r1] = (part * (1 - fade) + refl[: r1 - r0].astype(np.float32) * 0.8 * fade).astype(np.uint8)
        modulate(img, r0, y_end, smooth_noise(rng, y_end - r0, w, (5, 14)), 0.07)
        for _ in range(int(400 * w / 1280)):
            y = rng.uniform(r0 + 2, y_end)
            x = rng.uniform(0, w)
            ln = (8 + 40 * (y - r0) / (y_end - r0)) * k * rng.uniform(0.5, 1.5)
            c = (150, 145, 130) if rng.random() < 0.5 else (95, 90, 70)
            f = (y - r0) / (y_end - r0)
            c = tuple(int(v * (1.25 - 0.4 * f)) for v in c)
            aa_line(img, (x, y), (x + ln, y), c, 1)

        if lighting == "night":  # water swallows near-infrared: it stays dark under the IR illuminator
            img[Y(0.30):y_end] = (img[Y(0.30):y_end] * 0.65).astype(np.uint8)

        # Shore: grass with mud near the water, stones along the waterline.
        land = np.zeros((h - Y(0.58), w, 3), np.uint8)
        land[:] = (62, 132, 98)
        lh = land.shape[0]
        modulate(land, 0, lh, smooth_noise(rng, lh, w, (6, 18)), 0.18)
        dry = np.clip(smooth_noise(rng, lh, w, (8, 24)) * 1.5 - 0.2, 0, 1)[..., None] * 0.6
        land = (land * (1 - dry) + np.array((70, 150, 150), np.float32) * dry).astype(np.uint8)
        rows = np.arange(lh)[:, None] + Y(0.58)
        mud_w = profile(rng, w, 0.022, 0.016, 9) * h
        mud = (rows - shore[None, :]) < mud_w[None, :]
        mud_col = np.array((74, 100, 118), np.float32) * (1 + 0.12 * smooth_noise(rng, lh, w, (4, 40)))[..., None]
        land[mud] = mud_col[mud].astype(np.uint8)
        speckle(land, 0, lh, rng, 7)
        for _ in range(int(5000 * w / 1280)):
            x, y = rng.uniform(0, w), rng.uniform(0, lh)
            ln = (2 + 6 * y / lh) * k
            d = rng.uniform(-0.3, 0.3)
            c = (40, 95, 70) if rng.random() < 0.6 else (100, 175, 150)
            aa_line(land, (x, y), (x + d * ln, y - ln), c, 1)
        mask = rows >= shore[None, :]
        img[Y(0.58):][mask] = land[mask]
        edge = np.stack([xs, shore], 1)
        cv2.polylines(img, [np.rint(edge * 16).astype(np.int32)], False, (60, 72, 80), max(2, int(3 * k)),
                      cv2.LINE_AA, 4)
        cv2.polylines(img, [np.rint((edge - (0, 2.5 * k)) * 16).astype(np.int32)], False, (190, 192, 186), 1,
                      cv2.LINE_AA, 4)
        for _ in range(int(60 * w / 1280)):
            x = rng.uniform(0, w)
            y = shore[min(int(x), w - 1)] + rng.uniform(0, 8) * k
            g = int(rng.uniform(100, 170))
            cv2.ellipse(img, (int(x), int(y)), (int(rng.uniform(2, 6) * k) + 1, int(rng.uniform(1, 3) * k) + 1), 0,
                        0, 360, (g, g, g + 5), -1, cv2.LINE_AA)

        # Footpath: compacted gravel with concrete edging and slab joints.
        p0, p1 = Y(0.80), Y(0.92)
        vgrad(img, p0, p1, (150, 168, 180), (160, 176, 188))
        modulate(img, p0, p1, smooth_noise(rng, p1 - p0, w, (3, 20)), 0.08)
        speckle(img, p0, p1, rng, 9)
        for y in (p0, p1):
            cv2.line(img, (0, y), (w, y), (196, 200, 204), max(2, int(3 * k)), cv2.LINE_AA)
        step = 0.09 * w
        x = rng.uniform(0, step)
        while x < w:
            aa_line(img, (x, p0), (x + (x - w / 2) * 0.08, p1), (128, 140, 150), 1)
            x += step

        img = look.apply(img)
        if lighting == "night":
            for _ in range(int(rng.integers(1, 4))):  # lit windows on the far bank
                x, y = rng.uniform(0.05, 0.95) * w, rng.uniform(0.265, 0.285) * h
                cv2.circle(img, (int(x), int(y)), max(1, int(2 * k)), (200, 200, 200), -1, cv2.LINE_AA)

        # Animation layers: drifting glints, ripple amplitude growing towards the camera.
        wy0, wy1 = Y(0.305), int(shore.min()) - 2
        pad = int(64 * w / 1280)
        glints = []
        gcol = np.array(_GLINT[lighting], np.float32)
        for _ in range(4):
            layer = np.zeros((wy1 - wy0, w + pad, 3), np.uint8)
            for _ in range(int(700 * w / 1280)):
                y = rng.uniform(0, wy1 - wy0)
                d = y / (wy1 - wy0)
                x = rng.uniform(0, w + pad)
                ln = (2 + 12 * d) * k * rng.uniform(0.5, 1.5)
                c = tuple(int(v) for v in gcol * rng.uniform(0.4, 1.0))
                aa_line(layer, (x, y), (x + ln, y), c, 1 if d < 0.6 else 2)
            glints.append(layer)
        amp = (0.4 + 1.8 * np.linspace(0, 1, wy1 - wy0, dtype=np.float32)) * (w / 1280)
        return Background(img, wy0, wy1, glints, amp)
