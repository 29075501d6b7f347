"""Helpers of the webhook tests: fast settings, a job runner, and API shortcuts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.settings import Settings
from routekeeper.webhooks import tasks as _tasks  # noqa: F401 - registers the tasks
from tests.factories import create_orders_body, order_body

# Retries 0.2 s to 1 s after the first attempt: the whole schedule runs in a test.
FAST_SCHEDULE = [0.2, 0.4, 0.6, 0.8, 1.0]


def fast_settings(settings: Settings, **webhooks: Any) -> Settings:
    """The session settings with a short retry schedule and webhook overrides."""
    changes: dict[str, Any] = {"retry_schedule_s": FAST_SCHEDULE, "timeout_s": 2.0, **webhooks}
    return settings.model_copy(update={"webhooks": settings.webhooks.model_copy(update=changes)})


def make_runner(db: Database, settings: Settings) -> JobRunner:
    """A job runner whose handlers see ``settings``."""
    runner = JobRunner(db, settings.jobs)
    runner.context["settings"] = settings
    return runner


def drain(runner: JobRunner, until: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Run due jobs (retries fall due over time) until ``until()`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        runner.run_until_idle()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the condition was not reached in time")
        time.sleep(0.05)


def create_endpoint(client: TestClient, url: str, **fields: Any) -> dict[str, Any]:
    """Register an endpoint and return the creation answer (with its secret)."""
    response = client.post("/webhooks/endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def new_order(client: TestClient, **overrides: Any) -> str:
    """Create one manual order and return its handle."""
    response = client.post("/orders/", json=create_orders_body(order_body(**overrides)))
    assert response.status_code == 201, response.text
    handle: str = response.json()["orders"][0]["order_handle"]
    return handle


def cancel_order(client: TestClient, handle: str) -> None:
    """Cancel an order (an ``order.cancelled`` event)."""
    response = client.post(f"/orders/{handle}/cancel")
    assert response.status_code == 200, response.text


def update_order(client: TestClient, handle: str, **metadata: Any) -> None:
    """Change an order's metadata (an ``order.updated`` event)."""
    response = client.patch(f"/orders/{handle}", json={"metadata": metadata or {"n": 1}})
    assert response.status_code == 200, response.text


def deliveries(client: TestClient, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every delivery of an endpoint (first page of up to 1000), newest first."""
    response = client.get(f"/webhooks/endpoints/{endpoint_id}/deliveries",
                          params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["deliveries"]
    return rows


def all_final(client: TestClient, endpoint_id: str, count: int) -> Callable[[], bool]:
    """A condition: ``count`` deliveries exist and none is pending any more."""

    def check() -> bool:
        rows = deliveries(client, endpoint_id)
        return len(rows) == count and all(r["status"] != "pending" for r in rows)

    return check
