"""Arrival at a place's polygon: the polygon, not a circle around its centre, decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant

from .api_helpers import (
    Road,
    TrackClock,
    backdate,
    make_worker,
    register,
    ts,
)
from .simulate import ORIGIN, FakeTravel, offset


def _rectangle(west_m: float, east_m: float, half_width_m: float) -> dict[str, object]:
    corners = [offset(ORIGIN, west_m, -half_width_m), offset(ORIGIN, east_m, -half_width_m),
               offset(ORIGIN, east_m, half_width_m), offset(ORIGIN, west_m, half_width_m)]
    ring = [list(c) for c in corners] + [list(corners[0])]
    return {"type": "Polygon", "coordinates": [ring]}


def test_arrival_uses_the_place_polygon(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel
) -> None:
    """A long yard 1.2-1.8 km east: standing at 1.25 km, 250 m from its centre, is arrival."""
    place = api.post("/places/v1/", json={"place_handle": "yard",
                                          "geometry": _rectangle(1200, 1800, 20)})
    assert place.status_code == 200, place.text
    make_worker(api, "driver")
    key = register(api, "phone", "driver")
    started_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    response = api.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": "driver",
        "orders": [{"order_handle": "to-yard", "destination": {"place_handle": "yard"},
                    "scheduled_at": ts(started_at + timedelta(hours=1))}]})
    assert response.status_code == 201, response.text
    route_handle = response.json()["route_handle"]
    backdate(db, tenant.account_id, route_handle, started_at)
    track_clock.now = started_at
    road = Road(api, TestClient(api.app, raise_server_exceptions=False), key, db,
                tenant.account_id, track_clock, route_handle, started_at, {"Y": "to-yard"})
    road.upload(*road.drive(0, 100, 0, 1150))
    assert road.order("Y")["arrived_at"] is None  # 50 m short of the yard: outside
    road.upload(*road.drive(110, 200, 1250, 1250))
    assert road.order("Y")["arrived_at"] is not None
