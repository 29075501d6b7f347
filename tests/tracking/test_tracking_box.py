"""Geofence boxes: the fast path that skips approaching orders must never skip a point inside."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from routekeeper.tracking.engine.geofence import EARTH_RADIUS_M, Box, Geofence

from .simulate import offset

lons = st.floats(min_value=-179.0, max_value=179.0)
lats = st.floats(min_value=-85.0, max_value=85.0)


@settings(max_examples=300, deadline=None)
@given(lon=lons, lat=lats, radius_m=st.floats(min_value=1.0, max_value=50_000.0),
       bearing=st.floats(min_value=0.0, max_value=2 * math.pi),
       fraction=st.floats(min_value=0.0, max_value=1.0))
def test_every_point_of_a_circle_is_in_its_box(lon: float, lat: float, radius_m: float,
                                              bearing: float, fraction: float) -> None:
    """A point the geofence contains always lies in the geofence's box (or there is no box)."""
    fence = Geofence.circle((lon, lat), radius_m)
    distance = fraction * radius_m
    point = offset((lon, lat), distance * math.sin(bearing), distance * math.cos(bearing))
    if not fence.contains(point):
        return
    box = Box.around(fence)
    assert box is None or box.may_contain(*point)


@settings(max_examples=200, deadline=None)
@given(lon=lons, lat=lats, size_m=st.floats(min_value=5.0, max_value=5_000.0),
       u=st.floats(min_value=0.0, max_value=1.0), v=st.floats(min_value=0.0, max_value=1.0))
def test_every_point_of_a_polygon_is_in_its_box(lon: float, lat: float, size_m: float,
                                               u: float, v: float) -> None:
    """Points inside a (triangular) polygon lie in its box."""
    a, b, c = (lon, lat), offset((lon, lat), size_m, 0.0), offset((lon, lat), 0.0, size_m)
    try:
        fence = Geofence.polygon([[list(a), list(b), list(c), list(a)]])
    except ValueError:
        return  # degenerate at this scale
    if u + v > 1.0:
        u, v = 1.0 - u, 1.0 - v
    point = (a[0] + u * (b[0] - a[0]) + v * (c[0] - a[0]),
             a[1] + u * (b[1] - a[1]) + v * (c[1] - a[1]))
    box = Box.around(fence)
    assert box is not None and box.may_contain(*point)


def test_points_far_away_are_outside_and_near_the_poles_there_is_no_box() -> None:
    """The box is tight enough to skip far fixes, and gives up where it cannot be simple."""
    fence = Geofence.circle((13.4, 52.5), 50.0)
    box = Box.around(fence)
    assert box is not None
    assert not box.may_contain(*offset((13.4, 52.5), 120.0, 0.0))
    assert not box.may_contain(*offset((13.4, 52.5), 0.0, -120.0))
    assert Box.around(Geofence.circle((0.0, 89.9999), 50.0)) is None
    assert Box.around(Geofence.circle((179.9999, 0.0), 50.0)) is None
    assert math.degrees(50.0 / EARTH_RADIUS_M) < box.max_lat - 52.5 < 1e-3
