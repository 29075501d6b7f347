"""Contract sections 2.6 and 2.7: routes (create, list, read, complete) and estimates."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body


def test_route_lifecycle(api: TestClient) -> None:
    """Create from unplanned orders, list, read, complete; completing again is a 409."""
    first, second = order_body(), order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(first, second)))
    route = answers("create_route", api.post("/orders/routes/", json={
        "order_handles": [first["order_handle"], second["order_handle"]]}))
    assert route["plan_mode"] == "manual" and route["version"] == 1
    listed = answers("list_routes", api.get("/orders/routes/"))
    assert set(listed) == {"routes", "pagination_token"}
    for item in listed["routes"]:
        conforms("RouteList", item)
    handle = route["route_handle"]
    answers("get_route", api.get(f"/orders/routes/{handle}"))
    done = answers("complete_route", api.post(f"/orders/routes/{handle}/complete"))
    assert done["status"] == "completed" and done["completed_at"]
    again = fails("complete_route", api.post(f"/orders/routes/{handle}/complete"), 409,
                  "Error")
    assert again["code"] == "validation_error"
    fails("get_route", api.get("/orders/routes/ghost"), 404, "HTTPError")


def test_estimate_answers_201(api: TestClient) -> None:
    """GET /orders/estimate answers 201 with an estimate and the orders in sequence."""
    order = order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    body = answers("estimate", api.get("/orders/estimate", params={
        "ops_group_handle": "default",
        "orders": json.dumps([{"order_handle": order["order_handle"]}])}))
    assert {"distance", "duration"} <= set(body["estimate"])
    for item in body["orders"]:
        conforms("Order", item)
