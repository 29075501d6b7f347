"""Completing and cancelling through the API fills the actuals in the same transaction: the
answer, the next GET, the timeline entry and the webhook carry them at once, the periodic job
afterwards changes nothing, and untracked orders and routes get nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.settings import Settings
from tests.conftest import Tenant

from .api_helpers import (
    Road,
    TrackClock,
    check,
    make_road,
    outbox,
    run_job,
    stand_at_p_now,
    ts,
)
from .simulate import ORIGIN, FakeTravel, offset

# What tracking fills when an order finishes (besides what uploads fill on arrival and exit).
ORDER_ACTUALS = ("visited_destination", "completed_at_destination", "cancelled_at_destination",
                 "deviation_from_destination", "polyline", "start_location", "end_location",
                 "tracking_rate", "distance", "outage_summary")
ROUTE_ACTUALS = ("polyline", "start_location", "end_location", "tracking_rate", "distance",
                 "duration")


@pytest.fixture
def road(api: TestClient, db: Database, tenant: Tenant, track_clock: TrackClock,
         travel: FakeTravel) -> Road:
    """A fresh two-stop road for one test."""
    return make_road(api, db, tenant, track_clock)


def actuals(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The actual fields of an order or route answer."""
    return {name: body[name] for name in names}


def route(road: Road) -> dict[str, Any]:
    """GET /orders/routes/{handle} of the road's route (with its summary)."""
    body: dict[str, Any] = road.api.get(f"/orders/routes/{road.route_handle}").json()
    return body


def route_events(db: Database, account_id: str) -> list[dict[str, Any]]:
    """Route webhook envelopes of an account, oldest first."""
    with db.read() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.account_id == account_id, OutboxEvent.type == "route")
            .order_by(OutboxEvent.seq))
        return [dict(e.payload) for e in rows]


def test_a_completed_tracked_order_carries_its_actuals_at_once(
    road: Road, settings: Settings
) -> None:
    """Right after POST /complete, before any periodic step: GET shows deviation,
    completed_at_destination and the leg's polyline; the timeline entry and the ``completed``
    webhook carry them; the periodic job afterwards changes nothing and records nothing."""
    stand_at_p_now(road)
    handle = road.handles["P"]
    response = road.api.post(f"/orders/{handle}/complete")
    assert response.status_code == 200, response.text
    order = road.order("P")
    assert actuals(response.json(), ORDER_ACTUALS) == actuals(order, ORDER_ACTUALS)
    assert order["completed_at_destination"] is True
    assert order["visited_destination"] is True
    assert 0 <= order["deviation_from_destination"] <= 10
    assert order["cancelled_at_destination"] is None
    assert order["polyline"]["coordinates"]
    assert order["end_location"]["type"] == "Point"
    [entry] = [e for e in order["timeline"] if e["type"] == "order_completed"]
    assert entry["completed_at_destination"] is True
    assert entry["deviation_from_destination"] == order["deviation_from_destination"]
    [webhook] = outbox(road.db, road.account_id, order_handle=handle, value="completed")
    assert webhook["data"]["deviation"] == order["deviation_from_destination"]
    assert webhook["data"]["distance"] == order["distance"] is not None

    # The periodic job is still the safety net, but finds nothing left to do here.
    events_before = outbox(road.db, road.account_id, order_handle=handle)
    check(road.db, settings, road.account_id, road.route_handle)
    run_job(road.db, settings)
    again = road.order("P")
    assert actuals(again, ORDER_ACTUALS) == actuals(order, ORDER_ACTUALS)
    assert [e["type"] for e in again["timeline"]] == [e["type"] for e in order["timeline"]]
    assert outbox(road.db, road.account_id, order_handle=handle) == events_before


def test_cancelled_tracked_orders_carry_their_actuals_at_once(road: Road) -> None:
    """Cancelling at P: cancelled_at_destination true; cancelling Q, never reached: false, with
    the leg's polyline and distance, which its ``cancelled`` webhook carries."""
    stand_at_p_now(road)
    for name in ("P", "Q"):
        response = road.api.post(f"/orders/{road.handles[name]}/cancel")
        assert response.status_code == 200, response.text
    p, q = road.order("P"), road.order("Q")
    assert p["cancelled_at_destination"] is True and p["visited_destination"] is True
    assert q["cancelled_at_destination"] is False and q["visited_destination"] is False
    assert p["completed_at_destination"] is None and p["deviation_from_destination"] is None
    assert q["polyline"]["coordinates"] and q["distance"] is not None
    for name, order in (("P", p), ("Q", q)):
        [webhook] = outbox(road.db, road.account_id, order_handle=road.handles[name],
                           value="cancelled")
        assert webhook["data"]["distance"] == order["distance"]


def test_an_untracked_order_gets_no_actuals(road: Road) -> None:
    """An order on a route that never started is not tracked: completing it fills nothing,
    even though its worker's device reported from its destination a moment ago."""
    stand_at_p_now(road)
    response = road.api.post("/orders/", json={
        "plan_mode": "manual", "worker_handle": "driver",
        "orders": [{"order_handle": "untracked",
                    "destination": {"geometry": {"type": "Point",
                                                 "coordinates": list(offset(ORIGIN, 1000, 0))},
                                    "radius": 50, "address": "P street"},
                    "scheduled_at": ts(road.clock.now + timedelta(hours=2))}]})
    assert response.status_code == 201, response.text
    assert response.json()["status"] != "tracking"
    completed = road.api.post("/orders/untracked/complete")
    assert completed.status_code == 200, completed.text
    order = road.api.get("/orders/untracked").json()
    assert order["device_id"] == "phone"
    assert all(order[name] is None for name in ORDER_ACTUALS), actuals(order, ORDER_ACTUALS)
    [webhook] = outbox(road.db, road.account_id, order_handle="untracked", value="completed")
    assert webhook["data"]["deviation"] is None


def test_a_completed_tracked_route_carries_its_final_actuals_at_once(
    road: Road, settings: Settings
) -> None:
    """POST /orders/routes/{handle}/complete, before any periodic step: the answer and GET show
    the whole polyline and the coverage up to completion, its open orders are cancelled with
    their actuals, and the periodic job afterwards changes nothing."""
    stand_at_p_now(road)
    assert route(road)["polyline"] is None  # drawn by the periodic job or at completion
    response = road.api.post(f"/orders/routes/{road.route_handle}/complete")
    assert response.status_code == 200, response.text
    final = route(road)
    assert actuals(response.json(), ROUTE_ACTUALS) == actuals(final, ROUTE_ACTUALS)
    assert final["status"] == "completed"
    # 18 positions driving to and standing at P, and the one at P just now.
    assert len(final["polyline"]["coordinates"]) == 19
    assert final["end_location"]["coordinates"] == pytest.approx(
        list(offset(ORIGIN, 1003, 0.0)), abs=1e-6)
    # Seen for the first 170 s and the last few of the route's ~30 minutes.
    assert 0.05 < final["tracking_rate"] < 0.2
    assert final["distance"] == pytest.approx(1000, abs=30)
    p, q = road.order("P"), road.order("Q")
    assert (p["status"], p["cancelled_at_destination"]) == ("cancelled", True)
    assert (q["status"], q["cancelled_at_destination"]) == ("cancelled", False)
    assert [e["data"]["value"] for e in route_events(road.db, road.account_id)][-1] == \
        "completed"

    events_before = (route_events(road.db, road.account_id), outbox(road.db, road.account_id))
    check(road.db, settings, road.account_id, road.route_handle)
    run_job(road.db, settings)
    assert actuals(route(road), ROUTE_ACTUALS) == actuals(final, ROUTE_ACTUALS)
    assert actuals(road.order("Q"), ORDER_ACTUALS) == actuals(q, ORDER_ACTUALS)
    assert (route_events(road.db, road.account_id), outbox(road.db, road.account_id)) == \
        events_before


def test_finishing_the_last_order_completes_the_route_with_its_actuals(road: Road) -> None:
    """The route that completes itself with its last order is finalized in that request."""
    stand_at_p_now(road)
    assert road.api.post(f"/orders/{road.handles['P']}/complete").status_code == 200
    assert road.api.post(f"/orders/{road.handles['Q']}/cancel").status_code == 200
    final = route(road)
    assert (final["status"], final["completion_source"]) == ("completed", "orders_finished")
    assert len(final["polyline"]["coordinates"]) == 19
    assert road.order("P")["completed_at_destination"] is True
    assert road.order("Q")["cancelled_at_destination"] is False
