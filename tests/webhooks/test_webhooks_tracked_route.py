"""End to end: a tracked route's events reach a real receiver through an outage and a
restart of the sending worker process, each exactly once, signed and verifiable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook
from starlette.testclient import TestClient

from routekeeper.db.engine import Database
from routekeeper.models.outbox_event import OutboxEvent
from routekeeper.settings import Settings
from routekeeper.tracking import clock
from tests.conftest import Tenant
from tests.tracking.api_helpers import TrackClock, arrive_at_p, make_road

from .helpers import create_endpoint, drain, fast_settings, make_runner
from .receiver import Receiver


def _event_ids(db: Database, account_id: str) -> dict[str, tuple[str, str]]:
    """Every outbox event of the account: id -> (type, value)."""
    with db.read() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.account_id == account_id))
        return {row.id: (row.type, row.value) for row in rows}


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ROUTEKEEPER_DATABASE__URL": settings.database.url,
        "ROUTEKEEPER_ENVIRONMENT": "test",
        "ROUTEKEEPER_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        "ROUTEKEEPER_WEBHOOKS__TIMEOUT_S": "2",
        "ROUTEKEEPER_JOBS__LEASE_S": "2",
    }
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("worker_process.py"))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_a_tracked_route_survives_an_outage_and_a_worker_restart(
    api: TestClient, tenant: Tenant, receiver: Receiver, db: Database, settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Track a route from start to completion while the receiver is down and the sender is
    killed; after recovery every event has arrived exactly once and verifies."""
    fake_clock = TrackClock()
    monkeypatch.setattr(clock, "now", fake_clock)
    endpoint = create_endpoint(api, receiver.url)
    receiver.default_status = 503  # the outage

    road = make_road(api, db, tenant, fake_clock, prefix="hook")
    arrive_at_p(road)
    road.upload(*road.drive(180, 280, 1000, 2000))  # leave P, drive to Q
    road.upload(*road.drive(290, 360, 2000, 2000))  # stand at Q
    for name in ("P", "Q"):
        assert api.post(f"/orders/{road.handles[name]}/complete").status_code == 200
    route = api.get(f"/orders/routes/{road.route_handle}").json()
    assert route["status"] == "completed"

    expected = _event_ids(db, tenant.account_id)
    values = set(expected.values())
    for wanted in (("order", "started"), ("order", "arrived"), ("order", "exited"),
                   ("order", "completed"), ("route", "created"), ("route", "started"),
                   ("route", "completed")):
        assert wanted in values, wanted

    worker = _start_worker(settings)
    try:
        receiver.wait_for(1, timeout_s=60)  # the first worker tried during the outage
        time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGKILL)  # the "process restart"
        worker.wait(10)
    assert receiver.accepted() == []

    receiver.default_status = 200  # recovery
    runner = make_runner(db, fast_settings(settings))
    drain(runner, lambda: set(receiver.accepted_event_ids()) >= set(expected), timeout_s=90)

    delivered = receiver.accepted_event_ids()
    assert sorted(delivered) == sorted(set(delivered)), "an event arrived twice"
    assert set(delivered) == set(expected)
    for request in receiver.accepted():
        verified = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert all(event["account_id"] == tenant.account_id for event in verified)
