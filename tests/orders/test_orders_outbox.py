"""Outbox rows of order actions: one per change, in the webhook envelope, none on failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.outbox_event import OutboxEvent
from tests.conftest import Tenant
from tests.orders.helpers import ISO_MS_Z, create_order, routed_order


@dataclass(frozen=True)
class Event:
    """The columns of an outbox row that the tests read."""

    id: str
    type: str
    value: str
    order_handle: str | None
    payload: dict[str, Any]


def _events(db: Database, account_id: str) -> list[Event]:
    """The account's order events, oldest first (copied out before the session closes);
    route events that an order change also causes are checked in tests/routes."""
    with db.read() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.account_id == account_id,
                                      OutboxEvent.type == "order")
            .order_by(OutboxEvent.seq)
        )
        return [Event(r.id, r.type, r.value, r.order_handle, dict(r.payload)) for r in rows]


def _check_envelope(event: Event, account_id: str, name: str, value: str,
                    status: str) -> dict[str, Any]:
    """Assert the contract's order envelope (section 5.2); the payload's ``data``."""
    payload = event.payload
    assert event.type == "order" and event.value == value
    assert event.order_handle == name
    assert payload["type"] == "order"
    assert payload["account_id"] == account_id
    assert isinstance(payload["version"], str) and payload["version"]
    assert ISO_MS_Z.match(payload["recorded_at"]) and ISO_MS_Z.match(payload["created_at"])
    data: dict[str, Any] = payload["data"]
    assert data["value"] == value
    assert data["order_handle"] == name
    assert data["status"] == status
    assert "route_handle" in data
    return data


Action = Callable[[TestClient, str], Any]
ACTIONS: dict[str, tuple[bool, Action, str, str]] = {
    # name: (on a route?, request, data.value, status carried)
    "complete": (True, lambda api, h: api.post(f"/orders/{h}/complete"), "completed",
                 "completed"),
    "cancel": (False, lambda api, h: api.post(f"/orders/{h}/cancel",
                                               json={"metadata": {"why": "test"}}),
               "cancelled", "cancelled"),
    "disable": (True, lambda api, h: api.post(f"/orders/{h}/disable"), "disabled", "disabled"),
    "patch": (False, lambda api, h: api.patch(f"/orders/{h}", json={"priority": "high"}),
              "updated", "unplanned"),
    "reschedule": (False, lambda api, h: api.post(f"/orders/{h}/reschedule", json={
        "scheduled_at": "2031-07-01T10:00:00Z"}), "updated", "unplanned"),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_writes_one_outbox_event(
    api: TestClient, tenant: Tenant, db: Database, action: str
) -> None:
    """The action's request writes exactly one order event with the contract's envelope."""
    routed, request, value, status = ACTIONS[action]
    name = (routed_order(api) if routed else create_order(api))["order_handle"]
    before = len(_events(db, tenant.account_id))
    response = request(api, name)
    assert response.status_code == 200, response.text
    events = _events(db, tenant.account_id)
    assert len(events) == before + 1
    data = _check_envelope(events[-1], tenant.account_id, name, value, status)
    if action == "cancel":
        assert data["metadata"]["why"] == "test"
        assert "duration" in data
    if action == "complete":
        assert "duration" in data


def test_enable_writes_an_enabled_event(api: TestClient, tenant: Tenant, db: Database) -> None:
    """enable writes data.value enabled carrying the restored status."""
    order = routed_order(api)
    name = order["order_handle"]
    assert api.post(f"/orders/{name}/disable").status_code == 200
    before = len(_events(db, tenant.account_id))
    assert api.post(f"/orders/{name}/enable").status_code == 200
    events = _events(db, tenant.account_id)
    assert len(events) == before + 1
    _check_envelope(events[-1], tenant.account_id, name, "enabled", order["status"])


def test_failed_requests_write_no_event(
    api: TestClient, tenant: Tenant, db: Database, other_tenant: Tenant
) -> None:
    """409s, 404s and 422s roll back: no outbox row, no change."""
    name = create_order(api, scheduled_after="2031-04-01T08:00:00Z",
                        scheduled_at="2031-04-01T10:00:00Z")["order_handle"]
    assert api.post(f"/orders/{name}/cancel").status_code == 200
    before = _events(db, tenant.account_id)
    assert api.post(f"/orders/{name}/cancel").status_code == 409
    assert api.post(f"/orders/{name}/complete").status_code == 409
    assert api.post("/orders/missing/cancel").status_code == 404
    assert other_tenant.client.post(f"/orders/{name}/cancel").status_code == 404
    live = create_order(api, scheduled_after="2031-04-01T08:00:00Z",
                        scheduled_at="2031-04-01T10:00:00Z")["order_handle"]
    # The window check runs after other fields were applied: all of it must roll back.
    response = api.patch(f"/orders/{live}", json={"metadata": {"x": 1},
                                                   "scheduled_at": "2031-04-01T07:00:00Z"})
    assert response.status_code == 422
    assert [e.id for e in _events(db, tenant.account_id)] == [e.id for e in before]
    assert api.get(f"/orders/{live}").json()["metadata"] != {"x": 1}


def test_empty_patch_writes_no_event(api: TestClient, tenant: Tenant, db: Database) -> None:
    """A PATCH that changes nothing announces nothing."""
    name = create_order(api)["order_handle"]
    before = len(_events(db, tenant.account_id))
    assert api.patch(f"/orders/{name}", json={}).status_code == 200
    assert len(_events(db, tenant.account_id)) == before
