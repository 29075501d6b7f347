"""Helpers for planning tests: a day's orders, workers, and running the planning jobs."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.worker import build_runner
from tests.factories import order_body, worker_body

_seq = itertools.count()


def tomorrow() -> date:
    """The UTC day after today."""
    return datetime.now(UTC).date() + timedelta(days=1)


def day_order(day: date, lon: float, lat: float, **overrides: Any) -> dict[str, Any]:
    """An order due on ``day`` between 09:00 and 17:00 UTC at (lon, lat)."""
    body = order_body(
        order_handle=f"plan-order-{next(_seq)}",
        scheduled_after=f"{day.isoformat()}T09:00:00Z",
        scheduled_at=f"{day.isoformat()}T17:00:00Z",
        destination={"geometry": {"type": "Point", "coordinates": [lon, lat]}},
    )
    body.update(overrides)
    return body


def add_worker(api: TestClient, **overrides: Any) -> str:
    """Create a worker available every day (no schedule), return its handle."""
    body = worker_body(schedule=[], product_types=[], capacity=None,
                       home={"geometry": {"type": "Point", "coordinates": [13.39, 52.49]}})
    body.update(overrides)
    response = api.post("/workers/", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["worker_handle"])


def post_plan(api: TestClient, orders: list[dict[str, Any]], **overrides: Any) -> str:
    """POST the orders in scheduled mode; return the plan id."""
    body: dict[str, Any] = {"orders": orders, "plan_mode": "scheduled"}
    body.update(overrides)
    response = api.post("/orders/", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["message"] == "Order Planning Initiated"
    assert data["plan"]["href"] == f"/orders/plans/{data['plan']['id']}"
    return str(data["plan"]["id"])


def run_jobs(db: Database, settings: Settings) -> int:
    """Run every due job in this thread (planning runs with a short budget)."""
    quick = settings.model_copy(update={
        "planning": settings.planning.model_copy(update={"time_budget_s": 1.0,
                                                         "processes": 1}),
    })
    return build_runner(db, quick).run_until_idle()
