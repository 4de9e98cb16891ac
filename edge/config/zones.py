"""[[zones]]: named areas of the image that rules watch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Section

Point = tuple[float, float]


def polygon_area(points: list[Point] | tuple[Point, ...]) -> float:
    """Shoelace area (absolute), in the polygon's own units."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def validate_polygon(value: tuple[Point, ...]) -> tuple[Point, ...]:
    """A relative-coordinate polygon: at least 3 points inside the image, with some area."""
    if len(value) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(value)}")
    outside = [i for i, (x, y) in enumerate(value) if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0)]
    if outside:
        raise ValueError(f"point {outside[0]} {value[outside[0]]} is outside the image; coordinates are relative (0..1)")
    if polygon_area(value) < 1e-6:
        raise ValueError("the polygon has no area (its points are on one line or repeated)")
    return value


class ZoneConfig(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    # Polygon in relative image coordinates: x to the right, y down, both 0..1 (a fixed camera)...
    polygon: tuple[Point, ...] | None = None
    # ... or a geofence in [lat, lon] degrees, for a camera that moves (a drone) and knows its pose.
    geo_polygon: tuple[Point, ...] | None = None
    # Only these classes count inside the zone; empty means every class.
    classes: tuple[str, ...] = ()
    # Which point of an object's box decides membership: where it stands (bottom_centre), its
    # centre, or any overlap of the box with the zone.
    anchor: Literal["bottom_center", "center", "any"] = "bottom_center"
    # Consecutive observations needed to enter or leave, so a flickering box does not toggle.
    inertia_frames: int = Field(default=3, ge=1, le=100)
    # Object box area as a fraction of the picture: ignore what is too small or too large.
    min_area: float = Field(default=0.0, ge=0, le=1)
    max_area: float = Field(default=1.0, gt=0, le=1)
    armed: bool = True

    @model_validator(mode="after")
    def _one_shape(self) -> ZoneConfig:
        if (self.polygon is None) == (self.geo_polygon is None):
            raise ValueError("give the zone a polygon (image) or a geo_polygon (lat/lon), one of them")
        return self

    @model_validator(mode="after")
    def _area_range(self) -> ZoneConfig:
        if self.min_area >= self.max_area:
            raise ValueError(f"min_area ({self.min_area}) must be below max_area ({self.max_area})")
        return self

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, value: tuple[Point, ...] | None) -> tuple[Point, ...] | None:
        return None if value is None else validate_polygon(value)

    @field_validator("geo_polygon")
    @classmethod
    def _valid_geo(cls, value: tuple[Point, ...] | None) -> tuple[Point, ...] | None:
        if value is None:
            return None
        if len(value) < 3:
            raise ValueError(f"a geofence needs at least 3 points, got {len(value)}")
        bad = [i for i, (lat, lon) in enumerate(value) if not (-90 <= lat <= 90 and -180 <= lon <= 180)]
        if bad:
            raise ValueError(f"point {bad[0]} {value[bad[0]]} is not [lat, lon] in degrees")
        if polygon_area(value) < 1e-12:
            raise ValueError("the geofence has no area")
        return value
