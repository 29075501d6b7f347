"""Builders of the views tests: a worker with a phone on a tracked three-stop route, positions
posted through the API, and a planned day for the board."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.settings import PlanningSettings, Settings
from routekeeper.worker import build_runner
from tests.conftest import Tenant
from tests.factories import create_orders_body, order_body, worker_body
from tests.processing import drain
from tests.tracking.api_helpers import backdate

# A depot in Berlin; the stops lie east of it, about 1.5 km apart.
DEPOT = (13.3777, 52.5163)
STOP_ADDRESSES = ("Unter den Linden 5", "Alexanderplatz 1", "Karl-Marx-Allee 90")


def offset(origin: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    """(lon, lat) ``east_m`` and ``north_m`` away from ``origin``."""
    lon, lat = origin
    return (lon + east_m / (111_320.0 * math.cos(math.radians(lat))),
            lat + north_m / 110_540.0)


def iso(value: datetime) -> str:
    """A timestamp as devices send it (milliseconds, Z)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{value.microsecond // 1000:03d}Z"


def path_of(url: str) -> str:
    """The path and query of a URL the API handed out (its host is the test's public URL)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Shift:
    """A worker on a tracked route of three stops, with a registered phone."""

    api: TestClient
    worker_handle: str
    device_id: str
    route_handle: str
    embed_url: str
    orders: list[dict[str, Any]]
    clock: datetime
    last: tuple[float, float] | None = None

    @property
    def handles(self) -> list[str]:
        """The order handles in route sequence."""
        return [o["order_handle"] for o in self.orders]

    def tracking_id(self, index: int) -> str:
        """The tracking id of the ``index``-th stop (from its share_url)."""
        return str(self.orders[index]["share_url"]).rsplit("/", 1)[-1]

    def stop_point(self, index: int) -> tuple[float, float]:
        """(lon, lat) of the ``index``-th stop."""
        lon, lat = self.orders[index]["destination"]["geometry"]["coordinates"]
        return float(lon), float(lat)

    def post_position(self, lon: float, lat: float) -> dict[str, Any]:
        """Upload one fix through ``POST /devices/{device_id}/locations``, recorded after the
        previous one by the time a drive at 20 m/s between them takes (the route started
        half an hour ago, so the drive is in the past until an order is completed)."""
        gap_s = 5.0
        if self.last is not None:
            gap_s = max(gap_s, distance_m(self.last, (lon, lat)) / 20.0)
        self.clock += timedelta(seconds=gap_s)
        # Fixes after a completion are a little ahead of the clock (the server allows it).
        assert self.clock <= datetime.now(UTC) + timedelta(seconds=240), "too far ahead"
        self.last = (lon, lat)
        response = self.api.post(f"/devices/{self.device_id}/locations", json={"locations": [{
            "recorded_at": iso(self.clock),
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "accuracy": 5.0, "speed": 8.0, "battery": 80.0}]})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["rejected"] == 0, body
        drain(self.api)  # the worker's tracking processor, right after the upload
        return body

    def catch_up(self) -> None:
        """Let the drive reach the present: the next fix is recorded about now."""
        self.clock = max(self.clock, datetime.now(UTC) - timedelta(seconds=5))

    def complete(self, index: int) -> None:
        """Complete the ``index``-th stop through the API; later fixes are recorded after it."""
        response = self.api.post(f"/orders/{self.handles[index]}/complete")
        assert response.status_code == 200, response.text
        self.clock = max(self.clock, datetime.now(UTC))

    def refresh(self) -> None:
        """Re-read the orders of the route."""
        response = self.api.get(f"/orders/routes/{self.route_handle}")
        assert response.status_code == 200, response.text
        self.orders = response.json()["orders"]


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two (lon, lat) points (equirectangular: fine across a city)."""
    x = math.radians(b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    y = math.radians(b[1] - a[1])
    return math.hypot(x, y) * 6_371_000.0


def start_shift(tenant: Tenant, db: Database, *, prefix: str = "v",
                name: str = "Ada Lovelace") -> Shift:
    """Track a three-stop route for a new worker whose phone is registered first; the route
    is back-dated to half an hour ago so that a drive can be posted in the past."""
    api = tenant.client
    worker = f"{prefix}-worker"
    response = api.post("/workers/", json={"worker_handle": worker, "name": name})
    assert response.status_code in (200, 201), response.text
    device = f"{prefix}-phone"
    response = api.post("/devices/", json={"device_id": device, "worker_handle": worker})
    assert response.status_code == 201, response.text
    now = datetime.now(UTC)
    orders = []
    for index, address in enumerate(STOP_ADDRESSES):
        lon, lat = offset(DEPOT, 1500.0 * (index + 1), 300.0 * index)
        orders.append({
            "order_handle": f"{prefix}-stop-{index + 1}",
            "destination": {"geometry": {"type": "Point", "coordinates": [lon, lat]},
                            "radius": 50, "address": address},
            "scheduled_at": iso(now + timedelta(hours=2 + index)),
            "expected_service_time": 300,
            "metadata": {"customer": f"customer-{index + 1}"},
        })
    response = api.post("/orders/track", json={"track_mode": "on_time", "worker_handle": worker,
                                               "device_id": device, "orders": orders})
    assert response.status_code == 201, response.text
    route = response.json()
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    backdate(db, tenant.account_id, route["route_handle"], started)
    return Shift(api, worker, device, route["route_handle"], route["embed_url"],
                 route["orders"], clock=started)


@dataclass
class PlannedDay:
    """A planned day of the default ops group: its plan, routes and unplanned handles."""

    day: str
    plan_id: str
    route_handles: list[str]
    unplanned: list[str]


def plan_day(api: TestClient, db: Database, settings: Settings, *, stops: int = 6
             ) -> PlannedDay:
    """Plan tomorrow for two workers through ``POST /orders/`` and the planning job; one
    order needs a product nobody carries, so it stays unplanned with a reason."""
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    home = {"geometry": {"type": "Point", "coordinates": list(DEPOT)}, "address": "Depot"}
    # One worker carries frozen goods, the other dry ones: the orders need both routes.
    products = ("frozen", "dry")
    for name, product in zip(("Grace Hopper", "Katherine Johnson"), products, strict=True):
        response = api.post("/workers/", json=worker_body(
            name=name, schedule=[], product_types=[product], home=home))
        assert response.status_code in (200, 201), response.text
    window = {"scheduled_after": f"{day}T08:00:00Z", "scheduled_at": f"{day}T18:00:00Z"}
    orders = [order_body(**window, product_type=[products[i % 2]], destination={
        "geometry": {"type": "Point",
                     "coordinates": list(offset(DEPOT, 900.0 * (i % 3 + 1),
                                                700.0 * (i // 3) - 900.0 * (i % 2)))},
        "address": f"Planned street {i + 1}"}) for i in range(stops)]
    orders.append(order_body(**window, product_type=["piano"], destination={
        "geometry": {"type": "Point", "coordinates": list(offset(DEPOT, -800.0, 600.0))},
        "address": "Nowhere lane 1"}))
    response = api.post("/orders/", json=create_orders_body(*orders, plan_mode="scheduled"))
    assert response.status_code == 201, response.text
    plan_id = response.json()["plan"]["id"]
    fast = settings.model_copy(update={"planning": PlanningSettings(
        time_budget_s=1.0, min_time_budget_s=0.5, processes=1)})
    build_runner(db, fast).run_until_idle()
    plan = api.get(f"/orders/plans/{plan_id}").json()
    assert plan["status"] == "completed", plan
    return PlannedDay(str(day), plan_id, [r["route_handle"] for r in plan["routes"]],
                      [o["order_handle"] for o in plan["unplanned_orders"]])
