"""Contract section 2.3 (and 5.2): ``POST /orders/track`` puts the worker's device on the
route, its orders and every webhook envelope; a switch mid-route is ``device_switched``
(issue 15 item 2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.contract.spec import answers, conforms
from tests.factories import create_orders_body, order_body
from tests.processing import drain
from tests.tracking.api_helpers import bearer, outbox, register

BERLIN = [13.38, 52.52]


def _worker(api: TestClient, handle: str) -> None:
    assert api.post("/workers/", json={"worker_handle": handle, "name": handle}) \
        .status_code == 201


def _planned_route(api: TestClient, worker: str) -> dict[str, Any]:
    body = create_orders_body(order_body(destination={"geometry": {
        "type": "Point", "coordinates": BERLIN}}), worker_handle=worker)
    response = api.post("/orders/", json=body)
    assert response.status_code == 201, response.text
    route: dict[str, Any] = response.json()
    return route


def _report(api: TestClient, device: str, key: str, at: datetime) -> None:
    body = {"locations": [{"recorded_at": at.isoformat(),
                           "geometry": {"type": "Point", "coordinates": [13.30, 52.50]}}]}
    response = api.post(f"/devices/{device}/locations", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    drain(api)  # the worker's tracking processor, right after the upload


def test_a_device_registered_after_planning_tracks_the_route(
    api: TestClient, db: Database, tenant: Tenant
) -> None:
    """Route, orders and the started webhook carry the device registered after planning."""
    _worker(api, "ada")
    planned = _planned_route(api, "ada")
    assert planned["device_id"] is None
    register(api, "phone-ada", "ada")
    route = answers("track", api.post("/orders/track", json={
        "route_handle": planned["route_handle"], "track_mode": "on_time"}))
    assert route["device_id"] == "phone-ada"
    assert [o["device_id"] for o in route["orders"]] == ["phone-ada"]
    handle = route["orders"][0]["order_handle"]
    started = outbox(db, tenant.account_id, order_handle=handle, value="started")
    assert [e["device_id"] for e in started] == ["phone-ada"]
    for envelope in outbox(db, tenant.account_id, order_handle=handle):
        conforms("WebhookEvent", envelope)


def test_login_takes_the_last_used_device_and_follows_a_switch(
    api: TestClient, db: Database, tenant: Tenant
) -> None:
    """login: the device last heard from starts the route; when the worker's other device
    reports, route and orders switch and device_switched is recorded and sent."""
    _worker(api, "bo")
    old_key = register(api, "bo-old", "bo")
    new_key = register(api, "bo-new", "bo")
    now = datetime.now(UTC)
    _report(api, "bo-old", old_key, now - timedelta(minutes=5))
    planned = _planned_route(api, "bo")
    route = answers("track", api.post("/orders/track", json={
        "route_handle": planned["route_handle"], "track_mode": "on_time"}))
    assert route["device_id"] == "bo-old"
    _report(api, "bo-new", new_key, now)
    after = api.get(f"/orders/routes/{route['route_handle']}").json()
    assert after["device_id"] == "bo-new"
    handle = after["orders"][0]["order_handle"]
    detail = api.get(f"/orders/{handle}").json()
    assert detail["device_id"] == "bo-new"
    (switched,) = [e for e in detail["timeline"] if e["type"] == "device_switched"]
    assert (switched["previous_device_id"], switched["new_device_id"]) == ("bo-old", "bo-new")
    (event,) = outbox(db, tenant.account_id, order_handle=handle, value="device_switched")
    conforms("WebhookEvent", event)
    assert event["device_id"] == "bo-new"
    assert (event["data"]["previous_device_id"], event["data"]["new_device_id"]) == \
        ("bo-old", "bo-new")


def test_manual_keeps_the_device(api: TestClient, db: Database, tenant: Tenant) -> None:
    """manual: the other device's fixes do not switch the route."""
    _worker(api, "cy")
    register(api, "cy-a", "cy")
    other = register(api, "cy-b", "cy")
    route = answers("track", api.post("/orders/track", json={
        "worker_handle": "cy", "device_id": "cy-a", "track_mode": "on_time",
        "device_switch_mode": "manual", "orders": [order_body()]}))
    assert route["device_id"] == "cy-a"
    _report(api, "cy-b", other, datetime.now(UTC))
    assert api.get(f"/orders/routes/{route['route_handle']}").json()["device_id"] == "cy-a"
    assert outbox(db, tenant.account_id, value="device_switched") == []
