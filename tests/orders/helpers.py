"""Helpers of the orders tests: creating orders through the API and checking error shapes."""

from __future__ import annotations

import itertools
import re
from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from tests.factories import create_orders_body, order_body, worker_body
from tests.shapes import messages_at

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_handles = itertools.count()


def handle(prefix: str = "ord") -> str:
    """A handle no other test uses."""
    return f"{prefix}-{next(_handles)}"


def create_orders(api: TestClient, *orders: dict[str, Any], **body: Any) -> list[dict[str, Any]]:
    """POST /orders/ (manual, no worker) and return the created orders."""
    response = api.post("/orders/", json=create_orders_body(*orders, **body))
    assert response.status_code == 201, response.text
    created: list[dict[str, Any]] = response.json()["orders"]
    return created


def create_order(api: TestClient, **fields: Any) -> dict[str, Any]:
    """Create one unplanned order with ``fields`` overriding the factory's."""
    return create_orders(api, order_body(**fields))[0]


def create_worker(api: TestClient, **fields: Any) -> str:
    """Create a worker and return its handle."""
    body = worker_body(**fields)
    response = api.post("/workers/", json=body)
    assert response.status_code in (200, 201), response.text
    return str(body["worker_handle"])


def routed_orders(
    api: TestClient, *orders: dict[str, Any], worker_handle: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Create orders on a new route of a worker (manual mode with a worker): route, orders."""
    worker = worker_handle or create_worker(api)
    response = api.post(
        "/orders/", json=create_orders_body(*(orders or (order_body(),)), worker_handle=worker)
    )
    assert response.status_code == 201, response.text
    route = response.json()
    return str(route["route_handle"]), list(route["orders"])


def routed_order(api: TestClient, **fields: Any) -> dict[str, Any]:
    """One order on a worker's route (status ``assigned``)."""
    return routed_orders(api, order_body(**fields))[1][0]


def start_route(api: TestClient, route_handle: str) -> None:
    """Start tracking a route, which makes its orders ``ongoing``."""
    response = api.post("/orders/track", json={"route_handle": route_handle,
                                               "track_mode": "on_time"})
    assert response.status_code == 201, response.text


def set_columns(db: Database, account_id: str, order_handle: str, **values: Any) -> None:
    """Set columns that no endpoint writes yet (e.g. ``plan_id``, written by planning)."""
    with db.write() as session:
        session.execute(
            update(Order)
            .where(Order.account_id == account_id, Order.order_handle == order_handle)
            .values(**values)
        )


def assert_validation(response: Any, location: str, field: str) -> list[str]:
    """Assert a 422 ``ValidationError`` naming ``field`` at ``location``; its messages."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail", "message"}, body
    assert body["message"] == "Validation error"
    return messages_at(body["detail"], location, field)


def assert_http_error(response: Any, status: int) -> dict[str, Any]:
    """Assert the ``HTTPError`` shape ``{"detail": {...}, "message": str}`` with ``status``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "message"}, body
    assert isinstance(body["detail"], dict) and isinstance(body["message"], str)
    return body


def assert_coded_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert the ``Error`` shape ``{"code", "title", "detail"}`` with ``status`` and ``code``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "title", "detail"}, body
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    return body


def list_handles(api: TestClient, **params: Any) -> list[str]:
    """The handles of one page of GET /orders/ with ``params``."""
    response = api.get("/orders/", params=params)
    assert response.status_code == 200, response.text
    return [o["order_handle"] for o in response.json()["orders"]]
