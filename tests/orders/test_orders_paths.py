"""Paths: both trailing-slash forms answer, and literal /orders/<segment> paths win."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.factories import create_orders_body, order_body
from tests.orders.helpers import create_order, handle, list_handles


def test_collection_answers_with_and_without_slash(api: TestClient) -> None:
    """POST /orders and GET /orders work like their /orders/ forms, without redirects."""
    name = handle()
    response = api.post("/orders", json=create_orders_body(order_body(order_handle=name)),
                        follow_redirects=False)
    assert response.status_code == 201, response.text
    slashless = api.get("/orders", follow_redirects=False)
    assert slashless.status_code == 200
    assert slashless.json() == api.get("/orders/").json()
    assert list_handles(api) == [name]


def test_order_paths_answer_with_and_without_slash(api: TestClient) -> None:
    """Every per-order path also answers with a trailing slash."""
    name = create_order(api)["order_handle"]
    assert api.get(f"/orders/{name}/", follow_redirects=False).json()["order_handle"] == name
    patched = api.patch(f"/orders/{name}/", json={"priority": "low"}, follow_redirects=False)
    assert patched.status_code == 200 and patched.json()["priority"] == "low"
    events = api.post(f"/orders/{name}/events/", follow_redirects=False, json={
        "events": [{"type": "note", "recorded_at": "2031-01-01T00:00:00Z"}]})
    assert events.status_code == 201
    rescheduled = api.post(f"/orders/{name}/reschedule/", follow_redirects=False,
                           json={"scheduled_at": "2031-02-01T00:00:00Z"})
    assert rescheduled.status_code == 200
    cancelled = api.post(f"/orders/{name}/cancel/", follow_redirects=False)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/orders/track"), ("get", "/orders/track/"), ("patch", "/orders/export"),
    ("post", "/orders/estimate"), ("post", "/orders/routes/cancel"),
    ("put", "/orders/tasks-definitions"), ("post", "/orders/plans/complete"),
])
def test_literal_segments_are_not_order_handles(api: TestClient, method: str, path: str) -> None:
    """/orders/<literal> never reaches the order lookup, even if such an order exists."""
    segment = path.split("/")[2]
    create_order(api, order_handle=segment)
    response = api.request(method.upper(), path, json={})
    assert response.status_code in (404, 405, 422), response.text
    body = response.json()
    assert body.get("message") != "Order not found", body
    assert "order_handle" not in body, body


def test_handles_that_only_start_like_a_literal_are_orders(api: TestClient) -> None:
    """Only the exact literal segments are reserved: trackable or plans-1 are handles."""
    for name in ("trackable", "plans-1", "routes_x"):
        create_order(api, order_handle=name)
        assert api.get(f"/orders/{name}").json()["order_handle"] == name
