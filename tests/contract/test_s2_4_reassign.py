"""Contract section 2.4, reassign: an order goes only to a route of a day its window allows,
or to a new route; if it can only be late it is flagged at risk (issue 15 item 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.contract.spec import answers
from tests.factories import create_orders_body, order_body


def _day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def _due(day: str, **fields: Any) -> dict[str, Any]:
    return order_body(scheduled_after=f"{day}T08:00:00Z", scheduled_at=f"{day}T23:00:00Z",
                      destination={"geometry": {"type": "Point", "coordinates": [13.4, 52.5]}},
                      **fields)


def _worker_route(api: TestClient, worker: str, day: str) -> str:
    assert api.post("/workers/", json={"worker_handle": worker}).status_code in (201, 409)
    route = answers("create_orders", api.post("/orders/", json=create_orders_body(
        _due(day), worker_handle=worker)))
    return str(route["route_handle"])


def test_an_order_never_joins_a_route_of_another_day(api: TestClient) -> None:
    """Due on day 1, the worker's day-2 route is not used: a new route is made."""
    day2_route = _worker_route(api, "gus", _day(2))
    order = _due(_day(1))
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    moved = answers("reassign_order", api.post(f"/orders/{order['order_handle']}/reassign",
                                               json={"worker_handle": "gus"}))
    assert moved["worker_handle"] == "gus" and moved["route_handle"] != day2_route
    assert moved["risk_status"] is False
    route = api.get(f"/orders/routes/{moved['route_handle']}").json()
    assert [o["order_handle"] for o in route["orders"]] == [order["order_handle"]]


def test_an_order_joins_the_route_of_its_day(api: TestClient) -> None:
    """With routes on days 1 and 2, an order due on day 2 joins the day-2 route."""
    _worker_route(api, "hal", _day(1))
    day2_route = _worker_route(api, "hal", _day(2))
    order = _due(_day(2))
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    moved = answers("reassign_order", api.post(f"/orders/{order['order_handle']}/reassign",
                                               json={"worker_handle": "hal"}))
    assert moved["route_handle"] == day2_route and moved["status"] == "assigned"


def test_an_order_that_can_only_be_late_is_at_risk(api: TestClient) -> None:
    """A window that closed an hour ago: reassigned anyway, and flagged at risk."""
    assert api.post("/workers/", json={"worker_handle": "ida"}).status_code == 201
    now = datetime.now(UTC)
    order = order_body(scheduled_after=(now - timedelta(hours=3)).isoformat(),
                       scheduled_at=(now - timedelta(hours=1)).isoformat())
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    moved = answers("reassign_order", api.post(f"/orders/{order['order_handle']}/reassign",
                                               json={"worker_handle": "ida"}))
    assert moved["risk_status"] is True
    assert moved["risks"]["delayed_from_scheduled_at"] == "red"
