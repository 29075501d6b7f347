"""The aggregate block of GET /orders/?aggregate=true (contract 3.10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant
from tests.orders.helpers import create_order, set_columns

COUNT_KEYS = {"total", "unplanned", "planned", "assigned", "ongoing", "disabled", "rescheduled",
              "completed", "cancelled", "tracked", "on_shift", "pre_shift", "full_shift",
              "arrived", "on_time", "worked", "ttfe30_orders_from_start",
              "ttfe30_orders_before_schedule_time"}


def _aggregate(api: TestClient, **params: str | int) -> dict[str, object]:
    response = api.get("/orders/", params={"aggregate": "true", **params})
    assert response.status_code == 200, response.text
    block: dict[str, object] = response.json()["aggregate"]
    return block


def test_aggregate_counts(api: TestClient, tenant: Tenant, db: Database) -> None:
    """Counts follow status, track mode, arrival, service time and first-event timing."""
    due = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    on_time = create_order(api)["order_handle"]
    late = create_order(api)["order_handle"]
    plain = create_order(api)["order_handle"]
    set_columns(db, tenant.account_id, on_time, status="completed", track_mode="on_shift",
                scheduled_at=due, started_at=due - timedelta(minutes=20),
                arrived_at=due + timedelta(minutes=5), expected_service_time=300,
                actual_service_time=600, distance=1000, duration=120)
    set_columns(db, tenant.account_id, late, status="ongoing", track_mode="full_shift",
                scheduled_at=due, started_at=due - timedelta(minutes=60),
                arrived_at=due + timedelta(minutes=11), expected_service_time=300,
                actual_service_time=300 + 2701, distance=500, duration=60,
                rescheduled_marked_at=due)
    set_columns(db, tenant.account_id, plain, status="disabled", track_mode="pre_shift")
    block = _aggregate(api)
    counts = block["orders"]
    assert isinstance(counts, dict) and set(counts) == COUNT_KEYS
    assert counts["total"] == 3
    assert (counts["completed"], counts["ongoing"], counts["disabled"]) == (1, 1, 1)
    assert (counts["unplanned"], counts["cancelled"], counts["rescheduled"]) == (0, 0, 1)
    assert (counts["on_shift"], counts["pre_shift"], counts["full_shift"]) == (1, 1, 1)
    assert (counts["tracked"], counts["arrived"], counts["on_time"], counts["worked"]) \
        == (2, 2, 1, 1)
    assert counts["ttfe30_orders_from_start"] == 1
    assert counts["ttfe30_orders_before_schedule_time"] == 0
    assert (block["distance"], block["duration"]) == (1500, 180)


def test_aggregate_follows_filters_not_pages(api: TestClient) -> None:
    """The block counts every matching order, whatever the page size, under the filters."""
    for _ in range(3):
        create_order(api)
    assert _aggregate(api, limit=1)["orders"]["total"] == 3  # type: ignore[index]
    assert _aggregate(api, status="completed")["orders"]["total"] == 0  # type: ignore[index]
    assert _aggregate(api, status="unplanned")["orders"]["unplanned"] == 3  # type: ignore[index]


def test_aggregate_is_per_account(api: TestClient, other_tenant: Tenant) -> None:
    """Another account's orders are not counted."""
    create_order(api)
    block = _aggregate(other_tenant.client)
    assert block["orders"]["total"] == 0  # type: ignore[index]
    assert (block["distance"], block["duration"]) == (0, 0)


def test_aggregate_null_unless_asked_and_send_outage_adds_outages(api: TestClient) -> None:
    """Without aggregate=true the block is null; send_outage=true returns it with an (here
    empty) outage summary."""
    create_order(api)
    assert api.get("/orders/").json()["aggregate"] is None
    block = api.get("/orders/", params={"send_outage": "true"}).json()["aggregate"]
    assert block["outage_summary"] == [] and block["orders"]["total"] == 1
