"""Tests of distances, polygons and accuracy-aware presence."""

from __future__ import annotations

import math

import pytest

from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.geofence import (
    Geofence,
    GeofenceKind,
    Presence,
    distance_to_polygon_boundary_m,
    haversine_m,
    inside_confidence,
    point_in_polygon,
)

from .simulate import ORIGIN, T0, offset

SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
HOLE = [[0.4, 0.4], [0.4, 0.6], [0.6, 0.6], [0.6, 0.4], [0.4, 0.4]]
ONE_DEGREE_M = 6_371_008.8 * math.pi / 180.0


def square_m(half_m: float) -> list[list[float]]:
    """Return a closed square ring of half-width ``half_m`` around ORIGIN."""
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    ring = [list(offset(ORIGIN, e, n)) for e, n in corners]
    return [*ring, ring[0]]


def test_haversine_known_values() -> None:
    """One degree along a meridian or the equator is R*pi/180; Paris-London is about 343.5 km."""
    assert haversine_m((0.0, 0.0), (0.0, 1.0)) == pytest.approx(ONE_DEGREE_M, rel=1e-9)
    assert haversine_m((0.0, 0.0), (1.0, 0.0)) == pytest.approx(ONE_DEGREE_M, rel=1e-9)
    assert haversine_m((2.3522, 48.8566), (-0.1276, 51.5072)) == pytest.approx(343_500, rel=3e-3)
    assert haversine_m(ORIGIN, ORIGIN) == 0.0


def test_point_in_polygon_with_hole() -> None:
    """Points in the ring are inside, points in the hole and beyond the ring are not."""
    rings = [[(p[0], p[1]) for p in SQUARE], [(p[0], p[1]) for p in HOLE]]
    assert point_in_polygon((0.2, 0.2), rings)
    assert point_in_polygon((0.7, 0.5), rings)
    assert not point_in_polygon((0.5, 0.5), rings)
    assert not point_in_polygon((1.5, 0.5), rings)
    assert not point_in_polygon((-0.1, 0.5), rings)


def test_distance_to_polygon_boundary() -> None:
    """Distances to a 200 m square: 100 m from the centre, 50 m from a point beyond an edge."""
    geofence = Geofence.from_geojson({"type": "Polygon", "coordinates": [square_m(100)]})
    rings = geofence.rings
    assert distance_to_polygon_boundary_m(ORIGIN, rings) == pytest.approx(100, abs=0.2)
    east = offset(ORIGIN, 150, 0)
    assert distance_to_polygon_boundary_m(east, rings) == pytest.approx(50, abs=0.2)
    corner = offset(ORIGIN, 130, 140)
    assert distance_to_polygon_boundary_m(corner, rings) == pytest.approx(50, abs=0.3)
    assert geofence.signed_distance_m(ORIGIN) == pytest.approx(-100, abs=0.2)
    assert geofence.signed_distance_m(east) == pytest.approx(50, abs=0.2)


def test_distance_to_polygon_counts_holes() -> None:
    """Inside a polygon's ring near a hole the nearest boundary is the hole's edge."""
    hole = square_m(20)
    geofence = Geofence.from_geojson({"type": "Polygon", "coordinates": [square_m(100), hole]})
    near_hole = offset(ORIGIN, 30, 0)
    assert geofence.signed_distance_m(near_hole) == pytest.approx(-10, abs=0.1)
    assert geofence.signed_distance_m(ORIGIN) == pytest.approx(20, abs=0.1)


def test_geofence_parsing() -> None:
    """Points take a radius (default 50 m), polygons an equal-area radius and an inner centre."""
    point = Geofence.from_destination(
        {"geometry": {"type": "Point", "coordinates": list(ORIGIN)}, "radius": 80}
    )
    assert point.kind is GeofenceKind.CIRCLE and point.radius_m == 80 and point.center == ORIGIN
    assert Geofence.from_geojson({"type": "Point", "coordinates": list(ORIGIN)}).radius_m == 50
    polygon = Geofence.from_geojson({"type": "Polygon", "coordinates": [square_m(100)]})
    assert polygon.radius_m == pytest.approx(200 / math.sqrt(math.pi), rel=1e-3)
    assert haversine_m(polygon.center, ORIGIN) < 0.5
    assert Geofence.from_dict(polygon.to_dict()) == polygon
    assert Geofence.from_dict(point.to_dict()) == point


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
        {"type": "Point", "coordinates": [200, 0]},
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
    ],
)
def test_geofence_rejects_bad_geometry(geometry: dict[str, object]) -> None:
    """Unsupported types, out-of-range points and degenerate rings are refused."""
    with pytest.raises(ValueError):
        Geofence.from_geojson(geometry)


def test_geofence_rejects_bad_radius() -> None:
    """A circle needs a positive radius."""
    with pytest.raises(ValueError, match="radius"):
        Geofence.circle(ORIGIN, 0)


def fix_at(east_m: float, accuracy_m: float | None) -> Fix:
    """Return a fix ``east_m`` east of ORIGIN."""
    lon, lat = offset(ORIGIN, east_m, 0)
    return Fix(T0, lon, lat, accuracy_m=accuracy_m)


@pytest.mark.parametrize(
    ("east_m", "accuracy_m", "expected"),
    [
        (0, 10, Presence.INSIDE),  # deep inside
        (90, 5, Presence.INSIDE),  # whole accuracy circle inside
        (95, 40, Presence.INSIDE),  # point inside, accuracy under half the radius
        (90, 60, Presence.UNCERTAIN),  # point inside but accuracy too coarse
        (99, None, Presence.INSIDE),  # unknown accuracy counts as 20 m
        (120, 5, Presence.UNCERTAIN),  # in the hysteresis band (20 <= 30 + 5)
        (134, 5, Presence.UNCERTAIN),
        (136, 5, Presence.OUTSIDE),  # beyond radius + buffer + accuracy
        (2000, 3000, Presence.UNCERTAIN),  # a cell-tower fix could be anywhere
        (5000, 3000, Presence.OUTSIDE),
    ],
)
def test_inside_confidence(east_m: float, accuracy_m: float | None, expected: Presence) -> None:
    """Presence against a 100 m circle with a 30 m exit buffer depends on accuracy."""
    geofence = Geofence.circle(ORIGIN, 100)
    assert inside_confidence(geofence, fix_at(east_m, accuracy_m), exit_buffer_m=30) is expected


def test_small_geofence_stays_reachable() -> None:
    """A 15 m circle still yields INSIDE for a point inside with ordinary 10 m accuracy."""
    geofence = Geofence.circle(ORIGIN, 15)
    assert inside_confidence(geofence, fix_at(8, 10)) is Presence.INSIDE
