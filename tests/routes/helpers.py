"""Plain helpers of the route tests: set up ops groups, workers and orders through the API,
and read what the API does not show (outbox events, orders' route fields) from the database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.order import Order
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker
from tests.factories import iso, order_body, worker_body

Point = tuple[float, float]

# The straight-line model, restated independently of the code under test.
EARTH_RADIUS_M = 6_371_008.8
DETOUR = 1.3
SPEED_MPS = 30 / 3.6


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle metres between two (lon, lat) points, from the textbook formula."""
    lat1, lat2 = math.radians(a[1]), math.radians(b[1])
    dlat, dlon = lat2 - lat1, math.radians(b[0] - a[0])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def leg(a: Point, b: Point) -> tuple[int, int]:
    """(metres, seconds) of one leg: haversine x 1.3, then at 30 km/h, each rounded."""
    road = haversine_m(a, b) * DETOUR
    return round(road), round(road / SPEED_MPS)


def ts(value: datetime) -> str:
    """A timestamp as the API writes it (milliseconds and Z)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


def tomorrow_at(hour: int) -> datetime:
    """Tomorrow (UTC) at ``hour``:00, so windows are ahead of the clock."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def point(lon: float, lat: float) -> dict[str, Any]:
    """A destination at (lon, lat)."""
    return {"geometry": {"type": "Point", "coordinates": [lon, lat]}}


def make_group(
    api: TestClient, handle: str, *, home: Point = (13.40, 52.50),
    start: str = "ops_group_home", completion: str = "end_at_last_order",
) -> str:
    """Create an ops group with a home and route start/end settings."""
    response = api.post("/workers/ops-groups/", json={
        "ops_group_handle": handle,
        "ops_group_home": {"geometry": {"type": "Point", "coordinates": list(home)}},
        "route_start_location": start, "route_completion_type": completion,
    })
    assert response.status_code == 200, response.text
    return handle


def make_worker(api: TestClient, handle: str, *, group: str = "default") -> str:
    """Create a worker in ``group``."""
    response = api.post("/workers/", json=worker_body(worker_handle=handle,
                                                      ops_group_handle=group))
    assert response.status_code in (200, 201), response.text
    return handle


def make_orders(api: TestClient, *bodies: dict[str, Any], group: str = "default") -> list[str]:
    """Create unplanned orders (manual mode, no worker); their handles."""
    response = api.post("/orders/", json={"orders": list(bodies), "plan_mode": "manual",
                                          "ops_group_handle": group})
    assert response.status_code == 201, response.text
    return [o["order_handle"] for o in response.json()["orders"]]


def orders_at(api: TestClient, *points: Point, group: str = "default", **fields: Any) -> list[str]:
    """Unplanned orders at these points, with the factory's window unless overridden."""
    return make_orders(api, *(order_body(destination=point(*p), **fields) for p in points),
                       group=group)


def refs(*handles: str) -> list[dict[str, str]]:
    """``OrderHandleInput`` items."""
    return [{"order_handle": h} for h in handles]


def create_route(api: TestClient, handles: list[str], **fields: Any) -> dict[str, Any]:
    """``POST /orders/routes/``, asserting success; the route."""
    response = api.post("/orders/routes/", json={"orders": refs(*handles), **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def route_handles(route: dict[str, Any]) -> list[str]:
    """The order handles of a route, in sequence."""
    return [o["order_handle"] for o in route["orders"]]


def window(start: datetime, *, after_min: float | None, at_min: float | None,
           service_s: int = 0) -> dict[str, Any]:
    """Order window fields relative to ``start`` (None leaves a bound out)."""
    fields: dict[str, Any] = {"expected_service_time": service_s,
                              "scheduled_after": None, "scheduled_at": None}
    if after_min is not None:
        fields["scheduled_after"] = iso(start + timedelta(minutes=after_min))
    if at_min is not None:
        fields["scheduled_at"] = iso(start + timedelta(minutes=at_min))
    return fields


def events(db: Database, account_id: str, *, type: str | None = None,
           route_handle: str | None = None, order_handle: str | None = None) -> list[str]:
    """Outbox ``data.value`` of an account's events, oldest first, optionally filtered."""
    with db.read() as session:
        query = select(OutboxEvent).where(OutboxEvent.account_id == account_id)
        if type is not None:
            query = query.where(OutboxEvent.type == type)
        if route_handle is not None:
            query = query.where(OutboxEvent.route_handle == route_handle)
        if order_handle is not None:
            query = query.where(OutboxEvent.order_handle == order_handle)
        rows = session.scalars(query.order_by(OutboxEvent.seq)).all()
        return [str(row.payload["data"]["value"]) for row in rows]


def set_devices(db: Database, account_id: str, worker_handle: str, devices: list[str]) -> None:
    """Link devices to a worker directly (the devices API is not built yet)."""
    with db.write() as session:
        worker = session.get(Worker, (account_id, worker_handle))
        assert worker is not None
        worker.device_ids = devices


def stored_route(db: Database, account_id: str, route_handle: str) -> dict[str, Any]:
    """A route's row and its orders' route fields, as plain data for before/after checks."""
    with db.read() as session:
        route = session.get(Route, (account_id, route_handle))
        assert route is not None
        rows = session.scalars(select(Order).where(
            Order.account_id == account_id, Order.route_handle == route_handle)
            .order_by(Order.route_sequence)).all()
        return {
            "version": route.version, "status": route.status, "metadata": route.metadata_,
            "worker": route.worker_handle, "estimate": route.estimate,
            "scheduled_start_at": route.scheduled_start_at,
            "orders": [(o.order_handle, o.status, o.route_sequence, o.worker_handle)
                       for o in rows],
        }


def order_row(db: Database, account_id: str, order_handle: str) -> tuple[str, str | None]:
    """(status, route_handle) of an order's latest attempt."""
    with db.read() as session:
        order = session.scalars(select(Order).where(
            Order.account_id == account_id, Order.order_handle == order_handle)
            .order_by(Order.fulfillment_attempt.desc())).first()
        assert order is not None
        return order.status, order.route_handle
