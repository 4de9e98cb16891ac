"""Market street seen across from a pole: shop fronts, far sidewalk, road, near sidewalk.

Bands (relative y): buildings 0-0.38, far sidewalk 0.38-0.48 (designated market area for x 0.60-1.0),
road 0.48-0.80 with the fire lane 0.48-0.56, centre line at 0.66, parking bays 0.72-0.80 for
x 0.05-0.45, near sidewalk 0.80-1.0.  Region polygons are a contract: zone configs are written from them.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

from simulator.palette import BRIGHT, pick
from simulator.sites.base import Background, Site, aa_line, aa_poly, modulate, smooth_noise, speckle, vgrad

REGIONS = {
    "far_sidewalk": [(0.0, 0.38), (1.0, 0.38), (1.0, 0.48), (0.0, 0.48)],
    "fire_lane": [(0.0, 0.48), (1.0, 0.48), (1.0, 0.56), (0.0, 0.56)],
    "road": [(0.0, 0.48), (1.0, 0.48), (1.0, 0.80), (0.0, 0.80)],
    "parking_bays": [(0.05, 0.72), (0.45, 0.72), (0.45, 0.80), (0.05, 0.80)],
    "near_sidewalk": [(0.0, 0.80), (1.0, 0.80), (1.0, 1.0), (0.0, 1.0)],
    "market_area": [(0.60, 0.38), (1.0, 0.38), (1.0, 0.48), (0.60, 0.48)],
}

_FACADES = [(200, 214, 226), (226, 226, 224), (188, 188, 204), (206, 200, 186), (168, 200, 230), (176, 178, 180),
            (150, 170, 198), (210, 220, 200), (190, 205, 215)]
_YELLOW = (40, 200, 232)
_WHITE = (228, 230, 230)


def _text(img, x0, y0, x1, y1, rng, color) -> None:
    """Shop-sign lettering: random capitals fitted into a box."""
    n = int(rng.integers(3, 9))
    txt = "".join(rng.choice(list(string.ascii_uppercase), n))
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(txt, font, 1.0, 2)
    s = min((x1 - x0) * 0.85 / tw, (y1 - y0) * 0.7 / th)
    if s <= 0.05:
        return
    (tw, th), _ = cv2.getTextSize(txt, font, s, max(1, int(2 * s)))
    org = (int((x0 + x1 - tw) / 2), int((y0 + y1 + th) / 2))
    cv2.putText(img, txt, org, font, s, color, max(1, int(2 * s)), cv2.LINE_AA)


def _tiles(img, y0, y1, w, rng, size_px, joint) -> None:
    """Paving joints: rows spaced by perspective, columns fanning out from the image centre."""
    y = float(y0)
    while y < y1:
        cv2.line(img, (0, int(y)), (w, int(y)), joint, 1, cv2.LINE_AA)
        y += size_px * (0.55 + 0.45 * (y - y0) / max(y1 - y0, 1)) * 0.5
    x = rng.uniform(0, size_px)
    while x < w + size_px:
        aa_line(img, (x, y0), (x + (x - w / 2) * 0.12 * (y1 - y0) / img.shape[0] * 4, y1), joint, 1)
        x += size_px


class Market(Site):
    name = "market"
    regions = REGIONS
    zones = {"no_stall": "near_sidewalk", "fire_lane": "fire_lane", "road": "road",
             "far_sidewalk": "far_sidewalk", "market_area": "market_area", "parking_bays": "parking_bays",
             "near_sidewalk": "near_sidewalk"}
    horizon = -0.36
    slope = 0.11  # person 63 px on the far sidewalk, 90 px at the near curb, 104 px at the bottom (720p)

    def build(self, w: int, h: int, lighting: str, rng: np.random.Generator, look) -> Background:
        k = h / 720.0
        img = np.zeros((h, w, 3), np.uint8)
        Y = lambda r: int(round(r * h))  # noqa: E731
        sky = {"day": ((225, 190, 150), (235, 220, 205)), "dusk": ((170, 120, 115), (140, 195, 250)),
               "night": ((60, 50, 45), (70, 60, 55))}[lighting]
        vgrad(img, 0, Y(0.10), *sky)
        lit: list[tuple[int, int, int, int]] = []

        # Shop houses.
        x = -rng.uniform(0, 0.05) * w
        while x < w:
            sw = rng.uniform(0.10, 0.21) * w
            x0, x1 = int(x), int(x + sw)
            top = Y(rng.uniform(0.0, 0.05))
            fac = pick(rng, _FACADES)
            cv2.rectangle(img, (x0, top), (x1, Y(0.38)), fac, -1)
            cv2.rectangle(img, (x0, top), (x1, top + max(2, int(4 * k))), tuple(int(c * 0.7) for c in fac), -1)
            # upper-floor windows
            nwin = max(1, int(sw / (70 * k)))
            ww = sw / nwin
            for i in range(nwin):
                wx0, wx1 = x0 + i * ww + ww * 0.2, x0 + (i + 1) * ww - ww * 0.2
                wy0, wy1 = Y(0.07) + top * 0.3, Y(0.175)
                cv2.rectangle(img, (int(wx0) - 2, int(wy0) - 2), (int(wx1) + 2, int(wy1) + 2), (235, 235, 235), -1)
                glass = (95, 85, 70) if rng.random() < 0.7 else (140, 130, 110)
                cv2.rectangle(img, (int(wx0), int(wy0)), (int(wx1), int(wy1)), glass, -1)
                aa_line(img, ((wx0 + wx1) / 2, wy0), ((wx0 + wx1) / 2, wy1), (200, 200, 200), max(1, int(2 * k)))
                aa_line(img, (wx0 + 3 * k, wy1 - 4 * k), (wx0 + (wx1 - wx0) * 0.4, wy0 + 4 * k), (170, 160, 150), 1)
                if lighting == "night" and rng.random() < 0.35:
                    lit.append((int(wx0), int(wy0), int(wx1), int(wy1)))
                if rng.random() < 0.3:  # air conditioner
                    ax = wx0 + rng.uniform(0, 0.4) * (wx1 - wx0)
                    cv2.rectangle(img, (int(ax), int(wy1 + 4 * k)), (int(ax + 22 * k), int(wy1 + 16 * k)), (222, 224, 224), -1)
            # sign board with lettering
            sy0, sy1 = Y(0.19), Y(0.245)
            scol = pick(rng, BRIGHT + [(40, 40, 180), (150, 60, 20), (30, 110, 30)])
            cv2.rectangle(img, (x0 + 3, sy0), (x1 - 3, sy1), scol, -1)
            tcol = (240, 240, 240) if sum(scol) < 450 else (30, 30, 140)
            _text(img, x0 + 3, sy0, x1 - 3, sy1, rng, tcol)
            if lighting == "night" and rng.random() < 0.6:
                lit.append((x0 + 3, sy0, x1 - 3, sy1))
            # shop front
            fy0, fy1 = Y(0.25), Y(0.375)
            kind = rng.choice(["shutter", "glass", "open", "half"])
            if kind in ("shutter", "half"):
                cv2.rectangle(img, (x0 + 4, fy0), (x1 - 4, fy1), (172, 172, 170), -1)
                for yy in range(fy0, fy1, max(3, int(4 * k))):
                    cv2.line(img, (x0 + 4, yy), (x1 - 4, yy), (140, 140, 140), 1)
                if kind == "half":
                    cv2.rectangle(img, (x0 + 4, (fy0 + fy1) // 2), (x1 - 4, fy1), (48, 46, 44), -1)
            else:
                cv2.rectangle(img, (x0 + 4, fy0), (x1 - 4, fy1), (60, 56, 52) if kind == "open" else (90, 82, 72), -1)
                for sy in np.linspace(fy0 + 8 * k, fy1 - 6 * k, 4):
                    for sx in np.arange(x0 + 8, x1 - 8, 7 * k):
                        if rng.random() < 0.75:
                            cv2.rectangle(img, (int(sx), int(sy - 5 * k)), (int(sx + 5 * k), int(sy)), pick(rng, BRIGHT), -1)
                if kind == "glass":
                    dx0 = int(x0 + sw * rng.uniform(0.3, 0.55))
                    cv2.rectangle(img, (dx0, fy0 + int(6 * k)), (dx0 + int(28 * k), fy1), (120, 110, 95), 2)
                if lighting == "night":
                    lit.append((x0 + 4, fy0, x1 - 4, fy1))
            cv2.rectangle(img, (x0, Y(0.06)), (x0 + max(2, int(5 * k)), Y(0.38)), tuple(int(c * 0.75) for c in fac), -1)
            if rng.random() < 0.45:  # striped awning
                a, b = pick(rng, BRIGHT), (235, 235, 235)
                n = max(4, int(sw / (22 * k)))
                for i in range(n):
                    u0, u1 = i / n, (i + 1) / n
                    pts = [(x0 + sw * u0, Y(0.245)), (x0 + sw * u1, Y(0.245)),
                           (x0 - 6 * k + (sw + 12 * k) * u1, Y(0.295)), (x0 - 6 * k + (sw + 12 * k) * u0, Y(0.295))]
                    aa_poly(img, pts, a if i % 2 else b)
                cv2.line(img, (x0 - int(6 * k), Y(0.295)), (x1 + int(6 * k), Y(0.295)), tuple(int(c * 0.6) for c in a), 2)
            x += sw
        cv2.rectangle(img, (0, Y(0.372)), (w, Y(0.38)), (120, 125, 130), -1)

        # Far sidewalk, designated market area (tinted paving, painted yellow border, lettering).
        vgrad(img, Y(0.38), Y(0.48), (176, 180, 186), (186, 190, 196))
        m0 = int(0.60 * w)
        img[Y(0.38): Y(0.48), m0:] = (img[Y(0.38): Y(0.48), m0:].astype(np.int16) + (-22, -12, 18)).clip(0, 255)
        _tiles(img, Y(0.38), Y(0.475), w, rng, 46 * k, (150, 152, 158))
        bt = max(2, int(4 * k))
        cv2.rectangle(img, (m0 + bt // 2, Y(0.383)), (w + 10, Y(0.471)), _YELLOW, bt, cv2.LINE_AA)
        for i, xx in enumerate(np.arange(m0 + 30 * k, w, 150 * k)):
            if i % 2 == 0:
                cv2.putText(img, "MARKET", (int(xx), Y(0.46)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * k, _YELLOW,
                            max(1, int(2 * k)), cv2.LINE_AA)
        vgrad(img, Y(0.472), Y(0.48), (205, 205, 205), (160, 160, 160))

        # Road: asphalt, fire lane with yellow hatching, dashed centre line, parking bays.
        r0, r1 = Y(0.48), Y(0.79)
        vgrad(img, r0, r1, (84, 86, 90), (78, 80, 84))
        modulate(img, r0, r1, smooth_noise(rng, r1 - r0, w, (5, 16)), 0.10)
        speckle(img, r0, r1, rng, 6)
        for _ in range(int(rng.integers(2, 6))):
            px, py = rng.uniform(0, w), rng.uniform(0.58, 0.76) * h
            cv2.rectangle(img, (int(px), int(py)), (int(px + rng.uniform(40, 140) * k), int(py + rng.uniform(10, 30) * k)),
                          (66, 68, 70), -1)
        f0, f1 = Y(0.487), Y(0.553)
        lt = max(2, int(4 * k))
        for yy in (f0, f1):
            cv2.line(img, (0, yy), (w, yy), _YELLOW, lt, cv2.LINE_AA)
        step = 34 * k
        xx = -rng.uniform(0, step)
        while xx < w + step:
            aa_line(img, (xx, f1), (xx + (f1 - f0) * 0.9, f0), _YELLOW, max(2, int(3 * k)))
            xx += step
        for xx in np.arange(rng.uniform(0.05, 0.2) * w, w, 0.45 * w):
            bw = 150 * k
            cv2.rectangle(img, (int(xx), f0 + lt), (int(xx + bw), f1 - lt), (82, 84, 88), -1)
            cv2.putText(img, "FIRE LANE", (int(xx + 8 * k), int((f0 + f1) / 2 + 9 * k)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.75 * k, _YELLOW, max(1, int(2 * k)), cv2.LINE_AA)
        cy = Y(0.66)
        xx = -rng.uniform(0, 0.09) * w
        while xx < w:
            cv2.line(img, (int(xx), cy), (int(xx + 0.05 * w), cy), _WHITE, max(2, int(4 * k)), cv2.LINE_AA)
            xx += 0.09 * w
        bl = max(2, int(3 * k))
        cv2.line(img, (int(0.05 * w), Y(0.72)), (int(0.45 * w), Y(0.72)), _WHITE, bl, cv2.LINE_AA)
        for bx in (0.05, 0.25, 0.45):
            cv2.line(img, (int(bx * w), Y(0.72)), (int(bx * w), Y(0.795)), _WHITE, bl, cv2.LINE_AA)
        for bx in (0.15, 0.35):
            cv2.putText(img, "P", (int(bx * w - 9 * k), Y(0.772)), cv2.FONT_HERSHEY_SIMPLEX, 1.0 * k, _WHITE,
                        max(1, int(3 * k)), cv2.LINE_AA)
        vgrad(img, Y(0.79), Y(0.80), (200, 200, 200), (225, 225, 225))

        # Near sidewalk with a tactile strip.
        n0 = Y(0.80)
        vgrad(img, n0, h, (176, 180, 184), (168, 172, 178))
        modulate(img, n0, h, smooth_noise(rng, h - n0, w, (4, 12)), 0.05)
        speckle(img, n0, h, rng, 4)
        _tiles(img, n0, h, w, rng, 80 * k, (140, 142, 148))
        t0, t1 = Y(0.835), Y(0.86)
        cv2.rectangle(img, (0, t0), (w, t1), (40, 180, 215), -1)
        for xx in range(0, w, max(4, int(9 * k))):
            cv2.line(img, (xx, t0 + 2), (xx, t1 - 2), (30, 150, 185), 1)
        speckle(img, Y(0.38), Y(0.48), rng, 4)

        img = look.apply(img)
        for x0, y0, x1, y1 in lit:  # lit windows and signs stay bright at night
            roi = img[y0:y1, x0:x1]
            roi[:] = np.clip(roi.astype(np.int16) + int(rng.uniform(90, 150)), 0, 255).astype(np.uint8)
        return Background(img)
