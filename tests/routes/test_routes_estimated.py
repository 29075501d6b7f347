"""GET /orders/estimated-routes/{id}: every ETA webhook names a stored estimated route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import routekeeper.tracking.clock
from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.tracking.api_helpers import TrackClock, arrive_at_p, make_road, outbox
from tests.tracking.simulate import ORIGIN, FakeTravel, offset

ETA_VALUES = ("first_eta", "eta_change", "n_minutes_away")


@pytest.fixture
def track_clock(monkeypatch: pytest.MonkeyPatch) -> TrackClock:
    """The tracking clock, set by the test."""
    fake = TrackClock()
    monkeypatch.setattr(routekeeper.tracking.clock, "now", fake)
    return fake


@pytest.fixture
def travel(app: Any) -> Iterator[FakeTravel]:
    """The simulation's straight-line travel model in the app, for one test."""
    previous = app.state.travel
    fake = FakeTravel(5.0)
    app.state.travel = fake
    yield fake
    app.state.travel = previous


def _close(a: list[float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6


def test_eta_webhooks_name_an_estimated_route_through_the_remaining_stops(
    api: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel,
) -> None:
    road = make_road(api, db, tenant, track_clock)
    fixes = road.drive(0, 50, 0, 500)
    road.upload(*fixes)
    events = [e for e in outbox(db, tenant.account_id) if e["data"]["value"] in ETA_VALUES]
    first = {e["data"]["order_handle"]: e["data"] for e in events
             if e["data"]["value"] == "first_eta"}
    assert set(first) == {"r-P", "r-Q"}
    assert all(e["data"]["estimated_route_id"] for e in events)

    here = (fixes[-1].lon, fixes[-1].lat)
    p, q = offset(ORIGIN, 1000.0, 0.0), offset(ORIGIN, 2000.0, 0.0)
    to_q = first["r-Q"]
    response = api.get(f"/orders/estimated-routes/{to_q['estimated_route_id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["estimated_route_id"] == to_q["estimated_route_id"]
    coords = body["polyline"]["coordinates"]
    assert body["polyline"]["type"] == "LineString" and len(coords) == 3
    assert _close(coords[0], here) and _close(coords[1], p) and _close(coords[2], q)
    assert body["start_location"] == {"type": "Point", "coordinates": coords[0]}
    assert body["end_location"] == {"type": "Point", "coordinates": coords[2]}
    assert body["distance"] == to_q["remaining_distance"]
    assert body["duration"] == to_q["remaining_duration"]

    to_p = api.get(f"/orders/estimated-routes/{first['r-P']['estimated_route_id']}").json()
    assert len(to_p["polyline"]["coordinates"]) == 2
    assert _close(to_p["polyline"]["coordinates"][1], p)

    # Another account's estimated route is not found, like an unknown one.
    other = other_tenant.client.get(f"/orders/estimated-routes/{to_q['estimated_route_id']}")
    assert other.status_code == 404
    assert set(other.json()) == {"detail", "message"}
    assert api.get("/orders/estimated-routes/nope").status_code == 404
    assert api.get("/orders/estimated-routes/%00").status_code == 404


def test_after_arriving_at_p_the_route_to_q_starts_at_the_worker(
    api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock, travel: FakeTravel,
) -> None:
    road = make_road(api, db, tenant, track_clock)
    arrive_at_p(road)
    road.upload(*road.drive(300, 400, 1000, 1500))
    latest = [e["data"] for e in outbox(db, tenant.account_id, order_handle="r-Q")
              if e["data"]["value"] in ETA_VALUES][-1]
    body = api.get(f"/orders/estimated-routes/{latest['estimated_route_id']}").json()
    coords = body["polyline"]["coordinates"]
    assert len(coords) == 2
    assert _close(coords[1], offset(ORIGIN, 2000.0, 0.0))


def test_estimated_routes_need_credentials(anon: TestClient) -> None:
    response = anon.get("/orders/estimated-routes/x")
    assert response.status_code == 401
