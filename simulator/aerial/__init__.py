"""Drone (aerial) scenarios: a ground world in lat/lon seen by a moving gimbal camera.

The world is an orthophoto built once per scenario and warped into each frame through the ground-plane
homography of edge.geo.camera, the same camera model the node inverts; the drone reports its pose as
telemetry (true pose plus seeded, smooth noise).  See docs/scenarios.md, "Drone (aerial) scenarios".
"""

from __future__ import annotations

from typing import Any

AERIAL_SITES = ("reservoir_aerial",)


def is_aerial_data(data: Any) -> bool:
    """Whether parsed TOML is a drone scenario: an aerial site, or a [drone] or [world] table."""
    if not isinstance(data, dict):
        return False
    meta = data.get("scenario")
    site = meta.get("site") if isinstance(meta, dict) else None
    return site in AERIAL_SITES or "drone" in data or "world" in data


def is_aerial(scenario: Any) -> bool:
    return bool(getattr(scenario, "aerial", False))


__all__ = ["AERIAL_SITES", "is_aerial", "is_aerial_data"]
