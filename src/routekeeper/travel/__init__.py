"""Travel model: distances, durations and leg geometry between points (straight line or OSRM)."""

from __future__ import annotations

from routekeeper.settings import RoutingSettings
from routekeeper.travel.base import (
    TRAVEL_FAILURE_MESSAGE,
    Leg,
    LonLat,
    TravelError,
    TravelMatrix,
    TravelModel,
    lonlat_array,
)
from routekeeper.travel.osrm import OsrmModel, table_blocks
from routekeeper.travel.straight import (
    EARTH_RADIUS_M,
    StraightLineModel,
    haversine_m,
    haversine_matrix_m,
)

__all__ = [
    "EARTH_RADIUS_M",
    "TRAVEL_FAILURE_MESSAGE",
    "Leg",
    "LonLat",
    "OsrmModel",
    "StraightLineModel",
    "TravelError",
    "TravelMatrix",
    "TravelModel",
    "haversine_m",
    "haversine_matrix_m",
    "lonlat_array",
    "table_blocks",
    "travel_model_from_settings",
]


def travel_model_from_settings(routing: RoutingSettings) -> TravelModel:
    """Return the OSRM model when routing.osrm_url is set, else the straight-line model."""
    if routing.osrm_url:
        return OsrmModel(
            routing.osrm_url,
            profile=routing.osrm_profile,
            timeout_s=routing.osrm_timeout_s,
            max_table_size=routing.osrm_max_table_size,
        )
    return StraightLineModel(detour_factor=routing.detour_factor, speed_kmh=routing.speed_kmh)
