"""One frame's camera: the projection of edge.geo.camera as matrices, and the ground warped through it.

The node locates objects with edge.geo.pixel_to_ground on the pose it is told; rendering the ground
with the homography built from the same CameraPose (axes, focal, centre) makes that inversion exact in
the synthetic setting.  Coordinates: edge.geo's (u, v) has the image's left/top edge at 0 and the
centre at (w/2, h/2); pixel (i, j) covers [i, i+1) x [j, j+1), so drawing (OpenCV pixel-centre
coordinates) uses (u - 0.5, v - 0.5).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.geo import CameraPose, ground_sample_distance
from simulator.aerial.ortho import Ortho

BLEND_ROWS = 16  # rows over which two levels of the orthophoto cross-fade
LEVEL_GSD = 2.0  # a coarser level takes over where a pixel covers more than this many ortho pixels


class View:
    def __init__(self, pose: CameraPose):
        self.pose = pose
        forward, right, down = pose.axes()
        self.forward = forward
        self.centre = pose.centre
        rot = np.stack([right, down, forward])
        k = np.array([[pose.focal, 0, pose.width / 2], [0, pose.focal, pose.height / 2], [0, 0, 1.0]])
        self.P = k @ np.hstack([rot, (-rot @ self.centre)[:, None]])  # world (e, n, up, 1) -> (u, v) * depth
        self.H = self.P[:, [0, 1, 3]]  # ground (e, n, 1) -> image: the ground-plane homography
        # Rows above the horizon see sky (no roll: the horizon is a horizontal line).
        dz = down[2]
        self.horizon_v = -math.inf if abs(dz) < 1e-9 else pose.height / 2 - pose.focal * forward[2] / dz

    @property
    def sky_rows(self) -> int:
        """How many rows at the top of the frame are above the horizon."""
        v = self.horizon_v
        return 0 if v <= 0 else self.pose.height if v >= self.pose.height else int(math.ceil(v))

    def uv(self, pts) -> np.ndarray:
        """edge.geo (u, v) of world points (N x 3, metres); points behind the camera get NaN."""
        a = np.asarray(pts, np.float64).reshape(-1, 3)
        q = a @ self.P[:, :3].T + self.P[:, 3]
        z = q[:, 2:3]
        return np.where(z > 1e-6, q[:, :2] / np.where(z > 1e-6, z, 1.0), np.nan)

    def px(self, pts) -> np.ndarray:
        """Drawing coordinates (OpenCV pixel centres) of world points."""
        return self.uv(pts) - 0.5

    def depth(self, point) -> float:
        return float((np.asarray(point, np.float64) - self.centre) @ self.forward)

    def ppm(self, point) -> float:
        """Pixels per metre across the line of sight at a world point (how big things there look)."""
        return self.pose.focal / max(self.depth(point), 1e-3)


def _band_rows(pose: CameraPose, ortho: Ortho, top: int) -> list[int]:
    """First row of each orthophoto level's band: coarser levels serve the far (upper) rows."""
    h = pose.height
    cx = pose.width / 2
    starts = []
    for k in range(1, len(ortho.levels)):
        limit = LEVEL_GSD * ortho.res[k - 1]
        lo, hi = top, h  # find the first row (from the top) whose ground pixel is fine enough for level k-1
        while lo < hi:
            mid = (lo + hi) // 2
            g = ground_sample_distance(pose, cx, mid + 0.5)
            if g is None or g > limit:
                lo = mid + 1
            else:
                hi = mid
        starts.append(lo)
    return starts  # starts[k-1]: rows >= it can use level k-1


def warp_ground(view: View, ortho: Ortho) -> np.ndarray:
    """The frame's ground (BGRA, alpha = water) seen through the camera; sky rows are left empty."""
    pose = view.pose
    w, h = pose.width, pose.height
    out = np.empty((h, w, 4), np.uint8)
    top = view.sky_rows
    if top >= h:
        out[:] = 0
        return out
    try:
        inv = np.linalg.inv(view.H)
    except np.linalg.LinAlgError:
        out[:] = 0
        return out
    splits = _band_rows(pose, ortho, top)
    # Level k serves rows [lo, hi): the finest level the bottom rows, coarser ones further up.
    bounds, hi = [], h
    for k, start in enumerate(splits):
        lo = max(start, top)
        if lo < hi:
            bounds.append((k, lo, hi))
            hi = lo
    if hi > top:
        bounds.append((len(ortho.levels) - 1, top, hi))
    for n, (k, lo, hi) in enumerate(bounds):
        ext = min(hi + BLEND_ROWS // 2, h) if n else hi  # reach into the finer band below, to cross-fade
        band = _warp(ortho, k, inv, lo, ext, w)
        out[lo:hi] = band[: hi - lo]
        if ext > hi:
            f = np.linspace(1, 0, ext - hi + 2, dtype=np.float32)[1:-1, None, None]
            below = out[hi:ext].astype(np.float32)
            out[hi:ext] = (band[hi - lo:].astype(np.float32) * f + below * (1 - f)).astype(np.uint8)
    if top > 0:
        out[:top] = 0
    return out


def _warp(ortho: Ortho, level: int, inv: np.ndarray, r0: int, r1: int, w: int) -> np.ndarray:
    res = ortho.res[level]
    # band pixel (x, y) -> edge.geo (u, v) -> ground (e, n) -> orthophoto pixel of this level
    to_uv = np.array([[1, 0, 0.5], [0, 1, r0 + 0.5], [0, 0, 1.0]])
    to_px = np.array([[1 / res, 0, -ortho.west / res - 0.5], [0, -1 / res, ortho.north / res - 0.5], [0, 0, 1.0]])
    m = to_px @ inv @ to_uv
    return cv2.warpPerspective(ortho.levels[level], m, (w, r1 - r0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=ortho.far)
