"""The export job: restarts after a crash, a lost lease, a consistent snapshot, the sweep."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobContext, JobRunner, enqueue
from routekeeper.db.engine import Database
from routekeeper.models.job import Job
from routekeeper.settings import Settings
from tests.exports.conftest import (
    create_orders,
    download,
    identity,
    list_all,
    parse_csv,
    runner_for,
    start_export,
    status,
)
from tests.factories import order_body


class _Crash(BaseException):
    """Stands for the process dying: nothing in the handler may catch it."""


def claim_job(runner: JobRunner, job_id: str) -> JobContext:
    """Claim ``job_id`` like a worker would (running any other due job met on the way)."""
    while True:
        ctx = runner.claim("test-worker")
        assert ctx is not None, f"job {job_id} was not due"
        if ctx.job_id == job_id:
            return ctx
        runner.execute(ctx)


def expire_lease(db: Database, job_id: str) -> None:
    """Move the job's lease into the past, as if its worker had stopped heartbeating."""
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job_id)
                        .values(locked_until=utcnow() - timedelta(seconds=1)))


def files_of(root: Path, job_id: str) -> list[Path]:
    """Every published or staged file of an export under the local store."""
    return sorted(p for p in root.rglob(f"*{job_id}*") if p.is_file())


def _in_test_thread() -> bool:
    # The runner's own heartbeat thread must keep its normal behaviour.
    return threading.current_thread() is threading.main_thread()


def test_crash_mid_job_restarts_into_one_complete_file(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker dying after the first batch leaves a partial file that is never linked;
    once the lease expires the next run writes one complete, correct file."""
    create_orders(api, *[order_body() for _ in range(10)])
    runner = runner_for(db, settings, batch_rows=3)
    job_id = start_export(api)
    ctx = claim_job(runner, job_id)
    original = ctx.heartbeat

    def die() -> None:
        if _in_test_thread():
            raise _Crash
        original()

    ctx.heartbeat = die  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        runner.execute(ctx)
    root = settings.exports.local_dir
    (partial,) = files_of(root, job_id)
    assert partial.suffix == ".part"
    try:  # whatever the partial file holds, it is not the whole export
        partial_text: bytes | None = gzip.decompress(partial.read_bytes())
    except (EOFError, zlib.error, gzip.BadGzipFile):
        partial_text = None
    assert partial_text is None or partial_text.count(b"\r\n") < 11
    crashed = status(api, job_id)
    assert crashed["status"] == "processing" and crashed["presigned_url"] is None

    expire_lease(db, job_id)
    runner.run_until_idle()
    done = status(api, job_id)
    assert done["status"] == "completed" and done["rows_processed"] == 10
    rows = parse_csv(download(api, done["presigned_url"]))
    assert [identity(r) for r in rows] == [identity(o) for o in list_all(api, {})]
    (published,) = files_of(root, job_id)  # the partial file of attempt 1 is gone
    assert published.name == f"{job_id}-2.csv.gz"


def test_worker_that_lost_its_lease_cannot_replace_the_file(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A stale worker stops at its next heartbeat and deletes only its own file; the new
    owner's completed export keeps its file and row count."""
    create_orders(api, *[order_body() for _ in range(7)])
    runner = runner_for(db, settings, batch_rows=2)
    job_id = start_export(api)
    stale = claim_job(runner, job_id)
    original = stale.heartbeat
    took_over: list[str] = []

    def taken_over_then_beat() -> None:
        if _in_test_thread() and not took_over:
            expire_lease(db, job_id)
            fresh = claim_job(runner, job_id)
            runner.execute(fresh)
            took_over.append(status(api, job_id)["status"])
        original()

    stale.heartbeat = taken_over_then_beat  # type: ignore[method-assign]
    runner.execute(stale)  # the runner swallows LeaseLost, as in production
    assert took_over == ["completed"]
    done = status(api, job_id)
    assert done["status"] == "completed" and done["rows_processed"] == 7
    assert len(parse_csv(download(api, done["presigned_url"]))) == 7
    (only,) = files_of(settings.exports.local_dir, job_id)
    assert only.name == f"{job_id}-2.csv.gz"


def test_orders_changed_during_the_export_keep_their_snapshot_state(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """Orders cancelled or created between two batches neither vanish, repeat nor appear:
    the file is the state when the export's snapshot began."""
    orders = create_orders(api, *[order_body(metadata={"n": n}) for n in range(8)])
    runner = runner_for(db, settings, batch_rows=2)
    filters = {"status": "unplanned", "sort_direction": "asc"}
    before = list_all(api, filters)
    job_id = start_export(api, filters)
    ctx = claim_job(runner, job_id)
    original = ctx.heartbeat
    changed: list[bool] = []

    def change_then_beat() -> None:
        if _in_test_thread() and not changed:
            # The last order is in a later batch: cancelling it takes it out of the filter.
            last = orders[-1]["order_handle"]
            assert api.post(f"/orders/{last}/cancel").status_code == 200
            create_orders(api, order_body(), order_body())
            changed.append(True)
        original()

    ctx.heartbeat = change_then_beat  # type: ignore[method-assign]
    runner.execute(ctx)
    assert changed
    done = status(api, job_id)
    assert done["status"] == "completed"
    rows = parse_csv(download(api, done["presigned_url"]))
    assert [identity(r) for r in rows] == [identity(o) for o in before]
    assert {r["status"] for r in rows} == {"unplanned"}
    # A new export sees the changes: one fewer original, two new orders.
    again = start_export(api, filters)
    runner.run_until_idle()
    assert status(api, again)["rows_processed"] == len(before) - 1 + 2


def test_sweep_fails_abandoned_exports_and_deletes_expired_files(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """An export whose job gave up becomes failed; an expired link's file is deleted."""
    create_orders(api, order_body())
    expiring = start_export(api)
    runner_for(db, settings, link_ttl_s=0).run_until_idle()
    assert status(api, expiring)["status"] == "completed"
    assert files_of(settings.exports.local_dir, expiring)
    abandoned = start_export(api)
    with db.write() as session:
        session.execute(update(Job).where(Job.id == abandoned)
                        .values(status="failed", last_error="gave up after 5 attempts"))
        enqueue(session, "exports.sweep", {})
    runner_for(db, settings).run_until_idle()
    state = status(api, abandoned)
    assert state["status"] == "failed"
    assert "stopped before finishing" in state["error_message"]
    assert files_of(settings.exports.local_dir, expiring) == []
    assert status(api, expiring)["presigned_url"] is None


# A worker process that pauses after its first batch so the test can SIGKILL it there.
_WORKER = """
import sys, time
from pathlib import Path
from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.exports import repository, tasks
from routekeeper.settings import DatabaseSettings, ExportSettings, JobSettings, Settings

url, export_dir, job_id, secret_key = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
settings = Settings(_env_file=None).model_copy(update={
    "secret_key": secret_key, "configured_public_url": "http://testserver",
    "database": DatabaseSettings(url=url),
    "jobs": JobSettings(lease_s=1.0),
    "exports": ExportSettings(local_dir=export_dir, batch_rows=2),
})
original = repository.set_progress

def progress_then_hang(session, account_id, export_id, rows):
    original(session, account_id, export_id, rows)
    if export_id == job_id:
        session.commit()
        print("first batch written", flush=True)
        time.sleep(60)

repository.set_progress = progress_then_hang
db = Database(settings.database)
runner = JobRunner(db, settings.jobs)
runner.context["settings"] = settings
while True:  # other due jobs of the shared test database run normally first
    ctx = runner.claim("doomed-worker")
    assert ctx is not None, "the export job was not due"
    runner.execute(ctx)
"""


def test_sigkilled_worker_process_is_taken_over_after_its_lease(
    api: TestClient, db: Database, settings: Settings
) -> None:
    """A worker process killed with SIGKILL mid-export stops heartbeating; once its lease
    runs out another worker completes the export with one correct file."""
    create_orders(api, *[order_body() for _ in range(5)])
    job_id = start_export(api)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, settings.database.url, str(settings.exports.local_dir),
         job_id, settings.signing_keys.current],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "first batch written", worker.stderr.read() if worker.stderr else ""
        assert status(api, job_id)["status"] == "processing"
        assert status(api, job_id)["rows_processed"] == 2
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        for stream in (worker.stdout, worker.stderr):
            if stream is not None:
                stream.close()
    time.sleep(1.2)  # the killed worker's 1 s lease runs out: nobody renews it
    runner_for(db, settings).run_until_idle()
    done = status(api, job_id)
    assert done["status"] == "completed" and done["rows_processed"] == 5
    rows = parse_csv(download(api, done["presigned_url"]))
    assert sorted(identity(r) for r in rows) == sorted(identity(o) for o in list_all(api, {}))
    (only,) = files_of(settings.exports.local_dir, job_id)
    assert only.name == f"{job_id}-2.csv.gz"
