"""GeoJSON geometry schemas with coordinate checks (``[lon, lat]``, WGS 84)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator


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


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon: closed rings of at least four positions, the first the outer one."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Polygon"]
    coordinates: list[list[list[float]]]

    @field_validator("coordinates")
    @classmethod
    def _check(cls, rings: list[list[list[float]]]) -> list[list[list[float]]]:
        if not rings:
            raise ValueError("A polygon needs at least one ring.")
        for ring in rings:
            if len(ring) < 4:
                raise ValueError("A polygon ring needs at least four positions.")
            for position in ring:
                check_position(position)
            if ring[0][:2] != ring[-1][:2]:
                raise ValueError("A polygon ring must be closed (first position = last).")
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
