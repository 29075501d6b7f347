"""Plain typed builders of request bodies, with keyword overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_counter = itertools.count()


def iso(value: datetime) -> str:
    """A timestamp as clients send it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def order_body(**overrides: Any) -> dict[str, Any]:
    """One ``OrderRequest`` with a unique handle, due in two hours."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "order_handle": f"order-{next(_counter)}",
        "destination": {
            "geometry": {"type": "Point", "coordinates": [-122.402, 37.792]},
            "address": "1 Market St, San Francisco",
        },
        "scheduled_after": iso(now + timedelta(hours=1)),
        "scheduled_at": iso(now + timedelta(hours=2)),
        "expected_service_time": 300,
        "metadata": {"customer": "acme"},
    }
    body.update(overrides)
    return body


def create_orders_body(*orders: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A ``BatchOrdersRequest`` in manual mode."""
    body: dict[str, Any] = {"orders": list(orders) or [order_body()], "plan_mode": "manual"}
    body.update(overrides)
    return body


def worker_body(**overrides: Any) -> dict[str, Any]:
    """A worker with a home and a weekday shift."""
    body: dict[str, Any] = {
        "worker_handle": f"worker-{next(_counter)}",
        "name": "Ada Driver",
        "product_types": ["frozen"],
        "capacity": 10,
        "home": {"geometry": {"type": "Point", "coordinates": [-122.41, 37.77]},
                 "address": "Home"},
        "schedule": [{"day_of_week": "MONDAY", "start_time": "08:00", "end_time": "17:00"}],
    }
    body.update(overrides)
    return body
