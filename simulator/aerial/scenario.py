"""Drone scenario TOML: the world (ground polygons in lat/lon), the flight, actors on the ground, truth.

Same conventions as the fixed-camera format (unknown keys rejected, one `FILE: field.path: problem`
line per error), reusing its [scenario], [camera] noise, [[light_changes]] and [[truth]] tables.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, PrivateAttr, field_validator

from edge.geo import LocalFrame
from simulator.scenario import (
    ColorName,
    Interval,
    LightChange,
    Meta,
    ScenarioFacts,
    Truth,
    _check_intervals,
    _Model,
    actor_problems,
    timeline_problems,
    validated,
)

MAX_RANGE_M = 5000.0  # the local flat-ground frame is good to a few km around the origin
WORLD_NAMES = ("water", "shore", "path")
LatLon = tuple[float, float]
GeoKeyframe = tuple[float, float, float]  # t, lat, lon
FlightKeyframe = tuple[float, float, float, float, float, float]  # t, lat, lon, altitude, heading, pitch


def _check_latlon(lat: float, lon: float, what: str) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{what}: [{lat:g}, {lon:g}] is not [lat, lon] in degrees")


def _check_polygon(v: list[LatLon]) -> list[LatLon]:
    if len(v) < 3:
        raise ValueError(f"a polygon needs at least 3 [lat, lon] points, got {len(v)}")
    for i, (lat, lon) in enumerate(v):
        _check_latlon(lat, lon, f"point {i}")
    lat0 = math.radians(v[0][0])
    xy = [((lon - v[0][1]) * math.cos(lat0) * 111320.0, (lat - v[0][0]) * 110540.0) for lat, lon in v]
    area = 0.5 * abs(sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(xy, xy[1:] + xy[:1], strict=True)))
    if area < 1.0:
        raise ValueError(f"the polygon has no area ({area:.2g} m²): its points are on one line or repeated")
    return v


def _check_times(times: list[float]) -> None:
    for i, t in enumerate(times):
        if t < 0:
            raise ValueError(f"keyframe {i}: time {t:g} is negative")
        if i and t <= times[i - 1]:
            raise ValueError(f"keyframe times must increase: keyframe {i} (t={t:g}) is not after t={times[i - 1]:g}")


def _check_geo_path(v: list[GeoKeyframe]) -> list[GeoKeyframe]:
    if not v:
        raise ValueError("needs at least 1 keyframe")
    _check_times([k[0] for k in v])
    for i, (_t, lat, lon) in enumerate(v):
        _check_latlon(lat, lon, f"keyframe {i}")
    return v


def _check_flight(v: list[FlightKeyframe]) -> list[FlightKeyframe]:
    if not v:
        raise ValueError("needs at least 1 keyframe [t, lat, lon, altitude_m, heading_deg, gimbal_pitch_deg]")
    _check_times([k[0] for k in v])
    for i, (_t, lat, lon, alt, heading, pitch) in enumerate(v):
        _check_latlon(lat, lon, f"keyframe {i}")
        if not 2.0 <= alt <= 500.0:
            raise ValueError(f"keyframe {i}: altitude_m {alt:g} is outside 2..500")
        if not -360.0 <= heading <= 720.0:
            raise ValueError(f"keyframe {i}: heading_deg {heading:g} is outside -360..720")
        if not -90.0 <= pitch <= 0.0:
            raise ValueError(f"keyframe {i}: gimbal_pitch_deg {pitch:g} is outside -90 (straight down)..0 (level)")
    return v


Polygon = Annotated[list[LatLon], AfterValidator(_check_polygon)]


class AerialMeta(Meta):
    site: Literal["reservoir_aerial"]


class AerialCamera(_Model):
    noise: float | None = Field(default=None, ge=0, le=40)  # sensor noise, grey levels


class World(_Model):
    origin: LatLon  # [lat, lon] of the local east-north frame (edge.geo.LocalFrame)
    elevation_m: float = Field(default=0.0, ge=-500, le=9000)  # ground height above mean sea level
    water: Polygon
    shore: Polygon
    path: Polygon | None = None
    zones: dict[str, Polygon] = {}  # further named geofences (not drawn)
    clutter: float = Field(default=1.0, ge=0, le=3)  # density of trees and bushes
    trees: list[Canopy] = []  # trees placed by hand, drawn over the actors under them

    @field_validator("origin")
    @classmethod
    def _origin(cls, v: LatLon) -> LatLon:
        _check_latlon(*v, "origin")
        return v

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, v: dict[str, list[LatLon]]) -> dict[str, list[LatLon]]:
        for name in v:
            if name in WORLD_NAMES or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"zone name {name!r} must be [A-Za-z0-9_-] and not one of {', '.join(WORLD_NAMES)}")
        return v

    def polygons(self) -> dict[str, list[LatLon]]:
        """Every named polygon a truth interval (and a node geofence) may use."""
        out = {"water": self.water, "shore": self.shore}
        if self.path is not None:
            out["path"] = self.path
        return out | dict(self.zones)


class Canopy(_Model):
    """A tree whose crown spreads over the ground at [lat, lon]: it hides whoever stands under it."""

    at: LatLon
    radius_m: float = Field(default=3.0, gt=0.5, le=12)
    height_m: float = Field(default=6.0, gt=1, le=30)

    @field_validator("at")
    @classmethod
    def _at(cls, v: LatLon) -> LatLon:
        _check_latlon(*v, "at")
        return v


class TelemetryNoise(_Model):
    gps_sigma_m: float = Field(default=1.0, ge=0, le=50)
    altitude_sigma_m: float = Field(default=0.5, ge=0, le=50)
    heading_sigma_deg: float = Field(default=1.0, ge=0, le=30)
    pitch_sigma_deg: float = Field(default=0.5, ge=0, le=30)
    correlation_s: float = Field(default=4.0, gt=0, le=600)  # how slowly the errors wander


class Drone(_Model):
    hfov_deg: float = Field(default=78.0, gt=10, lt=170)
    path: Annotated[list[FlightKeyframe], AfterValidator(_check_flight)]
    noise: TelemetryNoise = TelemetryNoise()


class _GeoActor(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
    path: Annotated[list[GeoKeyframe], AfterValidator(_check_geo_path)]


class AerialPerson(_GeoActor):
    kind: Literal["person"]
    pose: Literal["stand", "sit"] = "stand"
    facing_deg: float | None = Field(default=None, ge=-360, le=720)  # while still; default: last motion
    rod: Annotated[list[Interval], AfterValidator(_check_intervals)] = []
    rod_heading_deg: float | None = Field(default=None, ge=-360, le=720)  # default: towards the water
    shirt: ColorName | None = None
    pants: ColorName | None = None
    hat: Literal["auto", "none", "straw", "cap", "bucket"] = "auto"
    bag: Literal["auto", "none", "backpack"] = "auto"
    height_m: float | None = Field(default=None, ge=1.0, le=2.1)


class AerialBoat(_GeoActor):
    kind: Literal["boat"]
    style: Literal["auto", "skiff", "rowing"] = "auto"
    color: ColorName | None = None
    crew: int | None = Field(default=None, ge=0, le=4)
    length_m: float | None = Field(default=None, ge=2.5, le=10)
    heading_deg: float | None = Field(default=None, ge=-360, le=720)  # bow direction while still
    lamp: Literal["auto", "on", "off"] = "auto"


AerialActor = Annotated[AerialPerson | AerialBoat, Field(discriminator="kind")]
KIND_MODELS = {"person": AerialPerson, "boat": AerialBoat}


class AerialScenario(ScenarioFacts, _Model):
    """A validated drone scenario; exposes the same properties as simulator.scenario.Scenario."""

    aerial: ClassVar[bool] = True
    meta: AerialMeta = Field(alias="scenario")
    camera: AerialCamera = AerialCamera()
    light_changes: list[LightChange] = []
    world: World
    drone: Drone
    actors: list[AerialActor] = []
    truth: list[Truth] = []
    _source: str = PrivateAttr(default="<scenario>")

    @property
    def frame(self) -> LocalFrame:
        return LocalFrame(*self.world.origin)

    def world_document(self) -> dict:
        """The geofences in [lat, lon] as written to truth.json: what a node's zones are made from."""
        return {"origin": list(self.world.origin), "elevation_m": self.world.elevation_m,
                "hfov_deg": self.drone.hfov_deg,
                "zones": {k: [list(p) for p in v] for k, v in self.world.polygons().items()}}


def _far(frame: LocalFrame, lat: float, lon: float) -> float:
    return math.hypot(*frame.to_enu(lat, lon))


def _cross_checks(sc: AerialScenario) -> list[tuple[str, str]]:
    """Problems that involve more than one field; pydantic has already checked each field alone."""
    out: list[tuple[str, str]] = []
    dur, frame = sc.duration_s, sc.frame
    for name, poly in sc.world.polygons().items():
        where = f"world.zones.{name}" if name in sc.world.zones else f"world.{name}"
        for j, (lat, lon) in enumerate(poly):
            if _far(frame, lat, lon) > MAX_RANGE_M:
                out.append((f"{where}[{j}]", f"more than {MAX_RANGE_M:g} m from world.origin"))
                break
    for j, (t, lat, lon, *_rest) in enumerate(sc.drone.path):
        if t > dur:
            out.append((f"drone.path[{j}]", f"time {t:g} is after the scenario ends (duration_s = {dur:g})"))
        if _far(frame, lat, lon) > MAX_RANGE_M:
            out.append((f"drone.path[{j}]", f"more than {MAX_RANGE_M:g} m from world.origin"))
    problems, seen = actor_problems(sc, AerialPerson)
    out += problems
    for i, a in enumerate(sc.actors):
        for j, (_t, lat, lon) in enumerate(a.path):
            if _far(frame, lat, lon) > MAX_RANGE_M:
                out.append((f"actors[{i}].path[{j}]", f"more than {MAX_RANGE_M:g} m from world.origin"))
    out += timeline_problems(sc, list(sc.world.polygons()), "a [world] polygon", seen)
    return out


def validate_aerial(data: dict[str, Any], source: str = "<scenario>") -> AerialScenario:
    """Validate parsed TOML of a drone scenario; raise ScenarioError listing every problem found."""
    return validated(AerialScenario, data, source, _cross_checks, KIND_MODELS)
