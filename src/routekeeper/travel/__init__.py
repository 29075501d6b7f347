"""Travel model: distances, durations and leg geometry between points (straight line or OSRM)."""

from __future__ import annotations

from routekeeper.settings import RoutingSettings
from routekeeper.travel.base import (
    TRAVEL_FAILURE_MESSAGE,
    UNREACHABLE,
    Leg,
    LonLat,
    TravelError,
    TravelMatrix,
    TravelModel,
    lonlat_array,
    travel_path,
)
from routekeeper.travel.osrm import OsrmModel, table_blocks
from routekeeper.travel.road import RoadModel
from routekeeper.travel.straight import (
    EARTH_RADIUS_M,
    StraightLineModel,
    haversine_m,
    haversine_matrix_m,
)

__all__ = [
    "EARTH_RADIUS_M",
    "TRAVEL_FAILURE_MESSAGE",
    "UNREACHABLE",
    "Leg",
    "LonLat",
    "OsrmModel",
    "RoadModel",
    "StraightLineModel",
    "TravelError",
    "TravelMatrix",
    "TravelModel",
    "haversine_m",
    "haversine_matrix_m",
    "lonlat_array",
    "table_blocks",
    "travel_model_from_settings",
    "travel_path",
]


def travel_model_from_settings(routing: RoutingSettings) -> TravelModel:
    """Return the road model over routing.osrm_url when set, else the straight-line model.

    A local dataset (routing.dataset) needs its osrm-routed child: use travel.runtime.
    """
    straight = StraightLineModel(detour_factor=routing.detour_factor, speed_kmh=routing.speed_kmh)
    if routing.osrm_url:
        osrm = OsrmModel(
            routing.osrm_url,
            profile=routing.osrm_profile,
            timeout_s=routing.osrm_timeout_s,
            max_table_size=routing.osrm_max_table_size,
        )
        return RoadModel(osrm, straight, max_snap_m=routing.max_snap_m,
                         cache_points=routing.matrix_cache_points)
    return straight
