"""Builders of the places tests."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.testclient import TestClient

_counter = itertools.count()
POINT = {"type": "Point", "coordinates": [24.9431, 60.1695]}
SQUARE = {"type": "Polygon", "coordinates": [[
    [24.940, 60.160], [24.944, 60.160], [24.944, 60.162], [24.940, 60.162], [24.940, 60.160]]]}


def place_body(**overrides: Any) -> dict[str, Any]:
    """A place with a unique handle at a point in central Helsinki."""
    body: dict[str, Any] = {
        "place_handle": f"place-{next(_counter)}", "name": "Central Depot", "geometry": POINT,
        "radius": 40, "address": "Keskuskatu 7, Helsinki", "place_type": "warehouse",
        "expected_service_time": 420, "metadata": {"zone": "north"},
        "timings": [{"day_of_week": "monday", "start_time": "08:00", "end_time": "16:00"}],
        "closed_on": ["2031-12-25"],
    }
    body.update(overrides)
    return body


def create_place(client: TestClient, **overrides: Any) -> dict[str, Any]:
    """POST /places/v1/ and return the place."""
    response = client.post("/places/v1/", json=place_body(**overrides))
    assert response.status_code == 200, response.text
    place: dict[str, Any] = response.json()
    return place
