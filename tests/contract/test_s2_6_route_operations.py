"""Contract section 2.6: the single-route operations (patch, add, remove, resequence,
optimise, reassign) with HyperTrack-shaped requests, their route answers and error shapes."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.contract.spec import answers, fails
from tests.factories import create_orders_body, order_body


def _route(api: TestClient, count: int) -> tuple[str, list[str]]:
    orders = [order_body() for _ in range(count)]
    answers("create_orders", api.post("/orders/", json=create_orders_body(*orders)))
    handles = [o["order_handle"] for o in orders]
    route = answers("create_route", api.post("/orders/routes/", json={
        "orders": [{"order_handle": h} for h in handles[:2]]}))
    return str(route["route_handle"]), handles


def _in_route(route: dict[str, object]) -> list[str]:
    return [str(o["order_handle"]) for o in route["orders"]]  # type: ignore[attr-defined]


def test_route_operations_answer_the_route(api: TestClient) -> None:
    """Each operation answers the route shape with its version bumped; the example's
    ``order_handles`` key and metadata sent as a JSON string are taken as HyperTrack's."""
    handle, orders = _route(api, 4)
    path = f"/orders/routes/{handle}"
    patched = answers("patch_route", api.patch(path, params={"version": 1}, json={
        "metadata": '{"shift": "morning"}', "scheduled_start_at": "2030-01-02T08:00:00Z"}))
    assert patched["metadata"] == {"shift": "morning"} and patched["version"] == 2
    added = answers("add_to_route", api.post(f"{path}/add", params={"version": 2}, json={
        "order_handles": [{"order_handle": orders[2]}, {"order_handle": orders[3]}]}))
    assert _in_route(added) == orders
    removed = answers("remove_from_route", api.post(f"{path}/remove", json={
        "orders": [{"order_handle": orders[3], "type": "drop", "type_index": 0}]}))
    assert _in_route(removed) == orders[:3]
    assert api.get(f"/orders/{orders[3]}").json()["status"] == "unplanned"
    order = list(reversed(orders[:3]))
    resequenced = answers("resequence_route", api.post(f"{path}/resequence", json={
        "orders": [{"order_handle": h} for h in order]}))
    assert _in_route(resequenced) == order
    optimised = answers("optimise_route", api.post(f"{path}/optimise", json={}))
    assert sorted(_in_route(optimised)) == sorted(order)
    assert api.post("/workers/", json={"worker_handle": "rita"}).status_code == 201
    reassigned = answers("reassign_route", api.post(f"{path}/reassign", json={
        "worker_handle": "rita"}))
    assert reassigned["worker_handle"] == "rita" and reassigned["assigned_at"]
    assert reassigned["status"] == "assigned"


def test_route_operations_refuse_in_the_contract_shapes(api: TestClient) -> None:
    """Unknown routes are 404 HTTPError; a stale version is a 409 Error that changes
    nothing; a body without its required part is a 422 ValidationError."""
    handle, orders = _route(api, 3)
    path = f"/orders/routes/{handle}"
    for operation, method, suffix, body in (
        ("patch_route", "PATCH", "", {"metadata": {}}),
        ("add_to_route", "POST", "/add", {"orders": [{"order_handle": orders[2]}]}),
        ("remove_from_route", "POST", "/remove", {"orders": [{"order_handle": orders[0]}]}),
        ("resequence_route", "POST", "/resequence", {"orders": [{"order_handle": orders[0]}]}),
        ("optimise_route", "POST", "/optimise", {}),
        ("reassign_route", "POST", "/reassign", {"worker_handle": "nobody-yet"}),
    ):
        fails(operation, api.request(method, f"/orders/routes/ghost{suffix}", json=body),
              404, "HTTPError")
    stale = fails("add_to_route", api.post(f"{path}/add", params={"version": 7}, json={
        "orders": [{"order_handle": orders[2]}]}), 409, "Error")
    assert stale["code"] == "version_conflict"
    assert _in_route(api.get(path).json()) == orders[:2]
    for operation, suffix, body in (
        ("add_to_route", "/add", {"orders": []}),
        ("remove_from_route", "/remove", {}),
        ("resequence_route", "/resequence", {"orders": "all"}),
        ("reassign_route", "/reassign", {}),
    ):
        fails(operation, api.post(f"{path}{suffix}", json=body), 422, "ValidationError")
    fails("patch_route", api.patch(path, params={"version": 0}, json={}), 422,
          "ValidationError")
