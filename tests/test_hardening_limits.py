"""Bounded work per request (issue 16, item 3): polygons, metadata, protocol batches, and a
busy database answered 503 with Retry-After instead of 500."""

from __future__ import annotations

import math
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from routekeeper.app import create_app
from routekeeper.core.geojson import MAX_POLYGON_VERTICES
from routekeeper.core.handlers import is_contention
from routekeeper.settings import Settings
from tests.factories import create_orders_body, order_body
from tests.tracking.api_helpers import make_worker, register, ts


def _circle(n: int, radius_deg: float, lon: float = -122.402, lat: float = 37.792
            ) -> dict[str, Any]:
    ring = [[lon + radius_deg * math.cos(2 * math.pi * i / n),
             lat + radius_deg * math.sin(2 * math.pi * i / n)] for i in range(n)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _order_with(geometry: dict[str, Any]) -> dict[str, Any]:
    return create_orders_body(order_body(destination={"geometry": geometry,
                                                      "address": "Somewhere"}))


def test_a_polygon_of_40000_vertices_is_refused_at_once(api: TestClient) -> None:
    """A 40,000-vertex destination made one upload of 1,000 fixes take 53 s under SQLite's
    write lock; it is now a 422 naming the geometry, answered without that work."""
    started = time.monotonic()
    response = api.post("/orders/", json=_order_with(_circle(40_000, 0.001)))
    assert response.status_code == 422, response.text
    assert "positions" in response.text
    assert time.monotonic() - started < 10


def test_polygons_up_to_the_limit_are_accepted_and_larger_areas_refused(
    api: TestClient
) -> None:
    """The largest polygon allowed is accepted; one covering a city is not."""
    allowed = api.post("/orders/", json=_order_with(_circle(MAX_POLYGON_VERTICES - 1, 0.001)))
    assert allowed.status_code in (200, 201), allowed.text
    too_many = api.post("/orders/", json=_order_with(_circle(MAX_POLYGON_VERTICES, 0.001)))
    assert too_many.status_code == 422
    city = api.post("/orders/", json=_order_with(_circle(16, 0.2)))  # ~ 40 km across
    assert city.status_code == 422 and "km2" in city.text


def test_metadata_is_bounded_per_field_and_per_order(api: TestClient) -> None:
    """A 9 MiB metadata was accepted per order (30 of them made one list answer 283 MB);
    now a field holds at most 16 KiB, and merges cannot grow an order past it."""
    big = api.post("/orders/", json=create_orders_body(
        order_body(metadata={"blob": "x" * (17 * 1024)})))
    assert big.status_code == 422, big.text
    assert "metadata" in big.text
    handle = f"meta-{time.monotonic_ns()}"
    ok = api.post("/orders/", json=create_orders_body(
        order_body(order_handle=handle, metadata={"a": "x" * (10 * 1024)})))
    assert ok.status_code in (200, 201), ok.text
    grown = api.post(f"/orders/{handle}/cancel", json={"metadata": {"b": "y" * (10 * 1024)}})
    assert grown.status_code == 422, grown.text
    assert api.get(f"/orders/{handle}").json()["status"] != "cancelled"


def test_worker_metadata_is_bounded(api: TestClient) -> None:
    """Worker metadata is bounded like order metadata."""
    from tests.factories import worker_body

    response = api.post("/workers/", json=worker_body(metadata={"x": "y" * (17 * 1024)}))
    assert response.status_code == 422, response.text


def test_a_traccar_json_list_obeys_the_batch_limit(api: TestClient, anon: TestClient,
                                                   settings: Settings) -> None:
    """A Traccar JSON list of 5,000 fixes bypassed the 1,000-item limit of the other
    protocols; now it is a 422 and nothing is stored."""
    make_worker(api, "w-traccar")
    key = register(api, "d-traccar", "w-traccar")
    start = datetime.now(UTC) - timedelta(hours=3)
    limit = settings.tracking.max_batch

    def items(n: int) -> list[dict[str, Any]]:
        return [{"timestamp": ts(start + timedelta(seconds=i)),
                 "coords": {"latitude": 52.5, "longitude": 13.4 + i * 1e-6}}
                for i in range(n)]

    refused = anon.post("/osmand", json={"device_id": key, "location": items(limit + 1)})
    assert refused.status_code == 422, refused.text
    assert "location" in refused.json()["detail"]["json"]
    accepted = anon.post("/osmand", json={"device_id": key, "location": items(3)})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 3


def test_a_locked_sqlite_database_is_a_503_with_retry_after(
    settings: Settings, tenant: Any
) -> None:
    """Another writer holding SQLite's lock past the busy timeout made POST /orders/ a 500
    "database is locked"; now a 503 with Retry-After, and nothing half-written."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's database-level write lock (PostgreSQL: see the unit test)")
    quick = settings.model_copy(update={"database": settings.database.model_copy(
        update={"sqlite_busy_timeout_ms": 200})})
    path = settings.database.url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        with TestClient(create_app(quick, run_worker=False),
                        raise_server_exceptions=False) as client:
            client.auth = (tenant.account_id, tenant.secret_key)
            holder.execute("BEGIN IMMEDIATE")
            handle = f"locked-{time.monotonic_ns()}"
            response = client.post("/orders/", json=create_orders_body(
                order_body(order_handle=handle)))
            holder.execute("ROLLBACK")
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.json()["message"] == "Service unavailable"
            assert client.get(f"/orders/{handle}").status_code == 404
    finally:
        holder.close()


@pytest.mark.parametrize(("orig", "busy"), [
    (SimpleNamespace(sqlstate="55P03"), True),   # lock_not_available
    (SimpleNamespace(sqlstate="40P01"), True),   # deadlock_detected
    (SimpleNamespace(sqlstate="08006"), False),  # connection failure: a real fault
    (Exception("database is locked"), True),
    (Exception("no such table: order"), False),
])
def test_contention_is_told_from_faults(orig: Any, busy: bool) -> None:
    """PostgreSQL's lock and serialization conflicts and SQLite's lock are retryable 503s;
    other operational errors stay 500s."""
    assert is_contention(OperationalError("stmt", {}, orig)) is busy
