"""An ops group's operations radius: how far from its home its workers take orders."""

from __future__ import annotations

from routekeeper.models.ops_group import OpsGroup
from routekeeper.travel.base import LonLat
from routekeeper.travel.straight import haversine_m


def outside_radius(group: OpsGroup, point: LonLat) -> bool:
    """Whether ``point`` lies beyond the ops group's enforced ``operations_radius`` (meters
    from ``ops_group_home``, great circle); never when the group enforces none."""
    if not group.enforce_operations_radius or not group.operations_radius:
        return False
    coordinates = ((group.ops_group_home or {}).get("geometry") or {}).get("coordinates")
    if not coordinates:
        return False
    home = (float(coordinates[0]), float(coordinates[1]))
    return haversine_m(home, point) > group.operations_radius
