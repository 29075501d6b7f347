"""Tests of travel_model_from_settings and the package's public names."""

from __future__ import annotations

import routekeeper.travel as travel
from routekeeper.settings import RoutingSettings
from routekeeper.travel import (
    OsrmModel,
    RoadModel,
    StraightLineModel,
    travel_model_from_settings,
)


def test_default_settings_give_the_straight_line_model() -> None:
    """Without an OSRM URL the model is the straight line with the configured detour and speed."""
    model = travel_model_from_settings(RoutingSettings(detour_factor=1.5, speed_kmh=20.0))
    assert isinstance(model, StraightLineModel)
    assert (model.detour_factor, model.speed_kmh) == (1.5, 20.0)


def test_osrm_url_gives_the_road_model_over_osrm() -> None:
    """With an OSRM URL the model is the road model over OSRM with the configured settings."""
    routing = RoutingSettings(
        osrm_url="http://osrm.internal:5000/",
        osrm_profile="car",
        osrm_timeout_s=3.0,
        osrm_max_table_size=60,
        max_snap_m=250.0,
    )
    road = travel_model_from_settings(routing)
    assert isinstance(road, RoadModel)
    assert road.max_snap_m == 250.0
    model = road.osrm
    assert isinstance(model, OsrmModel)
    try:
        assert (model.base_url, model.profile, model.timeout_s, model.max_table_size) == (
            "http://osrm.internal:5000",
            "car",
            3.0,
            60,
        )
    finally:
        model.close()


def test_public_names_are_exported() -> None:
    """Every name in __all__ exists, including the interface names from base.py."""
    for name in travel.__all__:
        assert hasattr(travel, name), name
    assert {"LonLat", "TravelMatrix", "Leg", "TravelModel", "TravelError"} <= set(travel.__all__)
    assert {"TRAVEL_FAILURE_MESSAGE", "haversine_m", "haversine_matrix_m"} <= set(travel.__all__)
