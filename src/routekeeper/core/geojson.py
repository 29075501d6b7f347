"""GeoJSON geometry schemas with coordinate checks (``[lon, lat]``, WGS 84)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from routekeeper.core.geo import EARTH_RADIUS_M


def check_position(position: list[float]) -> list[float]:
    """Validate one ``[lon, lat(, alt)]`` position."""
    if len(position) not in (2, 3):
        raise ValueError("A position is [longitude, latitude] or [longitude, latitude, altitude].")
    if any(not math.isfinite(v) for v in position):
        raise ValueError("Coordinates must be finite numbers.")
    lon, lat = position[0], position[1]
    if not -180.0 <= lon <= 180.0:
        raise ValueError("Longitude must be between -180 and 180.")
    if not -90.0 <= lat <= 90.0:
        raise ValueError("Latitude must be between -90 and 90.")
    return position


class PointGeometry(BaseModel):
    """A GeoJSON Point."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Point"] = "Point"
    coordinates: list[float]

    @field_validator("coordinates")
    @classmethod
    def _check(cls, value: list[float]) -> list[float]:
        return check_position(value)

    @property
    def lon(self) -> float:
        return self.coordinates[0]

    @property
    def lat(self) -> float:
        return self.coordinates[1]


# A destination or geofence polygon outlines one site. Every fix near it is tested against
# every edge, so the vertex count bounds the work of an upload (1,000 fixes x 500 edges is
# a fraction of a second); the area bounds what "arrived" can mean.
MAX_POLYGON_VERTICES = 500
MAX_POLYGON_AREA_M2 = 100e6  # 100 km2, e.g. 10 km x 10 km



def ring_area_m2(ring: list[list[float]]) -> float:
    """The area of a ring in square metres (equirectangular about its first vertex: within
    a few per cent for rings of the size allowed)."""
    lon0, lat0 = ring[0][0], ring[0][1]
    scale_x = math.radians(1.0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    scale_y = math.radians(1.0) * EARTH_RADIUS_M
    xy = [((p[0] - lon0) * scale_x, (p[1] - lat0) * scale_y) for p in ring]
    twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(xy, xy[1:] + xy[:1],
                                                                  strict=True))
    return abs(twice) / 2.0


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon: closed rings of at least four positions, the first the outer one."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Polygon"]
    coordinates: list[list[list[float]]] = Field(
        description=f"Closed rings, at most {MAX_POLYGON_VERTICES} positions in all, the outer "
                    f"ring covering at most {MAX_POLYGON_AREA_M2 / 1e6:.0f} km2.")

    @field_validator("coordinates")
    @classmethod
    def _check(cls, rings: list[list[list[float]]]) -> list[list[list[float]]]:
        if not rings:
            raise ValueError("A polygon needs at least one ring.")
        if sum(len(ring) for ring in rings) > MAX_POLYGON_VERTICES:
            raise ValueError(f"A polygon may have at most {MAX_POLYGON_VERTICES} positions.")
        for ring in rings:
            if len(ring) < 4:
                raise ValueError("A polygon ring needs at least four positions.")
            for position in ring:
                check_position(position)
            if ring[0][:2] != ring[-1][:2]:
                raise ValueError("A polygon ring must be closed (first position = last).")
            if max(abs(p[0] - ring[0][0]) for p in ring) > 180.0:
                raise ValueError("A polygon ring must not cross the antimeridian.")
        if ring_area_m2(rings[0]) > MAX_POLYGON_AREA_M2:
            raise ValueError(f"A polygon may cover at most {MAX_POLYGON_AREA_M2 / 1e6:.0f} km2.")
        return rings

    def centroid(self) -> tuple[float, float]:
        """The mean of the outer ring's vertices: a representative point for sorting."""
        ring = self.coordinates[0][:-1]
        return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))


class Place(BaseModel):
    """A point with an address (worker ``home``, ops group ``ops_group_home``)."""

    model_config = ConfigDict(extra="forbid")

    geometry: PointGeometry
    address: str | None = None
