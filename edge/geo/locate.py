"""Where a detected object stands on the ground, and how sure that is.

The object's anchor pixel (the bottom centre of its box: where it touches the ground) is cast
through the camera onto flat ground at the pose of the frame.  The uncertainty (one standard
deviation, metres) combines the errors that matter for a flat-ground projection:

    GPS position            sigma_gps
    altitude                tan(a) * sigma_alt                 (a: the ray's angle from straight down)
    camera tilt             altitude * sigma_att / cos(a)^2
    heading                 ground distance * sigma_att
    the box's anchor        one pixel's ground footprint * 2

Terrain that is not flat (a bank sloping into the water) adds an error of about the height
difference times tan(a); it is not in the figure (docs/drone.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..telemetry.poses import Pose
from .camera import CameraPose, ground_sample_distance, pixel_to_ground
from .frames import LocalFrame


@dataclass(frozen=True)
class GroundPoint:
    east: float
    north: float
    lat: float
    lon: float
    uncertainty_m: float


class Locator:
    def __init__(self, frame: LocalFrame, hfov_deg: float, *, gps_sigma_m: float = 2.5, altitude_sigma_m: float = 2.0,
                 attitude_sigma_deg: float = 1.0):
        self.frame = frame
        self.hfov_deg = hfov_deg
        self.gps_sigma_m = gps_sigma_m
        self.altitude_sigma_m = altitude_sigma_m
        self.attitude_sigma = math.radians(attitude_sigma_deg)

    def camera(self, pose: Pose, size: tuple[int, int]) -> CameraPose:
        east, north = self.frame.to_enu(pose.lat, pose.lon)
        return CameraPose(east, north, pose.altitude_m, pose.heading_deg, pose.pitch_deg, self.hfov_deg, *size)

    def locate(self, camera: CameraPose, u: float, v: float) -> GroundPoint | None:
        ground = pixel_to_ground(camera, u, v)
        if ground is None:
            return None
        east, north = ground
        lat, lon = self.frame.to_latlon(east, north)
        distance = math.hypot(east - camera.east, north - camera.north)
        off_nadir = math.atan2(distance, camera.altitude)
        gsd = ground_sample_distance(camera, u, v) or 0.0
        sigma = math.sqrt(self.gps_sigma_m ** 2
                          + (math.tan(off_nadir) * self.altitude_sigma_m) ** 2
                          + (camera.altitude * self.attitude_sigma / math.cos(off_nadir) ** 2) ** 2
                          + (distance * self.attitude_sigma) ** 2
                          + (2 * gsd) ** 2)
        return GroundPoint(east, north, lat, lon, sigma)
