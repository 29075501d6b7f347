"""Nothing is lost when senders die: leases expire, batches are taken over, stalls swept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from starlette.testclient import TestClient

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobRunner, enqueue
from routekeeper.db.engine import Database
from routekeeper.models.job import Job
from routekeeper.models.webhook_delivery import WebhookDelivery
from routekeeper.models.webhook_endpoint import WebhookEndpoint
from routekeeper.settings import Settings
from routekeeper.webhooks import dispatch
from routekeeper.webhooks.delivery import AttemptResult, Outcome
from tests.conftest import Tenant

from .helpers import (
    all_final,
    cancel_order,
    create_endpoint,
    deliveries,
    drain,
    fast_settings,
    make_runner,
    new_order,
)
from .receiver import Receiver


def test_a_worker_killed_mid_delivery_loses_nothing(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """SIGKILL while the receiver holds the request: the batch is re-sent under the same id."""
    receiver.hold_first = 1
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    env = {
        **os.environ,
        "ROUTEKEEPER_DATABASE__URL": settings.database.url,
        "ROUTEKEEPER_ENVIRONMENT": "test",
        "ROUTEKEEPER_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        "ROUTEKEEPER_WEBHOOKS__TIMEOUT_S": "1",
        "ROUTEKEEPER_JOBS__LEASE_S": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("worker_process.py"))],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        arrived = receiver.arrived.wait(60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert arrived, "the worker process never sent the batch"
    receiver.gate.set()
    # The dead sender never recorded its attempt: the batch is still pending under its lease.
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "pending" and row["attempts"] == 0

    runner = make_runner(db, fast_settings(settings, timeout_s=1.0))
    drain(runner, all_final(api, endpoint["id"], 1), timeout_s=30)
    row = deliveries(api, endpoint["id"])[0]
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [row["event_id"]] * 2
    assert receiver.requests[0].body == receiver.requests[1].body


def test_an_expired_lease_is_taken_over_and_the_stale_sender_fenced(
    api: TestClient, tenant: Tenant, receiver: Receiver, db: Database,
    hook_settings: Settings, runner: JobRunner,
) -> None:
    """A worker that claimed the job and the batch, then died: after its leases expire the
    batch is delivered, and the dead worker's late result can no longer be recorded."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    job = runner.claim("dead-worker")
    assert job is not None and job.task == dispatch.DELIVER_TASK
    stale = dispatch.claim_batch(db, tenant.account_id, endpoint["id"], hook_settings.webhooks)
    assert stale is not None
    runner.run_until_idle()
    assert receiver.requests == []  # both leases are live: nobody else may send

    past = utcnow() - timedelta(seconds=1)
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job.job_id).values(locked_until=past))
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.batch_id == stale.batch_id)
                        .values(locked_until=past))
    drain(runner, all_final(api, endpoint["id"], 1))
    assert len(receiver.accepted()) == 1
    assert receiver.requests[0].headers["webhook-id"] == stale.webhook_id

    late = AttemptResult(Outcome.RETRY, http_status=500)
    assert not dispatch.record_attempt(db, stale, late, started_at=utcnow(),
                                       settings=hook_settings.webhooks)
    assert deliveries(api, endpoint["id"])[0]["status"] == "delivered"


def test_the_sweep_rearms_deliveries_whose_jobs_gave_up(
    api: TestClient, receiver: Receiver, db: Database, runner: JobRunner
) -> None:
    """Deliveries left without a job (it failed for good) are sent after the sweep."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    overdue = utcnow() - timedelta(minutes=5)
    with db.write() as session:
        session.execute(
            update(Job).where(Job.dedupe_key.startswith(f"webhooks.deliver:{endpoint['id']}:"))
            .values(status="failed", finished_at=utcnow())
        )
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.endpoint_id == endpoint["id"])
                        .values(next_attempt_at=overdue))
    runner.run_until_idle()
    assert receiver.requests == []
    with db.write() as session:
        enqueue(session, "webhooks.sweep", max_attempts=1)
    drain(runner, all_final(api, endpoint["id"], 1))
    assert len(receiver.accepted()) == 1


def test_concurrent_senders_send_each_event_exactly_once(
    api: TestClient, receiver: Receiver, db: Database, settings: Settings
) -> None:
    """Four worker threads racing over one endpoint's batches never send an event twice."""
    receiver.script = [500, 200, 503]
    endpoint = create_endpoint(api, receiver.url)
    handles = [new_order(api) for _ in range(12)]
    runner = make_runner(db, fast_settings(settings, batch_size=3))
    runner.start(4)
    try:
        for handle in handles:
            cancel_order(api, handle)
            runner.wake()
        drain(make_runner(db, fast_settings(settings)), all_final(api, endpoint["id"], 12),
              timeout_s=30)
    finally:
        runner.stop()
    accepted = receiver.accepted_event_ids()
    assert len(accepted) == len(set(accepted)) == 12
    assert all(r["status"] == "delivered" for r in deliveries(api, endpoint["id"]))


def test_deliveries_of_a_disabled_endpoint_do_not_linger(
    api: TestClient, tenant: Tenant, receiver: Receiver, db: Database, runner: JobRunner
) -> None:
    """A delivery that slipped in as its endpoint was disabled is cancelled, not kept."""
    endpoint = create_endpoint(api, receiver.url)
    cancel_order(api, new_order(api))
    # As if the event's transaction committed right after the endpoint was disabled.
    with db.write() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"])
                        .values(enabled=False))
    runner.run_until_idle()
    [row] = deliveries(api, endpoint["id"])
    assert row["status"] == "cancelled" and receiver.requests == []
