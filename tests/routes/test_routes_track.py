"""POST /orders/track: create orders and a route and start it at once, or start an existing
route; every error of contract section 2.3 in its documented shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    events,
    make_group,
    make_worker,
    orders_at,
    point,
    set_devices,
)

SHARE = re.compile(r"^http://testserver/t/([A-Za-z0-9_-]+)$")


def _track(api: TestClient, **fields: Any) -> Any:
    body = {"track_mode": "on_time", **fields}
    return api.post("/orders/track", json=body)


def test_track_creates_and_starts_a_route(api: TestClient, tenant: Tenant,
                                          db: Database) -> None:
    """Orders and route are created tracking: stamps, device, URLs and events."""
    make_group(api, "g")
    make_worker(api, "ada", group="g")
    set_devices(db, tenant.account_id, "ada", ["dev-1"])
    bodies = [order_body(destination=point(13.41, 52.5)),
              order_body(destination=point(13.42, 52.5), scheduled_at=None)]
    response = _track(api, worker_handle="ada", orders=bodies, track_mode="full_shift",
                      route={"route_handle": "shift-1", "metadata": {"van": 7}})
    assert response.status_code == 201, response.text
    route = response.json()
    assert (route["route_handle"], route["status"], route["track_mode"]) == \
        ("shift-1", "tracking", "full_shift")
    assert (route["worker_handle"], route["device_id"], route["ops_group_handle"]) == \
        ("ada", "dev-1", "g")
    assert route["metadata"] == {"van": 7} and route["plan_mode"] == "manual"
    assert route["version"] == 1  # created and started in one change, as in HyperTrack's example
    for stamp in ("created_at", "planned_at", "assigned_at", "started_at"):
        assert route[stamp], stamp
    assert route["embed_url"].split("?")[0] == "http://testserver/embed/routes/shift-1"
    assert route["device_switch_mode"] == "login"  # the contract's default
    tracking_ids = set()
    for order, body in zip(route["orders"], bodies, strict=True):
        assert order["order_handle"] == body["order_handle"]
        assert (order["status"], order["worker_handle"], order["device_id"]) == \
            ("ongoing", "ada", "dev-1")
        for stamp in ("created_at", "planned_at", "assigned_at", "started_at"):
            assert order[stamp], stamp
        match = SHARE.match(order["share_url"])
        assert match, order["share_url"]
        assert len(match.group(1)) >= 16 and body["order_handle"] not in match.group(1)
        tracking_ids.add(match.group(1))
        assert order["embed_url"].split("?")[0] == "http://testserver/embed/routes/shift-1"
        assert order["estimate"]["initial_arrive_at"] == order["estimate"]["arrive_at"]
    assert len(tracking_ids) == 2
    assert route["orders"][1]["scheduled_at"] is None  # optional on track
    assert events(db, tenant.account_id, type="route") == ["created", "assigned", "started"]
    assert events(db, tenant.account_id, type="order",
                  order_handle=bodies[0]["order_handle"]) == ["assigned", "started"]


def test_track_by_device_resolves_the_worker(api: TestClient, tenant: Tenant,
                                             db: Database) -> None:
    """device_id alone picks the worker it is linked to."""
    make_worker(api, "bo")
    set_devices(db, tenant.account_id, "bo", ["phone-a", "phone-b"])
    response = _track(api, device_id="phone-b", orders=[order_body()])
    assert response.status_code == 201, response.text
    assert (response.json()["worker_handle"], response.json()["device_id"]) == \
        ("bo", "phone-b")


def test_track_starts_an_existing_route_once(api: TestClient, tenant: Tenant,
                                             db: Database) -> None:
    """route_handle starts a planned route; again, or once completed, is a 400."""
    make_worker(api, "ada")
    a, b = orders_at(api, (13.41, 52.5), (13.42, 52.5))
    route = create_route(api, [a, b], worker_handle="ada")
    assert api.post(f"/orders/{b}/disable").status_code == 200  # the route follows: version 2
    response = _track(api, route_handle=route["route_handle"], track_mode="pre_shift",
                      device_switch_mode="closest_to_destination")
    assert response.status_code == 201, response.text
    started = response.json()
    assert (started["status"], started["track_mode"], started["version"]) == \
        ("tracking", "pre_shift", 3)
    assert started["started_at"] and started["device_switch_mode"] == "closest_to_destination"
    assert [o["status"] for o in started["orders"]] == ["ongoing", "disabled"]
    assert started["orders"][0]["share_url"] and started["orders"][1]["share_url"] is None
    again = _track(api, route_handle=route["route_handle"])
    assert again.status_code == 400
    assert again.json() == {"code": "validation_error", "title": "Route already tracking",
                            "detail": None}
    assert api.post(f"/orders/routes/{route['route_handle']}/complete").status_code == 200
    done = _track(api, route_handle=route["route_handle"])
    assert (done.status_code, done.json()["title"]) == (400, "Route already completed")
    assert events(db, tenant.account_id, type="route", route_handle=route["route_handle"]) == \
        ["created", "assigned", "updated", "started", "completed"]
    assert events(db, tenant.account_id, type="order", order_handle=a) == \
        ["assigned", "started", "cancelled"]


def test_track_route_errors(api: TestClient, tenant: Tenant, db: Database) -> None:
    """Unassigned route 400 "can not be tracked"; unknown route/device 404; stale version
    409."""
    route = create_route(api, orders_at(api, (13.41, 52.5)))
    response = _track(api, route_handle=route["route_handle"])
    assert (response.status_code, response.json()["title"]) == (400, "Route can not be tracked")
    response = _track(api, route_handle="nope")
    assert response.status_code == 404
    assert response.json()["code"] == "route_not_found"
    response = _track(api, route_handle=route["route_handle"], device_id="nope")
    assert response.json() == {"code": "device_not_found",
                               "title": "Device could not be found", "detail": None}
    response = _track(api, route_handle=route["route_handle"], version=5)
    assert (response.status_code, response.json()["code"]) == (409, "version_conflict")
    make_worker(api, "cy")
    set_devices(db, tenant.account_id, "cy", ["cy-phone"])
    response = _track(api, route_handle=route["route_handle"], device_id="cy-phone", version=1)
    assert response.status_code == 201, response.text
    assert response.json()["worker_handle"] == "cy"


def _order_count(api: TestClient) -> int:
    return len(api.get("/orders/", params={"limit": 1000}).json()["orders"])


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"worker_handle": "ghost"}, 404, "driver_not_found"),
    ({"worker_handle": "gone"}, 404, "driver_deleted"),
    ({"device_id": "ghost-phone"}, 404, "device_not_found"),
    ({"worker_handle": "ada", "ops_group_handle": "nowhere"}, 400, "ops_group_not_defined"),
    ({"worker_handle": "ada", "route": {"route_handle": "taken"}}, 409, "duplicate_resource"),
    ({"worker_handle": "ada", "order_handle": "open"}, 409, "duplicate_resource"),
], ids=["driver_not_found", "driver_deleted", "device_not_found", "ops_group_not_defined",
        "duplicate_route", "duplicate_order"])
def test_track_create_errors_create_nothing(api: TestClient, fields: dict[str, Any],
                                            status: int, code: str) -> None:
    """Each documented error, in the Error shape, and no order or route left behind."""
    make_worker(api, "ada")
    make_worker(api, "gone")
    assert api.delete("/workers/gone").status_code == 204
    (open_order,) = orders_at(api, (13.41, 52.5))
    taken = create_route(api, orders_at(api, (13.42, 52.5)), route_handle="taken")
    handle = open_order if fields.pop("order_handle", None) else "fresh"
    before = _order_count(api)
    response = _track(api, orders=[order_body(order_handle=handle)], **fields)
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], set(body)) == (code, {"code", "title", "detail"})
    assert _order_count(api) == before
    assert [r["route_handle"] for r in api.get("/orders/routes/").json()["routes"]] == \
        [taken["route_handle"]]


def test_track_request_validation(api: TestClient) -> None:
    """Missing track_mode, orders or worker, and bad enums are 422s naming the field."""
    make_worker(api, "ada")
    cases = [
        ({"worker_handle": "ada", "orders": [order_body()]}, "track_mode"),
        ({"track_mode": "on_time", "worker_handle": "ada"}, "orders"),
        ({"track_mode": "on_time", "orders": [order_body()]}, "worker_handle"),
        ({"track_mode": "sometimes", "worker_handle": "ada", "orders": [order_body()]},
         "track_mode"),
        ({"track_mode": "on_time", "worker_handle": "ada", "orders": [order_body()],
          "device_switch_mode": "never"}, "device_switch_mode"),
        ({"track_mode": "on_time", "worker_handle": "ada", "orders": []}, "orders"),
    ]
    for body, field in cases:
        response = api.post("/orders/track", json=body)
        assert response.status_code == 422, body
        assert field in response.json()["detail"]["json"], response.json()
