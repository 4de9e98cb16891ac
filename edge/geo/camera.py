"""The camera model shared by the simulator and the node: a stabilised gimbal under a drone.

World: a local east-north-up frame (metres), flat ground at up = 0.  The camera is at (east, north,
altitude above ground); it looks along the heading (degrees clockwise from north) tilted by the
gimbal pitch (degrees; 0 = level, -90 = straight down); the gimbal keeps the horizon level (no roll).
Pinhole with square pixels: fx = fy = (width / 2) / tan(hfov / 2), principal point at the centre;
image x to the right, y down.

Axes of the camera in the world:
    forward f = (sin(heading) cos(pitch), cos(heading) cos(pitch), sin(pitch))
    right   r = (cos(heading), -sin(heading), 0)
    down    d = f x r
A world point P projects to u = cx + fx (P-C).r / (P-C).f, v = cy + fy (P-C).d / (P-C).f; a pixel's
ray C + s (f + (u-cx)/fx r + (v-cy)/fy d) meets the ground where its up component is zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraPose:
    east: float
    north: float
    altitude: float  # metres above the (flat) ground
    heading_deg: float  # clockwise from north
    pitch_deg: float  # 0 level, -90 straight down
    hfov_deg: float
    width: int
    height: int

    @property
    def focal(self) -> float:
        return (self.width / 2) / math.tan(math.radians(self.hfov_deg) / 2)

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, p = math.radians(self.heading_deg), math.radians(self.pitch_deg)
        forward = np.array([math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), math.sin(p)])
        right = np.array([math.cos(h), -math.sin(h), 0.0])
        down = np.cross(forward, right)
        return forward, right, down

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.east, self.north, self.altitude])


def project(pose: CameraPose, east: float, north: float, up: float = 0.0) -> tuple[float, float] | None:
    """Pixel (u, v) of a world point, or None if it is behind the camera."""
    f, r, d = pose.axes()
    v = np.array([east, north, up]) - pose.centre
    depth = float(v @ f)
    if depth <= 1e-6:
        return None
    return (pose.width / 2 + pose.focal * float(v @ r) / depth, pose.height / 2 + pose.focal * float(v @ d) / depth)


def pixel_to_ground(pose: CameraPose, u: float, v: float) -> tuple[float, float] | None:
    """Where a pixel's ray meets the flat ground (east, north), or None above the horizon."""
    f, r, d = pose.axes()
    ray = f + ((u - pose.width / 2) / pose.focal) * r + ((v - pose.height / 2) / pose.focal) * d
    if ray[2] >= -1e-9:
        return None
    s = -pose.altitude / ray[2]
    point = pose.centre + s * ray
    return float(point[0]), float(point[1])


def ground_sample_distance(pose: CameraPose, u: float, v: float) -> float | None:
    """Metres of ground per pixel around (u, v): how big one pixel's footprint is there."""
    a = pixel_to_ground(pose, u, v)
    b = pixel_to_ground(pose, u + 1, v)
    c = pixel_to_ground(pose, u, v + 1)
    if a is None or b is None or c is None:
        return None
    return max(math.dist(a, b), math.dist(a, c))


def ground_homography(pose: CameraPose) -> np.ndarray:
    """3x3 map from ground (east, north, 1) to image pixels (homogeneous) for this pose.

    Two frames' maps give the image-to-image warp of everything on the ground:
    H = ground_homography(now) @ inv(ground_homography(before)); the tracker uses it to keep its
    tracks where the camera's own motion moved them."""
    f, r, d = pose.axes()
    k = np.array([[pose.focal, 0, pose.width / 2], [0, pose.focal, pose.height / 2], [0, 0, 1.0]])
    rot = np.stack([r, d, f])
    shift = np.array([[1.0, 0, -pose.east], [0, 1.0, -pose.north], [0, 0, -pose.altitude]])
    return k @ rot @ shift


def frame_to_frame(before: CameraPose, now: CameraPose) -> np.ndarray | None:
    """Image warp from one pose's frame to the next's, for points on the ground (None if degenerate)."""
    g0 = ground_homography(before)
    if abs(np.linalg.det(g0)) < 1e-12:
        return None
    h = ground_homography(now) @ np.linalg.inv(g0)
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else None
