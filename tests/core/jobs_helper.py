"""Test-only tasks for the job queue tests, and a worker process that runs them.

The tests import this module, and so does the subprocess they start and kill:
``python -m tests.core.jobs_helper hold|drain`` with the database URL in ``URL_ENV``.
A task's effect is an ``Account`` row named after the job, written in the same transaction
as ``ctx.complete``, so the tests can count how many runs of a job really took effect.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.ids import new_id
from routekeeper.core.jobs import JobContext, JobRunner, TaskRegistry
from routekeeper.db.engine import Database
from routekeeper.models.account import Account
from routekeeper.models.job import Job
from routekeeper.settings import DatabaseSettings, JobSettings

URL_ENV = "ROUTEKEEPER_JOBS_TEST_URL"
EFFECT_TASK = "tests.effect"
HOLD_TASK = "tests.hold"


def job_settings(**overrides: Any) -> JobSettings:
    """Short leases and polls so that expiry and retries happen within a test's time."""
    values: dict[str, Any] = {
        "run_in_api": False, "concurrency": 2, "poll_interval_s": 0.05, "lease_s": 1.0,
        "retry_base_s": 0.1, "retry_max_s": 0.4,
    }
    values.update(overrides)
    return JobSettings(**values)


def record_effect(session: Session, ctx: JobContext) -> None:
    """Write this run's effect: an account named after the job (a fresh key every run)."""
    session.add(
        Account(
            account_id=new_id(), name=ctx.job_id, secret_salt="-", secret_hash="-",
            created_at=utcnow(),
        )
    )


def finish_with_effect(ctx: JobContext) -> None:
    """Write the effect and complete the job in one transaction, as real tasks do."""
    with ctx.db.write() as session:
        record_effect(session, ctx)
        ctx.complete(session)


def effect_counts(db: Database, job_ids: Iterable[str]) -> dict[str, int]:
    """How many effects each job has (0 for none)."""
    ids = list(job_ids)
    with db.read() as session:
        rows = session.execute(
            select(Account.name, func.count()).where(Account.name.in_(ids)).group_by(Account.name)
        ).all()
    counts = dict.fromkeys(ids, 0)
    counts.update({name: count for name, count in rows})
    return counts


def load_job(db: Database, job_id: str) -> Job:
    """The job row as the database has it now."""
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None, f"job {job_id} is gone"
        # Detach before the read session rolls back, which would expire the loaded values.
        session.expunge(job)
        return job


def build_registry() -> TaskRegistry:
    """A private registry with the test tasks (the global one stays untouched)."""
    tasks = TaskRegistry()

    @tasks.register(EFFECT_TASK)
    def effect(ctx: JobContext) -> None:
        """Optionally take a while (to overlap with other runners), then take effect."""
        time.sleep(float(ctx.payload.get("sleep_s", 0.0)))
        finish_with_effect(ctx)

    @tasks.register(HOLD_TASK)
    def hold(ctx: JobContext) -> None:
        """On its first attempt, announce itself and stay busy (heartbeating) for a long time."""
        if ctx.attempt == 1:
            print(f"holding {ctx.job_id}", flush=True)
            deadline = time.monotonic() + float(ctx.payload["hold_s"])
            while time.monotonic() < deadline:
                time.sleep(0.1)
                ctx.heartbeat()
        finish_with_effect(ctx)

    return tasks


def _drain(runner: JobRunner, threads: int) -> int:
    # Every thread claims until nothing is due; the jobs of the others may still be running.
    counts = [0] * threads

    def work(index: int) -> None:
        counts[index] = runner.run_until_idle()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def main(argv: list[str]) -> int:
    """Run a worker: ``hold`` runs one job; ``drain`` waits for "go" on stdin, then drains."""
    mode = argv[0]
    db = Database(DatabaseSettings(url=os.environ[URL_ENV]))
    runner = JobRunner(db, job_settings(), build_registry())
    try:
        if mode == "hold":
            while not runner.run_one():
                time.sleep(0.05)
        elif mode == "drain":
            print("ready", flush=True)
            # Start together with the other process, so that both contend for every job.
            sys.stdin.readline()
            print(f"ran {_drain(runner, threads=2)}", flush=True)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
