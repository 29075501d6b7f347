"""GET /orders/estimate (read-only estimate of a sequence) and POST /orders/{h}/reassign
(move an order to another worker's route)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.factories import iso, order_body
from tests.routes.helpers import (
    create_route,
    events,
    leg,
    make_group,
    make_orders,
    make_worker,
    order_row,
    orders_at,
    point,
    route_handles,
    stored_route,
    tomorrow_at,
    ts,
    window,
)

HOME = (13.40, 52.50)


def _estimate(api: TestClient, handles: list[str], group: str = "g") -> Any:
    return api.get("/orders/estimate", params={
        "ops_group_handle": group, "orders": json.dumps([{"order_handle": h} for h in handles])})


def test_estimate_of_a_sequence_changes_nothing(api: TestClient, tenant: Tenant,
                                                db: Database) -> None:
    """201 with the route estimate of the sequence as given, from the group's start; the
    orders stay unplanned and unestimated; a route in that sequence agrees."""
    make_group(api, "g", home=HOME)
    start = tomorrow_at(9)
    points = [(13.42, 52.50), (13.41, 52.50)]  # posted back to front on purpose
    handles = make_orders(api, *(order_body(destination=point(*p),
                                            **window(start, after_min=0, at_min=90,
                                                     service_s=300))
                                 for p in points), group="g")
    response = _estimate(api, handles)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"estimate", "orders"}
    (d1, s1), (d2, s2) = leg(HOME, points[0]), leg(points[0], points[1])
    estimate = body["estimate"]
    assert (estimate["distance"], estimate["duration"]) == (d1 + d2, s1 + s2)
    assert estimate["polyline"]["coordinates"] == [list(HOME), *map(list, points)]
    assert estimate["start_by"] == ts(start + timedelta(minutes=90, seconds=-s2 - 300 - s1))
    assert [o["order_handle"] for o in body["orders"]] == handles
    first = body["orders"][0]
    assert first["estimate"]["arrive_at"] == ts(start)  # leaves just in time for the window
    assert (first["estimate"]["distance"], first["status"]) == (d1, "unplanned")
    assert order_row(db, tenant.account_id, handles[0]) == ("unplanned", None)
    assert api.get(f"/orders/{handles[0]}").json()["estimate"] is None
    route = create_route(api, handles, ops_group_handle="g")
    assert route["estimate"] == estimate
    assert [o["estimate"]["arrive_at"] for o in route["orders"]] == \
        [o["estimate"]["arrive_at"] for o in body["orders"]]


def test_estimate_errors(api: TestClient) -> None:
    """Bad or missing parameters are 422s naming them; unknown orders a coded 404."""
    make_group(api, "g")
    (handle,) = orders_at(api, (13.41, 52.5), group="g")
    for bad in ("not json", "{}", "[]", '[{"type": "drop"}]', '["a"]',
                json.dumps([{"order_handle": handle, "type": "both"}])):
        response = api.get("/orders/estimate", params={"ops_group_handle": "g", "orders": bad})
        assert response.status_code == 422, bad
        assert list(response.json()["detail"]["query"]) == ["orders"], bad
    response = api.get("/orders/estimate", params={"orders": json.dumps([{"order_handle": "x"}])})
    assert response.status_code == 422
    assert "ops_group_handle" in response.json()["detail"]["query"]
    response = api.get("/orders/estimate", params={"ops_group_handle": "g"})
    assert list(response.json()["detail"]["query"]) == ["orders"]
    response = _estimate(api, [handle, handle])
    assert response.status_code == 422
    assert response.json()["detail"] == {"query": {"orders": {"1": {"order_handle":
                                                   ["Repeats orders.0."]}}}}
    response = _estimate(api, [handle, "ghost"])
    assert response.status_code == 404
    assert response.json() == {"code": "order_not_found", "title": "Order Not Found",
                               "detail": {"description": "Order not found for handle ghost"}}
    response = _estimate(api, [handle], group="nowhere")
    assert (response.status_code, response.json()["code"]) == (400, "ops_group_not_defined")


def _reassign(api: TestClient, handle: str, **body: Any) -> Any:
    return api.post(f"/orders/{handle}/reassign", json=body)


def test_reassign_inserts_into_the_workers_route_at_the_cheapest_place(
    api: TestClient, tenant: Tenant, db: Database,
) -> None:
    """The order leaves its route (version bumps, estimates follow) and joins the target
    worker's open route where the drive is shortest."""
    make_group(api, "g", home=HOME)
    make_worker(api, "ada", group="g")
    make_worker(api, "bo", group="g")
    mover, stay = orders_at(api, (13.43, 52.51), (13.41, 52.51), group="g")
    west, east = orders_at(api, (13.41, 52.50), (13.45, 52.50), group="g")
    old = create_route(api, [stay, mover], worker_handle="ada", ops_group_handle="g")
    target = create_route(api, [west, east], worker_handle="bo", ops_group_handle="g")
    response = _reassign(api, mover, worker_handle="bo")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["status"], detail["worker_handle"]) == ("assigned", "bo")
    assert detail["route_handle"] == target["route_handle"]
    assert detail["assigned_at"] and detail["estimate"]["arrive_at"]
    assert any(e["type"] == "order_assigned" for e in detail["timeline"])
    moved = api.get(f"/orders/routes/{target['route_handle']}").json()
    assert route_handles(moved) == [west, mover, east]  # on the way from west to east
    assert moved["version"] == 2
    left = api.get(f"/orders/routes/{old['route_handle']}").json()
    assert route_handles(left) == [stay] and left["version"] == 2
    assert left["estimate"]["distance"] < old["estimate"]["distance"]
    assert events(db, tenant.account_id, type="route", route_handle=old["route_handle"])[-1] \
        == "updated"
    assert events(db, tenant.account_id, type="order", order_handle=mover) == \
        ["assigned", "assigned"]


def test_reassign_to_a_worker_without_a_route_makes_one(api: TestClient, tenant: Tenant,
                                                        db: Database) -> None:
    """A worker with no open route gets a new one with just this order."""
    make_worker(api, "ada")
    make_worker(api, "cy")
    (order,) = orders_at(api, (13.41, 52.5))
    response = _reassign(api, order, driver_handle="cy")
    assert response.status_code == 200, response.text
    detail = response.json()
    route = api.get(f"/orders/routes/{detail['route_handle']}").json()
    assert (route["worker_handle"], route["status"], route_handles(route)) == \
        ("cy", "assigned", [order])
    # Reassigning to the worker who has it already changes nothing.
    same = _reassign(api, order, worker_handle="cy")
    assert same.status_code == 200
    assert stored_route(db, tenant.account_id, route["route_handle"])["version"] == 1


def test_reassign_picks_the_route_of_the_named_ops_group(api: TestClient) -> None:
    """With ops_group_handle the order joins the worker's open route in that group."""
    make_group(api, "g", home=HOME)
    make_worker(api, "ada")
    (in_default,) = orders_at(api, (13.41, 52.5))
    (in_g,) = orders_at(api, (13.42, 52.5), group="g")
    default_route = create_route(api, [in_default], worker_handle="ada")
    g_route = create_route(api, [in_g], worker_handle="ada", ops_group_handle="g")
    (order,) = orders_at(api, (13.43, 52.5))
    detail = _reassign(api, order, worker_handle="ada", ops_group_handle="default").json()
    assert detail["route_handle"] == default_route["route_handle"]
    (other,) = orders_at(api, (13.44, 52.5))
    detail = _reassign(api, other, worker_handle="ada").json()
    assert detail["route_handle"] == g_route["route_handle"]  # the newest open route
    response = _reassign(api, other, worker_handle="ada", ops_group_handle="nowhere")
    assert (response.status_code, response.json()["code"]) == (400, "ops_group_not_defined")


def test_reassign_errors(api: TestClient, tenant: Tenant, db: Database) -> None:
    """Unknown order or worker 404, finished order 409, no worker 422; nothing moves."""
    make_worker(api, "ada")
    (order,) = orders_at(api, (13.41, 52.5))
    assert _reassign(api, "ghost", worker_handle="ada").status_code == 404
    response = _reassign(api, order, worker_handle="ghost")
    assert (response.status_code, response.json()["code"]) == (404, "driver_not_found")
    response = _reassign(api, order)
    assert response.status_code == 422 and "_schema" in response.json()["detail"]["json"]
    # The per-order selector: this order has no pick row; an unknown type is a 422.
    response = api.post(f"/orders/{order}/reassign", params={"type": "pick"},
                        json={"worker_handle": "ada"})
    assert response.status_code == 404
    response = api.post(f"/orders/{order}/reassign", params={"type": "both"},
                        json={"worker_handle": "ada"})
    assert (response.status_code, list(response.json()["detail"]["query"])) == (422, ["type"])
    assert order_row(db, tenant.account_id, order) == ("unplanned", None)
    assert api.post(f"/orders/{order}/cancel").status_code == 200
    response = _reassign(api, order, worker_handle="ada")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")
    assert api.get("/orders/routes/").json()["routes"] == []


def test_reassign_into_a_tracking_route_starts_the_order(api: TestClient,
                                                         tenant: Tenant) -> None:
    """Joining a route that is being driven makes the order ongoing with a share link."""
    make_worker(api, "ada")
    started = api.post("/orders/track", json={"track_mode": "on_time", "worker_handle": "ada",
                                              "orders": [order_body()]})
    assert started.status_code == 201, started.text
    # A window open since an hour ago includes today (the route's day) at any hour: one of
    # the next two hours alone falls on tomorrow late in a UTC day, and an order due tomorrow
    # rightly never joins today's route.
    now = datetime.now(UTC)
    (order,) = orders_at(api, (13.41, 52.5), scheduled_after=iso(now - timedelta(hours=1)),
                         scheduled_at=iso(now + timedelta(hours=2)))
    detail = _reassign(api, order, worker_handle="ada").json()
    assert (detail["status"], detail["route_handle"]) == \
        ("ongoing", started.json()["route_handle"])
    assert detail["started_at"] and detail["share_url"]

