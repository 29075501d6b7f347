"""The Earth as a sphere: its radius and the great-circle distance every domain measures with
(straight-line travel, geofences, fixes, device choice)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
"""The mean Earth radius (IUGG), metres."""


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the great-circle distance in metres between two (lon, lat) points in degrees."""
    lon_a, lat_a = math.radians(a[0]), math.radians(a[1])
    lon_b, lat_b = math.radians(b[0]), math.radians(b[1])
    h = (
        math.sin((lat_b - lat_a) / 2) ** 2
        + math.cos(lat_a) * math.cos(lat_b) * math.sin((lon_b - lon_a) / 2) ** 2
    )
    # Rounding can push h a hair above 1 for antipodal points, where asin would fail.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))
