"""Geography for moving cameras: local ground frames, the camera model, pixel-to-ground projection."""

from .camera import (
           CameraPose,
           frame_to_frame,
           ground_homography,
           ground_sample_distance,
           pixel_to_ground,
           project,
)
from .frames import EARTH_RADIUS_M, LocalFrame, haversine_m
from .locate import GroundPoint, Locator

__all__ = ["EARTH_RADIUS_M", "CameraPose", "GroundPoint", "LocalFrame", "Locator", "frame_to_frame",
           "ground_homography", "ground_sample_distance", "haversine_m", "pixel_to_ground", "project"]
