"""The periodic ``eta`` webhook (contract 5.2) of the order a worker is on the way to."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from tests.conftest import Tenant

from .api_helpers import TrackClock, make_worker, outbox, register, start_drive
from .simulate import FakeTravel
from .test_api_drive import replay


def test_eta_webhooks_follow_the_order_on_the_way(
    api: TestClient, anon: TestClient, db: Database, tenant: Tenant,
    track_clock: TrackClock, travel: FakeTravel,
) -> None:
    """While a route is driven, each order gets ``eta`` webhooks only while it is the next
    stop, at most one a minute (``tracking.eta_interval_s``), with the remaining duration and
    distance and the worker's location."""
    make_worker(api, "eta-driver")
    key = register(api, "phone", "eta-driver")
    wire = start_drive(api, db, tenant.account_id, "eta-driver", 11, interval_s=5.0,
                       prefix="eta")
    replay(wire, "json", anon, key, track_clock, 11)
    sent_any = 0
    for stop, handle in wire.handles.items():
        etas = outbox(db, tenant.account_id, order_handle=handle, value="eta")
        times = [datetime.fromisoformat(e["recorded_at"]) for e in etas]
        assert times == sorted(times)
        assert all((b - a).total_seconds() >= 60 for a, b in pairwise(times))
        first = outbox(db, tenant.account_id, order_handle=handle, value="first_eta")[0]
        arrived = datetime.fromisoformat(api.get(f"/orders/{handle}").json()["arrived_at"])
        for event, at in zip(etas, times, strict=True):
            data = event["data"]
            assert data["value"] == "eta" and data["order_handle"] == handle
            assert data["route_handle"] == wire.route_handle and data["status"] == "ongoing"
            assert isinstance(data["remaining_duration"], int) and data["remaining_duration"] >= 0
            assert isinstance(data["remaining_distance"], int) and data["remaining_distance"] >= 0
            assert data["driver_location"]["type"] == "Point"
            assert len(data["driver_location"]["coordinates"]) == 2
            assert data["scheduled_at"] and data["arrive_at"]
            assert event["device_id"] == "phone" and event["type"] == "order"
            # Only while on the way to this stop: after its first ETA, before arriving.
            assert datetime.fromisoformat(first["recorded_at"]) < at <= arrived
            if stop != "A":
                handle_before = wire.handles[chr(ord(stop) - 1)]
                left = api.get(f"/orders/{handle_before}").json()["exited_at"]
                assert at >= datetime.fromisoformat(left)
        sent_any += len(etas)
    assert sent_any >= 3
