"""A constant-velocity Kalman filter on boxes (cx, cy, w, h), with time steps in seconds.

Frames arrive at whatever rate the detector manages, so the motion model is in seconds, not frames.
Noise scales with the box height, as in SORT and ByteTrack: a near, big object may move more pixels.
"""

from __future__ import annotations

import numpy as np

_POS_STD = 0.08  # process noise of position, in box heights per sqrt(second)
_VEL_STD = 0.10  # process noise of velocity, in box heights per second per sqrt(second)
_MEAS_STD = 0.06  # measurement noise, in box heights


def to_state(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], np.float64)


def to_box(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float64)


class BoxKalman:
    def __init__(self, box: np.ndarray):
        z = to_state(box)
        self.x = np.concatenate([z, np.zeros(4)])
        h = max(z[3], 1.0)
        self.P = np.diag(np.concatenate([(np.array([0.1, 0.1, 0.1, 0.1]) * h) ** 2,
                                         (np.array([0.5, 0.5, 0.1, 0.1]) * h) ** 2]))
        self._H = np.hstack([np.eye(4), np.zeros((4, 4))])

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        F = np.eye(8)
        F[:4, 4:] = np.eye(4) * dt
        h = max(self.x[3], 1.0)
        q = np.concatenate([np.full(4, (_POS_STD * h) ** 2 * dt), np.full(4, (_VEL_STD * h) ** 2 * dt)])
        self.x = F @ self.x
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = F @ self.P @ F.T + np.diag(q)

    def update(self, box: np.ndarray) -> None:
        z = to_state(box)
        R = np.eye(4) * (_MEAS_STD * max(z[3], 1.0)) ** 2
        S = self._H @ self.P @ self._H.T + R
        K = self.P @ self._H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - self._H @ self.x)
        self.P = (np.eye(8) - K @ self._H) @ self.P

    def warp(self, h: np.ndarray) -> None:
        """Move the state by the camera's own motion (an image-to-image homography), so the filter
        keeps only the object's motion; the local linear part carries the size, velocity and covariance."""
        cx, cy = self.x[0], self.x[1]
        c = warp_point(h, cx, cy)
        ex = warp_point(h, cx + 1.0, cy)
        ey = warp_point(h, cx, cy + 1.0)
        if c is None or ex is None or ey is None:
            return  # the point left the ground plane's image: keep the track as it was
        a = np.array([[ex[0] - c[0], ey[0] - c[0]], [ex[1] - c[1], ey[1] - c[1]]])  # the local Jacobian
        scale = float(np.sqrt(abs(np.linalg.det(a))))
        t = np.eye(8)
        t[0:2, 0:2] = a
        t[4:6, 4:6] = a
        t[2, 2] = t[3, 3] = t[6, 6] = t[7, 7] = scale
        self.x = t @ self.x
        self.x[0], self.x[1] = c
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)
        self.P = t @ self.P @ t.T

    @property
    def box(self) -> np.ndarray:
        return to_box(self.x)

    @property
    def velocity(self) -> np.ndarray:
        return self.x[4:6]


def warp_point(h: np.ndarray, x: float, y: float) -> tuple[float, float] | None:
    p = h @ np.array([x, y, 1.0])
    if p[2] <= 1e-9:
        return None
    return float(p[0] / p[2]), float(p[1] / p[2])
