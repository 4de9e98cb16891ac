"""Drawing surface that paints the image and an object-id map with the same primitives.

Labels come from the id map after everything is drawn (back to front), so a box is exactly the visible
pixels of its object: occlusion and the frame edge are accounted for without any geometry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

AA = cv2.LINE_AA
SHIFT = 4
ONE = 1 << SHIFT
SCENERY = 255  # id of unlabelled things that still hide what is behind them (occluders, stools)
MAX_OBJECTS = 250


@dataclass(frozen=True)
class Label:
    """One visible object: class name, box (x1, y1, x2, y2) in pixels, and the actor id it belongs to."""

    cls: str
    box: tuple[float, float, float, float]
    actor: str


class Canvas:
    """Holds the frame, the id map, the camera offset and the colour transform of the lighting."""

    def __init__(self, image: np.ndarray, ids: np.ndarray, offset: tuple[int, int] = (0, 0),
                 tone: Callable[[tuple, float], tuple] | None = None):
        self.img = image
        self.ids = ids
        self.h, self.w = image.shape[:2]
        self.ox, self.oy = offset
        self._tone = tone
        self.mono = False  # greyscale camera (night IR): lights are grey too
        self.light = 1.0  # per-actor illumination factor (night IR illuminator falloff)
        self.cur = 0
        self._next = 1
        self._meta: dict[int, tuple[str, str, float]] = {}
        self._drawn: dict[int, tuple[int, tuple[float, float, float, float]]] = {}
        self._bounds: dict[int, list[float]] = {}

    # ------------------------------------------------------------ objects

    def begin(self, cls: str, actor: str, min_h: float = 0.0) -> int:
        """Start drawing a labelled object; primitives until end() belong to it."""
        if self._next > MAX_OBJECTS:
            self.cur = SCENERY
            return SCENERY
        oid = self._next
        self._next += 1
        self._meta[oid] = (cls, actor, min_h)
        self.cur = oid
        self._bounds[oid] = [1e9, 1e9, -1e9, -1e9]
        return oid

    def resume(self, oid: int) -> None:
        """Continue drawing an object begun earlier (parts in front of and behind something else)."""
        self.cur = oid

    def end(self) -> None:
        oid = self.cur
        self.cur = 0
        if oid in (0, SCENERY) or self._bounds[oid][2] < self._bounds[oid][0]:
            return
        x1, y1, x2, y2 = self._bounds[oid]
        cx1, cy1 = max(int(x1), 0), max(int(y1), 0)
        cx2, cy2 = min(int(np.ceil(x2)) + 1, self.w), min(int(np.ceil(y2)) + 1, self.h)
        if cx2 <= cx1 or cy2 <= cy1:
            return
        n = int(np.count_nonzero(self.ids[cy1:cy2, cx1:cx2] == oid))
        if n:
            self._drawn[oid] = (n, (x1, y1, x2 + 1, y2 + 1))

    def scenery(self) -> None:
        """Following primitives hide things but are not labelled (until end())."""
        self.cur = SCENERY

    def image_only(self) -> None:
        self.cur = 0

    def labels(self, min_visible: float = 0.3, min_side: float = 3.0, min_area: float = 30.0) -> list[Label]:
        out = []
        for oid, (drawn, (x1, y1, x2, y2)) in self._drawn.items():
            cls, actor, min_h = self._meta[oid]
            cx1, cy1 = max(int(x1), 0), max(int(y1), 0)
            cx2, cy2 = min(int(np.ceil(x2)), self.w), min(int(np.ceil(y2)), self.h)
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            sub = self.ids[cy1:cy2, cx1:cx2] == oid
            vis = int(np.count_nonzero(sub))
            if not vis:
                continue
            in_frame = ((cx2 - cx1) * (cy2 - cy1)) / max((x2 - x1) * (y2 - y1), 1.0)
            if min(in_frame, 1.0) * vis / drawn < min_visible:
                continue
            rows = np.flatnonzero(sub.any(axis=1))
            cols = np.flatnonzero(sub.any(axis=0))
            bx1, bx2 = cx1 + cols[0], cx1 + cols[-1] + 1
            by1, by2 = cy1 + rows[0], cy1 + rows[-1] + 1
            bw, bh = bx2 - bx1, by2 - by1
            if bw < min_side or bh < min_side or bw * bh < min_area or bh < min_h:
                continue
            out.append(Label(cls, (float(bx1), float(by1), float(bx2), float(by2)), actor))
        return out

    # ------------------------------------------------------------ colour

    def col(self, c: tuple) -> tuple:
        return self._tone(c, self.light) if self._tone else c

    # ------------------------------------------------------------ primitives (float pixel coords)

    def _fix(self, pts, pad: float = 0.0) -> np.ndarray:
        a = np.asarray(pts, dtype=np.float64).reshape(-1, 2) + (self.ox, self.oy)
        if self.cur not in (0, SCENERY):
            b = self._bounds[self.cur]
            lo, hi = a.min(axis=0), a.max(axis=0)
            b[0] = min(b[0], lo[0] - pad)
            b[1] = min(b[1], lo[1] - pad)
            b[2] = max(b[2], hi[0] + pad)
            b[3] = max(b[3], hi[1] + pad)
        return np.rint(a * ONE).astype(np.int32)

    def poly(self, pts, color, mark: bool = True) -> None:
        p = self._fix(pts, 1)
        cv2.fillPoly(self.img, [p], self.col(color), AA, SHIFT)
        if mark and self.cur:
            cv2.fillPoly(self.ids, [p], self.cur, cv2.LINE_8, SHIFT)

    def polyline(self, pts, color, th: float, closed: bool = False, mark: bool = True) -> None:
        t = max(1, int(round(th)))
        p = self._fix(pts, t / 2 + 1)
        cv2.polylines(self.img, [p], closed, self.col(color), t, AA, SHIFT)
        if mark and self.cur:
            cv2.polylines(self.ids, [p], closed, self.cur, t, cv2.LINE_8, SHIFT)

    def line(self, p, q, color, th: float, mark: bool = True) -> None:
        t = max(1, int(round(th)))
        a = self._fix((p, q), t / 2 + 1)
        c = self.col(color)
        cv2.line(self.img, tuple(a[0]), tuple(a[1]), c, t, AA, SHIFT)
        if mark and self.cur:
            cv2.line(self.ids, tuple(a[0]), tuple(a[1]), self.cur, t, cv2.LINE_8, SHIFT)

    def circle(self, c, r: float, color, th: int = -1, mark: bool = True) -> None:
        r = max(r, 0.5)
        a = self._fix(((c[0] - r, c[1] - r), (c[0] + r, c[1] + r)), 1)
        ctr = ((a[0] + a[1]) // 2)
        rr = int(round(r * ONE))
        cv2.circle(self.img, tuple(ctr), rr, self.col(color), th, AA, SHIFT)
        if mark and self.cur:
            cv2.circle(self.ids, tuple(ctr), rr, self.cur, th, cv2.LINE_8, SHIFT)

    def ellipse(self, c, axes, color, angle: float = 0, a0: float = 0, a1: float = 360, th: int = -1,
                mark: bool = True) -> None:
        ax = (max(axes[0], 0.5), max(axes[1], 0.5))
        m = max(ax)
        self._fix(((c[0] - m, c[1] - m), (c[0] + m, c[1] + m)), 1)
        ctr = (int(round((c[0] + self.ox) * ONE)), int(round((c[1] + self.oy) * ONE)))
        axi = (int(round(ax[0] * ONE)), int(round(ax[1] * ONE)))
        cv2.ellipse(self.img, ctr, axi, angle, a0, a1, self.col(color), th, AA, SHIFT)
        if mark and self.cur:
            cv2.ellipse(self.ids, ctr, axi, angle, a0, a1, self.cur, th, cv2.LINE_8, SHIFT)

    def rect(self, x1, y1, x2, y2, color, mark: bool = True) -> None:
        self.poly(((x1, y1), (x2, y1), (x2, y2), (x1, y2)), color, mark)

    # ------------------------------------------------------------ translucent, image-only effects

    def _roi(self, x1, y1, x2, y2):
        x1, y1 = max(int(x1 + self.ox), 0), max(int(y1 + self.oy), 0)
        x2, y2 = min(int(x2 + self.ox) + 2, self.w), min(int(y2 + self.oy) + 2, self.h)
        if x2 <= x1 or y2 <= y1:
            return None
        return x1, y1, x2, y2

    def shadow(self, cx, cy, rx, ry, alpha: float) -> None:
        """Soft darkening ellipse on the ground (image only)."""
        r = self._roi(cx - rx, cy - ry, cx + rx, cy + ry)
        if r is None or alpha <= 0:
            return
        x1, y1, x2, y2 = r
        roi = self.img[y1:y2, x1:x2]
        m = np.zeros(roi.shape[:2], np.uint8)
        ctr = (int(round((cx + self.ox - x1) * ONE)), int(round((cy + self.oy - y1) * ONE)))
        cv2.ellipse(m, ctr, (int(rx * ONE), int(max(ry, 1) * ONE)), 0, 0, 360, int(255 * alpha), -1, AA, SHIFT)
        m = cv2.blur(m, (3, 3))
        f = 1.0 - m.astype(np.float32)[..., None] / 255.0
        roi[:] = (roi * f).astype(np.uint8)

    def blend_poly(self, pts, color, alpha: float) -> None:
        """Translucent polygon (image only): reflections, wakes, light beams."""
        a = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        lo, hi = a.min(axis=0), a.max(axis=0)
        r = self._roi(lo[0] - 1, lo[1] - 1, hi[0] + 1, hi[1] + 1)
        if r is None:
            return
        x1, y1, x2, y2 = r
        roi = self.img[y1:y2, x1:x2]
        over = roi.copy()
        p = np.rint((a + (self.ox - x1, self.oy - y1)) * ONE).astype(np.int32)
        cv2.fillPoly(over, [p], self.col(color), AA, SHIFT)
        cv2.addWeighted(over, alpha, roi, 1 - alpha, 0, dst=roi)

    def glow(self, cx, cy, r, color, strength: float = 1.0) -> None:
        """Additive soft light blob (headlights, lamps); not toned: lights keep their own brightness."""
        x = self._roi(cx - r, cy - r, cx + r, cy + r)
        if x is None:
            return
        x1, y1, x2, y2 = x
        yy, xx = np.mgrid[y1:y2, x1:x2].astype(np.float32)
        d2 = ((xx - cx - self.ox) ** 2 + (yy - cy - self.oy) ** 2) / max(r * r, 1.0)
        f = np.clip(np.exp(-3.0 * d2) * strength, 0, 1)[..., None]
        roi = self.img[y1:y2, x1:x2]
        c = np.array(color, np.float32)
        if self.mono:
            c[:] = c.mean()
        roi[:] = np.clip(roi + f * c, 0, 255).astype(np.uint8)
