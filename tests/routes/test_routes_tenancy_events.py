"""Tenancy (another account's routes, orders and workers are 404 everywhere and never
listed) and the outbox events every route change writes."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.outbox_event import OutboxEvent
from tests.conftest import Tenant
from tests.factories import order_body
from tests.routes.helpers import (
    create_route,
    events,
    make_worker,
    order_row,
    orders_at,
    refs,
    stored_route,
)


def test_another_accounts_route_is_404_everywhere(
    tenant: Tenant, other_tenant: Tenant, db: Database,
) -> None:
    """Every route endpoint answers 404 for a route of another account, and changes
    nothing; lists never show it."""
    mine, theirs = tenant.client, other_tenant.client
    make_worker(theirs, "their-driver")
    (their_order,) = orders_at(theirs, (13.41, 52.5))
    route = create_route(theirs, [their_order], worker_handle="their-driver")
    handle = route["route_handle"]
    make_worker(mine, "my-driver")
    (my_order,) = orders_at(mine, (13.42, 52.5))
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", "", None), ("patch", "", {"metadata": {"x": 1}}),
        ("post", "/add", {"orders": refs(my_order)}),
        ("post", "/remove", {"orders": refs(my_order)}),
        ("post", "/resequence", {"orders": refs(my_order)}),
        ("post", "/optimise", {}), ("post", "/reassign", {"worker_handle": "my-driver"}),
        ("post", "/complete", {}),
    ]
    for method, suffix, body in calls:
        kwargs = {} if body is None else {"json": body}
        response = getattr(mine, method)(f"/orders/routes/{handle}{suffix}", **kwargs)
        assert response.status_code == 404, (method, suffix, response.text)
    response = mine.post("/orders/track", json={"track_mode": "on_time", "route_handle": handle})
    assert (response.status_code, response.json()["code"]) == (404, "route_not_found")
    assert mine.get("/orders/routes/").json()["routes"] == []
    assert mine.get("/orders/routes/", params={"search_term": handle}).json()["routes"] == []
    assert stored_route(db, other_tenant.account_id, handle)["version"] == 1
    assert order_row(db, tenant.account_id, my_order) == ("unplanned", None)
    # A route handle is per account: mine may reuse theirs.
    assert create_route(mine, [my_order], route_handle=handle)["version"] == 1
    assert [r["route_handle"] for r in theirs.get("/orders/routes/").json()["routes"]] == [handle]


def test_another_accounts_orders_and_workers_are_unknown(
    tenant: Tenant, other_tenant: Tenant, db: Database,
) -> None:
    """Their orders cannot join my routes or estimates, their workers cannot take my
    orders, and their orders cannot be reassigned by me."""
    mine, theirs = tenant.client, other_tenant.client
    make_worker(theirs, "their-driver")
    (their_order,) = theirs.post("/orders/", json={
        "orders": [order_body(order_handle="shared-handle")], "plan_mode": "manual",
    }).json()["orders"]
    assert their_order["order_handle"] == "shared-handle"
    (my_order,) = orders_at(mine, (13.42, 52.5))
    response = mine.post("/orders/routes/", json={"orders": refs("shared-handle")})
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    route = create_route(mine, [my_order])
    response = mine.post(f"/orders/routes/{route['route_handle']}/add",
                         json={"orders": refs("shared-handle")})
    assert response.status_code == 404
    response = mine.get("/orders/estimate", params={
        "ops_group_handle": "default", "orders": json.dumps(refs("shared-handle"))})
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    response = mine.post(f"/orders/{my_order}/reassign", json={"worker_handle": "their-driver"})
    assert (response.status_code, response.json()["code"]) == (404, "driver_not_found")
    response = mine.post("/orders/shared-handle/reassign", json={"worker_handle": "x"})
    assert response.status_code == 404
    response = mine.post("/orders/track", json={"track_mode": "on_time",
                                                "worker_handle": "their-driver",
                                                "orders": [order_body()]})
    assert (response.status_code, response.json()["code"]) == (404, "driver_not_found")
    # Their order handle is free in my account.
    response = mine.post("/orders/track", json={
        "track_mode": "on_time", "worker_handle": make_worker(mine, "my-own"),
        "orders": [order_body(order_handle="shared-handle")]})
    assert response.status_code == 201, response.text
    assert order_row(db, other_tenant.account_id, "shared-handle") == ("unplanned", None)


def test_every_route_change_writes_its_events(api: TestClient, tenant: Tenant,
                                              db: Database) -> None:
    """created, assigned, updated, started, completed for the route; assigned, started,
    cancelled for its orders; each with the route's state at that moment."""
    make_worker(api, "ada")
    a, b = orders_at(api, (13.41, 52.5), (13.42, 52.5))
    route = create_route(api, [a])
    handle = route["route_handle"]
    assert events(db, tenant.account_id, type="route") == ["created"]
    api.post(f"/orders/routes/{handle}/reassign", json={"worker_handle": "ada"})
    api.post(f"/orders/routes/{handle}/add", json={"orders": refs(b)})
    api.patch(f"/orders/routes/{handle}", json={"metadata": {"k": "v"}})
    api.post(f"/orders/routes/{handle}/resequence", json={"orders": refs(b, a)})
    api.post(f"/orders/routes/{handle}/optimise")
    api.post("/orders/track", json={"track_mode": "on_time", "route_handle": handle})
    api.post(f"/orders/routes/{handle}/complete")
    assert events(db, tenant.account_id, type="route", route_handle=handle) == [
        "created", "assigned", "updated", "updated", "updated", "updated", "started",
        "completed"]
    assert events(db, tenant.account_id, type="order", order_handle=a) == \
        ["assigned", "started", "cancelled"]
    assert events(db, tenant.account_id, type="order", order_handle=b) == \
        ["assigned", "started", "cancelled"]
    with db.read() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.account_id == tenant.account_id, OutboxEvent.type == "route")
            .order_by(OutboxEvent.seq)).all()
        payloads = [row.payload for row in rows]
    assert [p["data"]["version"] for p in payloads] == list(range(1, 9))
    assert [p["data"]["status"] for p in payloads][-2:] == ["tracking", "completed"]
    assert all(p["type"] == "route" and p["data"]["route_handle"] == handle
               for p in payloads)
    assert payloads[1]["worker_handle"] == "ada"


def test_failed_changes_write_no_events(api: TestClient, tenant: Tenant,
                                        db: Database) -> None:
    """A change that fails leaves no event behind (events commit with their change)."""
    (a,) = orders_at(api, (13.41, 52.5))
    route = create_route(api, [a])
    before = events(db, tenant.account_id)
    response = api.post(f"/orders/routes/{route['route_handle']}/add",
                        json={"orders": refs(a)})
    assert response.status_code == 409
    response = api.post(f"/orders/routes/{route['route_handle']}/reassign",
                        json={"worker_handle": "nobody"})
    assert response.status_code == 404
    assert events(db, tenant.account_id) == before
