"""Pose telemetry for moving cameras (drones): MAVLink, JSON lines, or the simulator."""

from .poses import Pose, PoseTrack
from .sources import open_telemetry

__all__ = ["Pose", "PoseTrack", "open_telemetry"]
