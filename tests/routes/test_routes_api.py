"""Creating and reading routes through the API: POST/GET /orders/routes/, GET and PATCH a
route, and POST /orders/ in manual mode with a worker."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    make_group,
    make_orders,
    make_worker,
    order_row,
    orders_at,
    point,
    refs,
    route_handles,
    stored_route,
    tomorrow_at,
    window,
)

# West of home, then far east, then west again: posted in this order the worker zigzags.
ZIGZAG = [(13.39, 52.50), (13.47, 52.50), (13.38, 52.50), (13.46, 52.50)]


def test_create_route_plans_unplanned_orders(api: TestClient) -> None:
    """A manual route: 201, version 1, status planned, orders planned on it in sequence."""
    make_group(api, "g")
    handles = orders_at(api, (13.41, 52.50), (13.42, 52.50), group="g")
    route = create_route(api, handles, ops_group_handle="g", metadata={"zone": "north"},
                         track_mode="on_time")
    assert route["plan_mode"] == "manual" and route["status"] == "planned"
    assert route["version"] == 1 and route["ops_group_handle"] == "g"
    assert route["metadata"] == {"zone": "north"} and route["track_mode"] == "on_time"
    assert route["embed_url"].split("?")[0] == (
        f"http://testserver/embed/routes/{route['route_handle']}"
    )
    assert route["created_at"] and route["planned_at"] and route["assigned_at"] is None
    assert route_handles(route) == handles
    for order in route["orders"]:
        assert (order["status"], order["route_handle"]) == ("planned", route["route_handle"])
        assert order["planned_at"] and order["estimate"]["arrive_at"]
    listed = api.get("/orders/", params={"route_handle": route["route_handle"]}).json()
    assert sorted(o["order_handle"] for o in listed["orders"]) == sorted(handles)


def test_create_route_for_a_worker_assigns_it(api: TestClient) -> None:
    """With worker_handle (or driver_handle) the route and its orders are assigned."""
    make_worker(api, "ada")
    handles = orders_at(api, (13.41, 52.50))
    route = create_route(api, handles, driver_handle="ada")
    assert (route["status"], route["worker_handle"], route["driver_handle"]) == \
        ("assigned", "ada", "ada")
    assert route["assigned_at"] is not None
    assert route["orders"][0]["status"] == "assigned"
    assert route["orders"][0]["worker_handle"] == "ada"


def test_optimise_true_gives_the_shortest_sequence(api: TestClient) -> None:
    """Posted as a zigzag, optimise: true sequences the stops west to east instead."""
    make_group(api, "g")
    handles = orders_at(api, *ZIGZAG, group="g")
    posted = create_route(api, handles, ops_group_handle="g")
    others = orders_at(api, *ZIGZAG, group="g")
    optimised = create_route(api, others, ops_group_handle="g", optimise=True)
    by_handle = dict(zip(others, ZIGZAG, strict=True))
    lons = [by_handle[h][0] for h in route_handles(optimised)]
    assert lons == [13.38, 13.39, 13.46, 13.47] or lons == [13.39, 13.38, 13.46, 13.47]
    assert optimised["estimate"]["distance"] < posted["estimate"]["distance"] * 0.7


def test_create_route_errors(api: TestClient, tenant: Tenant, db: Database) -> None:
    """Unknown order 404 order_not_found; repeated order 422; planned order 409; unknown
    ops group 400; none of them leaves a route or changes an order."""
    first, second = orders_at(api, (13.41, 52.50), (13.42, 52.50))
    response = api.post("/orders/routes/", json={"orders": refs(first, "nope")})
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"
    response = api.post("/orders/routes/", json={"orders": refs(first, second, first)})
    assert response.status_code == 422
    assert response.json()["detail"] == {
        "json": {"orders": {"2": {"order_handle": ["Repeats orders.0."]}}}}
    response = api.post("/orders/routes/", json={"orders": refs(first), "ops_group_handle": "x"})
    assert (response.status_code, response.json()["code"]) == (400, "ops_group_not_defined")
    response = api.post("/orders/routes/", json={"orders": []})
    assert response.status_code == 422 and "orders" in response.json()["detail"]["json"]
    assert order_row(db, tenant.account_id, first) == ("unplanned", None)
    route = create_route(api, [first])
    response = api.post("/orders/routes/", json={"orders": refs(second, first)})
    assert response.status_code == 409
    assert response.json()["code"] == "order_not_unplanned"
    assert order_row(db, tenant.account_id, second) == ("unplanned", None)
    assert stored_route(db, tenant.account_id, route["route_handle"])["version"] == 1
    response = api.post("/orders/routes/", json={"orders": refs(second),
                                                 "route_handle": route["route_handle"]})
    assert (response.status_code, response.json()["code"]) == (409, "duplicate_resource")


def test_get_route_with_and_without_summary(api: TestClient) -> None:
    """GET a route: the detail shape; include_summary=false leaves the actuals out."""
    route = create_route(api, orders_at(api, (13.41, 52.50)))
    path = f"/orders/routes/{route['route_handle']}"
    detail = api.get(path)
    assert detail.status_code == 200
    body = detail.json()
    assert body["route_handle"] == route["route_handle"] and body["version"] == 1
    assert {"polyline", "start_location", "end_location", "tracking_rate"} <= body.keys()
    assert body["orders"][0]["destination"]["geometry"]["type"] == "Point"
    bare = api.get(path, params={"include_summary": "false"}).json()
    assert not {"polyline", "start_location", "end_location"} & bare.keys()
    assert bare["estimate"] == body["estimate"]
    assert api.get(path, params={"include_summary": "maybe"}).status_code == 422
    missing = api.get("/orders/routes/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": {"description": "Route not found for handle nope"},
                              "message": "Route not found"}


def test_patch_metadata_as_object_and_as_json_string(api: TestClient) -> None:
    """PATCH metadata takes an object or HyperTrack's JSON string; each change bumps."""
    route = create_route(api, orders_at(api, (13.41, 52.50)))
    path = f"/orders/routes/{route['route_handle']}"
    response = api.patch(path, json={"metadata": {"a": 1}})
    assert (response.status_code, response.json()["metadata"]) == (200, {"a": 1})
    assert response.json()["version"] == 2
    response = api.patch(path, json={"metadata": json.dumps({"b": "two"})})
    assert (response.status_code, response.json()["metadata"]) == (200, {"b": "two"})
    assert response.json()["version"] == 3
    for bad in ("{not json", "[1, 2]", 5):
        response = api.patch(path, json={"metadata": bad})
        assert response.status_code == 422, bad
        assert "metadata" in response.json()["detail"]["json"]
    response = api.patch(path, json={"scheduled_start_at": "tomorrow"})
    assert response.status_code == 422
    assert "scheduled_start_at" in response.json()["detail"]["json"]
    assert api.get(path).json()["version"] == 3


def test_post_orders_manual_with_worker_creates_a_route_in_posted_sequence(
    api: TestClient,
) -> None:
    """POST /orders/ with plan_mode manual and a worker: 201 with a RouteDetail."""
    make_worker(api, "bo")
    start = tomorrow_at(9)
    bodies = [order_body(destination=point(*p), **window(start, after_min=0, at_min=120))
              for p in ZIGZAG]
    response = api.post("/orders/", json={"orders": bodies, "plan_mode": "manual",
                                          "worker_handle": "bo"})
    assert response.status_code == 201, response.text
    route = response.json()
    assert route["worker_handle"] == "bo" and route["status"] == "assigned"
    assert route["plan_mode"] == "manual" and route["version"] == 1
    assert route_handles(route) == [b["order_handle"] for b in bodies]  # not re-optimised
    assert all(o["status"] == "assigned" for o in route["orders"])
    assert route["estimate"]["distance"] > 0
    # An unknown worker creates nothing at all.
    response = api.post("/orders/", json={"orders": [order_body()], "plan_mode": "manual",
                                          "worker_handle": "ghost"})
    assert (response.status_code, response.json()["code"]) == (404, "driver_not_found")


def test_orders_without_a_worker_stay_unplanned(api: TestClient) -> None:
    """POST /orders/ manual without a worker only stores orders (no route)."""
    handles = make_orders(api, order_body())
    assert api.get("/orders/routes/").json()["routes"] == []
    assert api.get(f"/orders/{handles[0]}").json()["status"] == "unplanned"
