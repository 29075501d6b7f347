"""Geometry for destinations: great-circle distance, polygons and accuracy-aware presence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from routekeeper.core.geo import EARTH_RADIUS_M, haversine_m
from routekeeper.travel.base import LonLat

__all__ = [
    "EARTH_RADIUS_M",
    "Box",
    "Geofence",
    "GeofenceKind",
    "Presence",
    "distance_to_polygon_boundary_m",
    "haversine_m",
    "inside_confidence",
    "point_in_polygon",
]

if TYPE_CHECKING:
    from routekeeper.tracking.engine.fixes import Fix

"""Mean Earth radius (IUGG) used for every distance in tracking."""

DEFAULT_RADIUS_M = 50.0
"""Radius of a Point destination that comes without one."""

SMALL_ACCURACY_FRACTION = 0.5
"""A fix whose point is inside counts as inside when accuracy <= this fraction of the radius..."""

TRUSTED_ACCURACY_M = 20.0
"""...or when accuracy is at most this many metres, so that small geofences stay reachable."""


# Where a fix puts the device relative to a geofence, given the fix's accuracy.
Presence = StrEnum("Presence", "INSIDE OUTSIDE UNCERTAIN")


# The two destination shapes of the Orders API.
GeofenceKind = StrEnum("GeofenceKind", "CIRCLE POLYGON")


def _local_xy(origin: LonLat, point: LonLat) -> tuple[float, float]:
    """Project ``point`` to metres east/north of ``origin`` (equirectangular, ~50 km)."""
    dlon = (point[0] - origin[0] + 180.0) % 360.0 - 180.0
    x = math.radians(dlon) * EARTH_RADIUS_M * math.cos(math.radians(origin[1]))
    y = math.radians(point[1] - origin[1]) * EARTH_RADIUS_M
    return (x, y)


def _ring_contains(point: LonLat, ring: Sequence[LonLat]) -> bool:
    """Even-odd ray casting on (lon, lat); the ring may be open or closed."""
    x, y = point
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def point_in_polygon(point: LonLat, rings: Sequence[Sequence[LonLat]]) -> bool:
    """Return whether ``point`` is inside a GeoJSON polygon (first ring outer, others holes)."""
    if not rings or not _ring_contains(point, rings[0]):
        return False
    return not any(_ring_contains(point, hole) for hole in rings[1:])


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Distance from (px, py) to the segment (ax, ay)-(bx, by) in the plane."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def distance_to_polygon_boundary_m(point: LonLat, rings: Sequence[Sequence[LonLat]]) -> float:
    """Return the distance in metres from ``point`` to the nearest edge of any ring (holes too)."""
    best = math.inf
    for ring in rings:
        xy = [_local_xy(point, p) for p in ring]
        for i in range(len(xy)):
            ax, ay = xy[i - 1]
            bx, by = xy[i]
            best = min(best, _segment_distance(0.0, 0.0, ax, ay, bx, by))
    return best


def _ring_area_centroid(origin: LonLat, ring: Sequence[LonLat]) -> tuple[float, float, float]:
    """Signed area (m², counter-clockwise positive) and centroid (local metres) of a ring."""
    xy = [_local_xy(origin, p) for p in ring]
    area2 = cx = cy = 0.0
    for i in range(len(xy)):
        x0, y0 = xy[i - 1]
        x1, y1 = xy[i]
        cross = x0 * y1 - x1 * y0
        area2 += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if area2 == 0.0:
        n = len(xy)
        return (0.0, sum(p[0] for p in xy) / n, sum(p[1] for p in xy) / n)
    return (area2 / 2.0, cx / (3.0 * area2), cy / (3.0 * area2))


def _from_local(origin: LonLat, x: float, y: float) -> LonLat:
    """Inverse of :func:`_local_xy`."""
    lat = origin[1] + math.degrees(y / EARTH_RADIUS_M)
    lon = origin[0] + math.degrees(x / (EARTH_RADIUS_M * math.cos(math.radians(origin[1]))))
    return (lon, lat)


def _check_position(position: Any) -> LonLat:
    """Validate a GeoJSON position and return it as (lon, lat)."""
    if not isinstance(position, Sequence) or isinstance(position, str) or len(position) < 2:
        raise ValueError("a position is [longitude, latitude]")
    lon, lat = float(position[0]), float(position[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError("coordinates must be finite numbers")
    if not -180.0 <= lon <= 180.0:
        raise ValueError("longitude out of range")
    if not -90.0 <= lat <= 90.0:
        raise ValueError("latitude out of range")
    return (lon, lat)


def _open_ring(raw: Any) -> tuple[LonLat, ...]:
    """Validate a ring and return it without its closing position."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError("a polygon ring is a list of positions")
    ring = [_check_position(p) for p in raw]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(set(ring)) < 3:
        raise ValueError("a polygon ring needs at least three distinct positions")
    return tuple(ring)


@dataclass(frozen=True, slots=True)
class Geofence:
    """A destination area: a circle (Point + radius) or a polygon with optional holes.

    ``center`` is the point ETAs travel to (the polygon's area centroid, or its nearest vertex
    when the centroid falls outside a concave polygon); ``radius_m`` is the circle radius or,
    for a polygon, the radius of a circle of equal area (used to judge accuracy).  Polygon rings
    are stored open (the closing position is dropped), first ring outer.
    """

    kind: GeofenceKind
    center: LonLat
    radius_m: float
    rings: tuple[tuple[LonLat, ...], ...] = ()

    @classmethod
    def circle(cls, center: LonLat, radius_m: float = DEFAULT_RADIUS_M) -> Geofence:
        """Build a circular geofence around ``center``."""
        if not (math.isfinite(radius_m) and radius_m > 0.0):
            raise ValueError("radius must be a positive number of metres")
        return cls(GeofenceKind.CIRCLE, _check_position(center), float(radius_m))

    @classmethod
    def polygon(cls, rings: Sequence[Sequence[Sequence[float]]]) -> Geofence:
        """Build a polygon geofence from GeoJSON rings ([lon, lat] positions, first outer)."""
        if not rings:
            raise ValueError("a polygon needs at least one ring")
        parsed = tuple(_open_ring(r) for r in rings)
        origin = parsed[0][0]
        outer_area, cx, cy = _ring_area_centroid(origin, parsed[0])
        holes_area = sum(abs(_ring_area_centroid(origin, h)[0]) for h in parsed[1:])
        area = abs(outer_area) - holes_area
        if area <= 0.0:
            raise ValueError("a polygon must have a positive area")
        center = _from_local(origin, cx, cy)
        if not point_in_polygon(center, parsed):
            center = min(parsed[0], key=lambda p: haversine_m(p, center))
        return cls(GeofenceKind.POLYGON, center, math.sqrt(area / math.pi), parsed)

    @classmethod
    def from_geojson(cls, geometry: Mapping[str, Any], radius_m: float | None = None) -> Geofence:
        """Parse a GeoJSON Point (with ``radius_m``, default 50 m) or Polygon geometry once."""
        kind = geometry.get("type")
        coordinates = geometry.get("coordinates")
        if kind == "Point":
            radius = DEFAULT_RADIUS_M if radius_m is None else radius_m
            return cls.circle(_check_position(coordinates), radius)
        if kind == "Polygon":
            if not isinstance(coordinates, Sequence) or isinstance(coordinates, str):
                raise ValueError("polygon coordinates must be a list of rings")
            return cls.polygon(coordinates)
        raise ValueError(f"unsupported destination geometry type: {kind!r}")

    @classmethod
    def from_destination(cls, destination: Mapping[str, Any]) -> Geofence:
        """Parse an Orders API destination ``{"geometry": {...}, "radius": metres}``."""
        geometry = destination.get("geometry")
        if not isinstance(geometry, Mapping):
            raise ValueError("destination needs a geometry")
        radius = destination.get("radius")
        return cls.from_geojson(geometry, None if radius is None else float(radius))

    def to_geojson(self) -> dict[str, Any]:
        """Return the GeoJSON geometry (rings closed again for polygons)."""
        if self.kind is GeofenceKind.CIRCLE:
            return {"type": "Point", "coordinates": [self.center[0], self.center[1]]}
        return {
            "type": "Polygon",
            "coordinates": [[[p[0], p[1]] for p in (*ring, ring[0])] for ring in self.rings],
        }

    def contains(self, point: LonLat) -> bool:
        """Return whether ``point`` itself (ignoring accuracy) lies inside the geofence."""
        return self.signed_distance_m(point) <= 0.0

    def signed_distance_m(self, point: LonLat) -> float:
        """Return metres from the boundary: negative inside, positive outside."""
        if self.kind is GeofenceKind.CIRCLE:
            return haversine_m(self.center, point) - self.radius_m
        edge = distance_to_polygon_boundary_m(point, self.rings)
        return -edge if point_in_polygon(point, self.rings) else edge

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (GeoJSON geometry plus radius for circles)."""
        radius = self.radius_m if self.kind is GeofenceKind.CIRCLE else None
        return {"geometry": self.to_geojson(), "radius": radius}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geofence:
        """Rebuild a geofence from :meth:`to_dict` output."""
        return cls.from_destination(data)


def _stored_geofence(value: Any) -> Geofence:
    return value if isinstance(value, Geofence) else Geofence.from_dict(value)


StoredGeofence = Annotated[Geofence, PlainValidator(_stored_geofence),
                           PlainSerializer(Geofence.to_dict)]
"""A geofence in stored tracking state (``engine.codec``): its destination form."""


@dataclass(frozen=True, slots=True)
class Box:
    """A lon/lat rectangle containing every point of a geofence: a point outside it is outside
    the geofence, which a few comparisons decide (no trigonometry)."""

    min_lon: float
    max_lon: float
    min_lat: float
    max_lat: float

    @classmethod
    def around(cls, geofence: Geofence) -> Box | None:
        """The box of a geofence; None where no simple box works (poles, antimeridian)."""
        if geofence.kind is GeofenceKind.POLYGON:
            outer = geofence.rings[0]
            lons, lats = [p[0] for p in outer], [p[1] for p in outer]
            return cls(min(lons) - BOX_MARGIN_DEG, max(lons) + BOX_MARGIN_DEG,
                       min(lats) - BOX_MARGIN_DEG, max(lats) + BOX_MARGIN_DEG)
        lon, lat = geofence.center
        angle = geofence.radius_m / EARTH_RADIUS_M
        # Every point within the great-circle radius differs from the centre by at most
        # ``angle`` in latitude and asin(sin(angle) / cos(lat)) in longitude.
        reach = math.sin(angle) / max(math.cos(math.radians(lat)), 1e-12)
        dlat = math.degrees(angle) + BOX_MARGIN_DEG
        if reach >= 1.0 or abs(lat) + dlat >= 90.0:
            return None
        dlon = math.degrees(math.asin(reach)) + BOX_MARGIN_DEG
        if abs(lon) + dlon >= 180.0:
            return None
        return cls(lon - dlon, lon + dlon, lat - dlat, lat + dlat)

    def may_contain(self, lon: float, lat: float) -> bool:
        """Whether the point lies in the box (it may then be inside the geofence)."""
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    def overlaps(self, other: Box) -> bool:
        """Whether two boxes share any point."""
        return (self.min_lon <= other.max_lon and other.min_lon <= self.max_lon
                and self.min_lat <= other.max_lat and other.min_lat <= self.max_lat)


BOX_MARGIN_DEG = 1e-6
"""Slack of a geofence's box (about 0.1 m), against floating-point rounding."""


@lru_cache(maxsize=65536)
def box_of(geofence: Geofence) -> Box | None:
    """:meth:`Box.around`, remembered per geofence: every batch of fixes needs the box of each
    order of its route, and those stay the same all day."""
    return Box.around(geofence)


def inside_confidence(geofence: Geofence, fix: Fix, *, exit_buffer_m: float = 0.0) -> Presence:
    """Classify ``fix`` against ``geofence`` taking its accuracy circle into account.

    INSIDE when the whole accuracy circle is inside, or the point is inside and the accuracy is
    small (at most half the radius, or at most 20 m); OUTSIDE when the point is farther than
    ``exit_buffer_m`` + accuracy beyond the boundary; UNCERTAIN in between (the hysteresis band).
    """
    accuracy = fix.accuracy_or_assumed_m
    distance = geofence.signed_distance_m(fix.lonlat)
    if distance + accuracy <= 0.0:
        return Presence.INSIDE
    small = accuracy <= max(SMALL_ACCURACY_FRACTION * geofence.radius_m, TRUSTED_ACCURACY_M)
    if distance <= 0.0 and small:
        return Presence.INSIDE
    if distance > exit_buffer_m + accuracy:
        return Presence.OUTSIDE
    return Presence.UNCERTAIN
