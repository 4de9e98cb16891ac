"""A local east-north-up frame around an origin: metres on a flat ground, good to a few km.

Equirectangular: east = dlon * cos(lat0) * R, north = dlat * R.  Over the few hundred metres a drone
or a camera sees, the error against the true ellipsoid is centimetres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6378137.0  # WGS-84 equatorial radius


@dataclass(frozen=True)
class LocalFrame:
    lat0: float
    lon0: float

    def to_enu(self, lat: float, lon: float) -> tuple[float, float]:
        east = math.radians(lon - self.lon0) * math.cos(math.radians(self.lat0)) * EARTH_RADIUS_M
        north = math.radians(lat - self.lat0) * EARTH_RADIUS_M
        return east, north

    def to_latlon(self, east: float, north: float) -> tuple[float, float]:
        lat = self.lat0 + math.degrees(north / EARTH_RADIUS_M)
        lon = self.lon0 + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
