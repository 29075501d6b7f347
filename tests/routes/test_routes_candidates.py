"""GET /orders/{order_handle}/candidate_workers: available, skilled workers of the order's ops
group, ranked by the extra distance the order would cost each of them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.worker import Worker
from tests.conftest import Tenant
from tests.factories import worker_body

from .helpers import Point, create_route, leg, make_group, orders_at

GROUP = "cand"
ORDER_AT: Point = (13.50, 52.50)


def _worker(api: TestClient, handle: str, home: Point, **fields: Any) -> str:
    body = worker_body(worker_handle=handle, ops_group_handle=GROUP,
                       home={"geometry": {"type": "Point", "coordinates": list(home)}},
                       product_types=[], **fields)
    response = api.post("/workers/", json=body)
    assert response.status_code in (200, 201), response.text
    return handle


def _setup(api: TestClient) -> tuple[str, str]:
    """Three workers (one with a route passing the order) and one unplanned order."""
    make_group(api, GROUP, start="driver_home")
    _worker(api, "near", (13.49, 52.50), profile={"team": "a"})
    _worker(api, "far", (13.30, 52.50), profile={"team": "b"})
    _worker(api, "routed", (13.30, 52.50), profile={"team": "a"})
    stops = orders_at(api, (13.495, 52.50), (13.505, 52.50), group=GROUP)
    route = create_route(api, stops, worker_handle="routed", ops_group_handle=GROUP)
    (order,) = orders_at(api, ORDER_AT, group=GROUP)
    return order, route["route_handle"]


def _candidates(api: TestClient, order: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"/orders/{order}/candidate_workers", params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()["candidate_workers"]
    return body


def test_ranked_by_extra_distance_with_the_insert_position(api: TestClient) -> None:
    order, route_handle = _setup(api)
    found = _candidates(api, order)
    assert [c["worker_handle"] for c in found] == ["routed", "near", "far"]
    routed, near, far = found
    assert routed["route"] == {"route_handle": route_handle, "index": 1}
    assert routed["order_start_location"] == {"type": "Point", "coordinates": [13.495, 52.50]}
    assert routed["profile"] == {"team": "a"}
    assert near["route"] is None and far["route"] is None
    assert near["order_start_location"] == {"type": "Point", "coordinates": [13.49, 52.50]}
    assert leg((13.49, 52.50), ORDER_AT)[0] < leg((13.30, 52.50), ORDER_AT)[0]

    assert [c["worker_handle"] for c in _candidates(api, order, limit=2)] == ["routed", "near"]
    for bad in (0, 101, "x"):
        response = api.get(f"/orders/{order}/candidate_workers", params={"limit": bad})
        assert response.status_code == 422
        assert "limit" in response.json()["detail"]["query"]


def test_profile_filter_and_availability(api: TestClient, db: Database,
                                         tenant: Tenant) -> None:
    order, _ = _setup(api)
    found = _candidates(api, order, profile_filter=json.dumps({"team": "a"}))
    assert [c["worker_handle"] for c in found] == ["routed", "near"]
    with db.write() as session:
        session.execute(update(Worker).where(Worker.account_id == tenant.account_id,
                                             Worker.worker_handle == "routed")
                        .values(available=False))
    assert api.delete("/workers/near").status_code == 204
    assert [c["worker_handle"] for c in _candidates(api, order)] == ["far"]
    for bad in ("{", "[1]", "3"):
        response = api.get(f"/orders/{order}/candidate_workers", params={"profile_filter": bad})
        assert response.status_code == 422
        assert response.json()["detail"] == {
            "query": {"profile_filter": ["Not a valid JSON object."]}}


def test_workers_need_every_skill_of_the_order(api: TestClient) -> None:
    make_group(api, GROUP, start="driver_home")
    _worker(api, "plain", (13.49, 52.50))
    response = api.post("/workers/", json=worker_body(
        worker_handle="cold", ops_group_handle=GROUP, product_types=["frozen", "heavy"],
        home={"geometry": {"type": "Point", "coordinates": [13.30, 52.50]}}))
    assert response.status_code in (200, 201), response.text
    (order,) = orders_at(api, ORDER_AT, group=GROUP, product_type=["frozen"])
    assert [c["worker_handle"] for c in _candidates(api, order)] == ["cold"]
    (anyone,) = orders_at(api, ORDER_AT, group=GROUP)
    assert [c["worker_handle"] for c in _candidates(api, anyone)] == ["plain", "cold"]


def test_already_assigned_worker_and_ongoing_orders(api: TestClient, db: Database,
                                                    tenant: Tenant) -> None:
    order, _ = _setup(api)
    response = api.post(f"/orders/{order}/reassign", json={"worker_handle": "near"})
    assert response.status_code == 200, response.text
    found = _candidates(api, order)
    near = next(c for c in found if c["worker_handle"] == "near")
    assert near["route"] is not None and near["route"]["index"] == 0
    skipped = _candidates(api, order, skip_already_assigned_worker="true")
    assert "near" not in [c["worker_handle"] for c in skipped]

    with db.write() as session:
        session.execute(update(Order).where(Order.account_id == tenant.account_id,
                                            Order.order_handle == order)
                        .values(status="ongoing"))
    response = api.get(f"/orders/{order}/candidate_workers")
    assert response.status_code == 422
    assert "allow_ongoing_order" in response.json()["detail"]["query"]
    assert _candidates(api, order, allow_ongoing_order="true")


def test_tenancy_auth_and_unknown_orders(api: TestClient, tenant: Tenant,
                                         other_tenant: Tenant, anon: TestClient) -> None:
    order, _ = _setup(api)
    other = other_tenant.client.get(f"/orders/{order}/candidate_workers")
    assert other.status_code == 404
    assert set(other.json()) == {"detail", "message"}
    assert api.get("/orders/missing/candidate_workers").status_code == 404
    assert api.get(f"/orders/{order}/candidate_workers",
                   params={"type": "drop", "type_index": 5}).status_code == 404
    assert anon.get(f"/orders/{order}/candidate_workers").status_code == 401
    token = anon.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": tenant.account_id,
        "client_secret": tenant.secret_key}).json()["access_token"]
    bearer = anon.get(f"/orders/{order}/candidate_workers",
                      headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert [c["worker_handle"] for c in bearer.json()["candidate_workers"]] == [
        "routed", "near", "far"]
