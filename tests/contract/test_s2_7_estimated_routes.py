"""Contract section 2.7: ``GET /orders/estimated-routes/{id}``, the drive behind an ETA
webhook, read with the id a ``first_eta`` webhook carries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import routekeeper.tracking.clock
from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms, fails
from tests.tracking.api_helpers import TrackClock, make_road, outbox
from tests.tracking.simulate import FakeTravel


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


def test_estimated_route_of_a_first_eta_webhook(
    api: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel,
) -> None:
    """The webhook's ``estimated_route_id`` opens the drive (a LineString with its distance
    and duration); another account and unknown ids get a 404 HTTPError."""
    road = make_road(api, db, tenant, track_clock, prefix="c")
    road.upload(*road.drive(0, 50, 0, 500))
    events = [e for e in outbox(db, tenant.account_id) if e["data"]["value"] == "first_eta"]
    assert events
    for event in events:
        conforms("WebhookEvent", event)
    estimated_id = events[0]["data"]["estimated_route_id"]
    body = answers("estimated_route", api.get(f"/orders/estimated-routes/{estimated_id}"))
    assert body["estimated_route_id"] == estimated_id
    assert body["polyline"]["type"] == "LineString"
    assert body["distance"] > 0 and body["duration"] > 0
    fails("estimated_route", other_tenant.client.get(
        f"/orders/estimated-routes/{estimated_id}"), 404, "HTTPError")
    fails("estimated_route", api.get("/orders/estimated-routes/ghost"), 404, "HTTPError")
