"""The share page over HTTP: one order's status and ETA, the worker's position only while they
are on the way to this order, and nothing of other orders, the route or the account."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.views.service import position_since
from tests.conftest import Tenant

from .helpers import DEPOT, STOP_ADDRESSES, Shift, offset, start_shift

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
SHARE_KEYS = {"status", "headline", "detail", "worker_name", "eta_text", "eta", "arrived_at",
              "completed_at", "address", "timezone", "seen"}


@pytest.fixture
def shift(tenant: Tenant, db: Database) -> Shift:
    """A tracked three-stop route of a fresh account."""
    return start_shift(tenant, db)


def share_state(anon: TestClient, shift: Shift, index: int) -> dict[str, Any]:
    """The share page's JSON state of the ``index``-th stop."""
    response = anon.get(f"/t/{shift.tracking_id(index)}/state")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def secrets_of(shift: Shift, tenant: Tenant, index: int) -> list[str]:
    """What the share page of stop ``index`` must never show: other stops' handles, addresses
    and customers, this order's handle and metadata, the route, the account, the worker's
    handle and surname, the device, and the ingest of other stops' positions."""
    others = [i for i in range(len(shift.orders)) if i != index]
    return [
        *(shift.handles[i] for i in range(len(shift.orders))),
        *(STOP_ADDRESSES[i] for i in others),
        *(f"customer-{i + 1}" for i in range(len(shift.orders))),
        *(shift.tracking_id(i) for i in others),
        shift.route_handle, tenant.account_id, shift.worker_handle, "Lovelace",
        shift.device_id,
    ]


def assert_scoped(text: str, forbidden: list[str]) -> None:
    """None of ``forbidden`` occurs in ``text``."""
    leaked = [value for value in forbidden if value in text]
    assert not leaked, leaked


def test_share_state_is_this_order_only(shift: Shift, anon: TestClient, tenant: Tenant
                                        ) -> None:
    """The data endpoint and the page say this order's status, ETA, destination and the
    worker's first name, and nothing about other orders, the route or the account."""
    shift.post_position(*offset(DEPOT, 200.0, 0.0))
    state = share_state(anon, shift, 1)
    assert set(state) == {"map", "panel", "order"}
    assert set(state["order"]) == SHARE_KEYS
    assert set(state["map"]) == {"destination", "worker"}
    assert state["order"]["worker_name"] == "Ada"
    assert state["order"]["address"] == STOP_ADDRESSES[1]
    assert state["order"]["eta"] is not None
    lon, lat = shift.stop_point(1)
    assert state["map"]["destination"] == [lat, lon]
    forbidden = secrets_of(shift, tenant, 1)
    assert_scoped(json.dumps(state), forbidden)
    page = anon.get(f"/t/{shift.tracking_id(1)}")
    assert page.status_code == 200
    assert "Alexanderplatz 1" in page.text and "Ada" in page.text
    assert_scoped(page.text, forbidden)


def test_position_is_shown_only_on_the_way_to_this_order(shift: Shift, anon: TestClient
                                                         ) -> None:
    """The first stop's page shows the worker at once; the second's only after the first
    stop is finished and a newer position arrives; neither after its own order ends."""
    shift.post_position(*offset(DEPOT, 200.0, 0.0))
    assert share_state(anon, shift, 0)["map"]["worker"] is not None
    second = share_state(anon, shift, 1)
    assert second["map"]["worker"] is None
    assert second["order"]["headline"] == "Coming up"
    shift.complete(0)
    assert share_state(anon, shift, 0)["map"]["worker"] is None
    assert share_state(anon, shift, 0)["order"]["headline"] == "Completed"
    # The newest fix was taken at the first stop's time: still not this order's to show.
    assert share_state(anon, shift, 1)["map"]["worker"] is None
    here = offset(DEPOT, 2000.0, 100.0)
    shift.post_position(*here)
    second = share_state(anon, shift, 1)
    assert second["order"]["headline"] == "On the way"
    assert second["map"]["worker"] == [pytest.approx(here[1]), pytest.approx(here[0])]
    assert share_state(anon, shift, 2)["map"]["worker"] is None
    shift.complete(1)
    shift.post_position(*offset(DEPOT, 2500.0, 100.0))
    assert share_state(anon, shift, 1)["map"]["worker"] is None


def test_unknown_tracking_ids_are_404(anon: TestClient) -> None:
    """Ids that name no order are a 404 on the page, the state and the stream."""
    for path in ("/t/nope", "/t/nope/state", "/t/nope/events", f"/t/{'x' * 65}/state"):
        assert anon.get(path).status_code == 404, path


def _order(status: str, *, seq: int, started: datetime | None = T0,
           exited: datetime | None = None, completed: datetime | None = None) -> Order:
    return Order(status=status, route_sequence=seq, started_at=started, exited_at=exited,
                 completed_at=completed, cancelled_at=None, disabled_at=None, created_at=T0,
                 assigned_at=T0)


def test_position_since_waits_for_earlier_stops() -> None:
    """The worker is this order's to show from when the last earlier stop was left or
    finished, and never while one is still to visit or this order is over."""
    left = T0 + timedelta(minutes=20)
    done = T0 + timedelta(minutes=25)
    this = _order("ongoing", seq=2)
    assert position_since(this, []) == T0
    assert position_since(this, [_order("ongoing", seq=1)]) is None
    assert position_since(this, [_order("ongoing", seq=1, exited=left)]) == left
    assert position_since(this, [_order("completed", seq=1, completed=done)]) == done
    assert position_since(this, [_order("completed", seq=0, completed=done),
                                 _order("ongoing", seq=1)]) is None
    assert position_since(_order("ongoing", seq=2, exited=left), []) is None
    assert position_since(_order("completed", seq=2, completed=done), []) is None
    assert position_since(_order("assigned", seq=2, started=None), []) is None
