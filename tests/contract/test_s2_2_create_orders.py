"""Contract section 2.2: ``POST /orders/`` in each plan mode, with HyperTrack's payloads."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, conforms, fails
from tests.factories import create_orders_body, order_body
from tests.planning.helpers import add_worker, day_order, tomorrow


def test_manual_without_worker_answers_the_orders(api: TestClient) -> None:
    """manual: the orders are stored unplanned; HyperTrack's extra fields are ignored."""
    order = order_body(tasks_list={"tasks": []}, approvals=[], acceptances=[], priority="high",
                       product_type=["frozen"], capacity_used=2, type="pick", type_index=0)
    body = answers("create_orders", api.post("/orders/", json=create_orders_body(
        order, route_solver_matrix_strategy="osrm_full", enable_sync_planning=False)))
    (created,) = body["orders"]
    conforms("Order", created)
    assert (created["status"], created["capacity_used"], created["type"]) == \
        ("unplanned", 2, "pick")


def test_manual_with_worker_answers_the_route(api: TestClient) -> None:
    """manual with worker_handle: a route in the posted sequence."""
    worker = add_worker(api)
    first, second = order_body(), order_body()
    route = answers("create_orders", api.post("/orders/", json=create_orders_body(
        first, second, worker_handle=worker)))
    conforms("Route", route)
    assert [o["order_handle"] for o in route["orders"]] == \
        [first["order_handle"], second["order_handle"]]


def test_scheduled_answers_the_plan_handle(api: TestClient) -> None:
    """scheduled: {message, plan: {id, href}}."""
    add_worker(api)
    body = answers("create_orders", api.post("/orders/", json={
        "orders": [day_order(tomorrow(), 13.4, 52.5)], "plan_mode": "scheduled"}))
    conforms("PlanHandle", body)
    assert body["plan"]["href"] == f"/orders/plans/{body['plan']['id']}"


def test_duplicate_active_handle_and_bad_mode(api: TestClient) -> None:
    """A handle still active is a 409 duplicate_resource; an unknown mode a nested 422."""
    order = order_body()
    answers("create_orders", api.post("/orders/", json=create_orders_body(order)))
    fails("create_orders", api.post("/orders/", json=create_orders_body(order)), 409, "Error")
    body = fails("create_orders", api.post("/orders/", json={
        "orders": [order_body()], "plan_mode": "pool"}), 422, "ValidationError")
    assert body["detail"] == {"json": {"plan_mode": [
        "Must be one of: manual, scheduled, on_demand."]}}
