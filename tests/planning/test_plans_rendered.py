"""A page of plans renders its routes' orders exactly as the order wire does.

On PostgreSQL ``GET /orders/plans`` has the database write each order's JSON
(``planning.repository.route_orders_rendered``); ``GET /orders/plans/{id}`` and SQLite build
it with ``orders.wire.order_wire``. Both must give the same orders, for every kind of value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.settings import Settings
from tests.conftest import Tenant
from tests.planning.helpers import add_worker, day_order, post_plan, run_jobs, tomorrow

# Values that a JSON or text column can hold and that the two renderings could disagree on.
EDGE_VALUES: list[dict[str, Any]] = [
    {"metadata_": None, "product_type": None, "risks": None, "estimate": None},
    {"metadata_": {}, "product_type": [], "tracking_rate": 0.1, "risk_status": False},
    {"metadata_": {"note": "Ä \u00e9 \U0001F69A \"quoted\" \\ back\nline \u2028", "n": 1e-07,
                   "big": 12345678901234, "nested": {"list": [1, 2.5, None, True]}},
     "product_type": ["frozen", "hazmat"], "priority": "high", "tracking_rate": 2 / 3,
     "risks": {"is_offline": "green"}, "risk_status": True,
     "started_at": datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
     "completed_at": datetime(1999, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
     "estimate": {"arrive_at": "2026-01-02T03:04:05.000Z", "distance": 12.5,
                  "duration": 30}},
    {"metadata_": {"0": False}, "product_type": ["x"], "time_windows": [
        {"scheduled_after": "2026-01-02T09:00:00.000Z",
         "scheduled_at": "2026-01-02T10:00:00.000Z"}],
     "lateness_cost_per_minute": 3, "timezone": "Europe/Berlin",
     "cancellation_source": {"source": "api"}, "created_by": {"source": "dashboard"},
     "outage_summary": [{"category": "offline", "duration": 10}]},
]


@pytest.mark.parametrize("values", EDGE_VALUES, ids=range(len(EDGE_VALUES)))
def test_a_page_of_plans_shows_orders_as_the_plan_detail_does(
    api: TestClient, db: Database, settings: Settings, tenant: Tenant, values: dict[str, Any]
) -> None:
    """The orders of a plan in ``GET /orders/plans`` equal those of its detail, key for key,
    whatever the stored values."""
    day = tomorrow()
    add_worker(api)
    orders = [day_order(day, 13.40 + i * 0.01, 52.50) for i in range(3)]
    plan_id = post_plan(api, orders)
    run_jobs(db, settings)
    with db.write() as session:
        first = session.scalars(select(Order).where(
            Order.account_id == tenant.account_id,
            Order.order_handle == orders[0]["order_handle"])).one()
        session.execute(update(Order).where(Order.account_id == tenant.account_id,
                                            Order.id == first.id).values(**values))
    page = api.get("/orders/plans", params={"include_summary": "true", "limit": 100})
    assert page.status_code == 200, page.text
    listed = next(p for p in page.json()["plans"] if p["plan_id"] == plan_id)
    detail = api.get(f"/orders/plans/{plan_id}").json()
    assert listed["routes"] and listed["routes"][0]["orders"]
    for shown, expected in zip(listed["routes"], detail["routes"], strict=True):
        for order, wanted in zip(shown["orders"], expected["orders"], strict=True):
            assert order == wanted
        assert shown == expected
