"""The durable job queue in one process: enqueue, exclusive claims, leases, fencing, retries."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from routekeeper.core import jobs
from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import (
    JobContext,
    JobRunner,
    LeaseLost,
    Retry,
    TaskRegistry,
    backoff_s,
    enqueue,
)
from routekeeper.db.engine import Database
from routekeeper.models.job import Job
from tests.core.jobs_helper import (
    EFFECT_TASK,
    build_registry,
    effect_counts,
    finish_with_effect,
    job_settings,
    load_job,
    record_effect,
)


def _enqueue(db: Database, task: str, payload: dict[str, Any] | None = None, **kw: Any) -> str:
    with db.write() as session:
        job = enqueue(session, task, payload, **kw)
    return job.id


def _enqueue_many(db: Database, count: int, payload: dict[str, Any]) -> list[str]:
    with db.write() as session:
        return [enqueue(session, EFFECT_TASK, payload).id for _ in range(count)]


def _set(db: Database, job_id: str, **values: Any) -> None:
    with db.write() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


def _expire_lease(db: Database, job_id: str) -> None:
    # Stands in for a worker that stalled (or died) past its lease, without waiting for it.
    _set(db, job_id, locked_until=utcnow() - timedelta(seconds=1))


def _make_due(db: Database, job_id: str) -> None:
    # The backoff was checked already; skipping the wait keeps the test fast.
    _set(db, job_id, run_at=utcnow())


def _statuses(db: Database, job_ids: list[str]) -> dict[str, tuple[str, int]]:
    with db.read() as session:
        rows = session.execute(
            select(Job.id, Job.status, Job.attempts).where(Job.id.in_(job_ids))
        ).all()
    return {job_id: (status, attempts) for job_id, status, attempts in rows}


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _fail(ctx: JobContext) -> None:
    raise RuntimeError(f"boom {ctx.attempt}")


def _retry_later(ctx: JobContext) -> None:
    raise Retry(30, "not yet")


def test_enqueue_in_rolled_back_transaction_leaves_no_job(queue_db: Database) -> None:
    """A job enqueued by a transaction that rolls back never exists, so it never runs."""

    class Abort(Exception):
        pass

    with pytest.raises(Abort), queue_db.write() as session:
        job = enqueue(session, EFFECT_TASK)
        session.flush()  # the row really reached the database before the rollback
        job_id = job.id
        raise Abort
    with queue_db.read() as session:
        assert session.get(Job, job_id) is None
    assert JobRunner(queue_db, job_settings(), build_registry()).run_one() is False


def test_enqueue_in_committed_transaction_leaves_one_job(queue_db: Database) -> None:
    """A job enqueued by a committed transaction is one queued row, due now, not yet tried."""
    job_id = _enqueue(queue_db, EFFECT_TASK, {"k": 1}, account_id="acct-1")
    with queue_db.read() as session:
        assert session.scalars(select(Job.id)).all() == [job_id]
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.payload, job.account_id) == ("queued", 0, {"k": 1},
                                                                       "acct-1")
    assert job.max_attempts == jobs.DEFAULT_MAX_ATTEMPTS
    assert job.run_at <= utcnow()


def test_registered_max_attempts_governs_the_task_whatever_enqueue_said(
    queue_db: Database,
) -> None:
    """A task registered with max_attempts=2 fails for good at its second failure."""
    tasks = TaskRegistry()
    tasks.register("tests.fail", max_attempts=2)(_fail)
    runner = JobRunner(queue_db, job_settings(), tasks)
    # Enqueued as by a process that never imported the task's module.
    job_id = _enqueue(queue_db, "tests.fail", max_attempts=7)
    assert runner.run_one() is True
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.max_attempts) == ("queued", 1, 2)
    _make_due(queue_db, job_id)
    assert runner.run_one() is True
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.max_attempts) == ("failed", 2, 2)


def test_threads_of_two_runners_run_each_job_exactly_once(queue_db: Database) -> None:
    """Six threads of two runners draining forty jobs run (and claim) each one exactly once."""
    ids = _enqueue_many(queue_db, 40, {"sleep_s": 0.01})
    tasks = build_registry()
    runners = [JobRunner(queue_db, job_settings(), tasks, worker_id=f"r{i}") for i in range(2)]
    for runner in runners:
        runner.start(3)
    try:
        _wait_until(lambda: all(s == "succeeded" for s, _ in _statuses(queue_db, ids).values()))
    finally:
        for runner in runners:
            runner.stop()
    assert effect_counts(queue_db, ids) == dict.fromkeys(ids, 1)
    # Every claim increments attempts: 1 everywhere means no job was ever claimed twice.
    assert _statuses(queue_db, ids) == dict.fromkeys(ids, ("succeeded", 1))


def test_heartbeat_keeps_the_lease_of_a_job_that_outlasts_it(queue_db: Database) -> None:
    """A job running for more than twice its lease stays with its runner thanks to heartbeats."""
    tasks = TaskRegistry()

    @tasks.register("tests.long")
    def long_job(ctx: JobContext) -> None:
        """Outlast the lease without heartbeating by hand."""
        time.sleep(1.4)
        finish_with_effect(ctx)

    settings = job_settings(lease_s=0.6)
    owner = JobRunner(queue_db, settings, tasks, worker_id="owner")
    rival = JobRunner(queue_db, settings, tasks, worker_id="rival")
    job_id = _enqueue(queue_db, "tests.long")
    thread = threading.Thread(target=owner.run_one)
    thread.start()
    try:
        _wait_until(lambda: load_job(queue_db, job_id).status != "queued")
        while thread.is_alive():
            assert rival.run_one() is False
            time.sleep(0.1)
    finally:
        thread.join()
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)
    assert effect_counts(queue_db, [job_id]) == {job_id: 1}


def test_runner_whose_lease_was_taken_over_cannot_complete(queue_db: Database) -> None:
    """After a takeover the old owner's completion raises LeaseLost and its effect rolls back."""
    tasks = build_registry()
    stale = JobRunner(queue_db, job_settings(), tasks, worker_id="stale")
    fresh = JobRunner(queue_db, job_settings(), tasks, worker_id="fresh")
    job_id = _enqueue(queue_db, EFFECT_TASK)
    stale_ctx = stale.claim("stale:1")
    assert stale_ctx is not None and stale_ctx.attempt == 1
    assert fresh.claim("fresh:1") is None  # the lease holds
    _expire_lease(queue_db, job_id)
    fresh_ctx = fresh.claim("fresh:1")
    assert fresh_ctx is not None and (fresh_ctx.job_id, fresh_ctx.attempt) == (job_id, 2)

    with pytest.raises(LeaseLost), queue_db.write() as session:
        record_effect(session, stale_ctx)
        stale_ctx.complete(session)
    assert effect_counts(queue_db, [job_id]) == {job_id: 0}
    with pytest.raises(LeaseLost):
        stale_ctx.heartbeat()

    finish_with_effect(fresh_ctx)
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("succeeded", 2, None)
    assert effect_counts(queue_db, [job_id]) == {job_id: 1}


@pytest.mark.parametrize("task", [EFFECT_TASK, "tests.fail", "tests.retry"])
def test_stale_run_leaves_the_new_owner_alone_whatever_its_outcome(
    queue_db: Database, task: str
) -> None:
    """A run whose lease was taken over changes nothing, whether it succeeds, fails or retries."""
    tasks = build_registry()
    tasks.register("tests.fail")(_fail)
    tasks.register("tests.retry")(_retry_later)
    stale = JobRunner(queue_db, job_settings(), tasks, worker_id="stale")
    fresh = JobRunner(queue_db, job_settings(), tasks, worker_id="fresh")
    job_id = _enqueue(queue_db, task)
    stale_ctx = stale.claim("stale:1")
    assert stale_ctx is not None
    _expire_lease(queue_db, job_id)
    assert fresh.claim("fresh:1") is not None

    stale.execute(stale_ctx)

    job = load_job(queue_db, job_id)
    assert (job.status, job.locked_by, job.attempts, job.last_error) == (
        "running", "fresh:1", 2, None
    )
    assert effect_counts(queue_db, [job_id]) == {job_id: 0}


def test_failures_retry_with_backoff_and_end_failed(queue_db: Database) -> None:
    """A failing job is rescheduled after a growing, capped backoff and fails at max_attempts."""
    tasks = TaskRegistry()
    tasks.register("tests.fail")(_fail)
    settings = job_settings(retry_base_s=5.0, retry_max_s=8.0)
    runner = JobRunner(queue_db, settings, tasks)
    job_id = _enqueue(queue_db, "tests.fail", max_attempts=3)
    slack = timedelta(milliseconds=2)
    for attempt in (1, 2):
        before = utcnow()
        assert runner.run_one() is True
        after = utcnow()
        job = load_job(queue_db, job_id)
        assert (job.status, job.attempts, job.locked_by) == ("queued", attempt, None)
        assert job.last_error is not None and f"boom {attempt}" in job.last_error
        ceiling = min(8.0, 5.0 * 2 ** (attempt - 1))  # 5 s, then 8 s (capped)
        assert before + timedelta(seconds=ceiling / 2) - slack <= job.run_at
        assert job.run_at <= after + timedelta(seconds=ceiling) + slack
        assert runner.run_one() is False  # not due before its backoff ends
        _make_due(queue_db, job_id)
    assert runner.run_one() is True
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == ("failed", 3, None)
    assert job.last_error is not None and "boom 3" in job.last_error
    assert job.finished_at is not None
    assert runner.run_one() is False


def test_retry_reschedules_without_consuming_an_attempt(queue_db: Database) -> None:
    """Retry(delay) runs the job again after the delay, even when max_attempts is one."""
    calls: list[int] = []
    tasks = TaskRegistry()

    @tasks.register("tests.later")
    def later(ctx: JobContext) -> None:
        """Ask to be run later twice, then take effect."""
        calls.append(ctx.attempt)
        if len(calls) < 3:
            raise Retry(30, "not yet")
        finish_with_effect(ctx)

    runner = JobRunner(queue_db, job_settings(), tasks)
    job_id = _enqueue(queue_db, "tests.later", max_attempts=1)
    for _ in range(2):
        before = utcnow()
        assert runner.run_one() is True
        job = load_job(queue_db, job_id)
        assert (job.status, job.attempts, job.last_error) == ("queued", 0, "not yet")
        assert job.run_at >= before + timedelta(seconds=30)
        assert runner.run_one() is False
        _make_due(queue_db, job_id)
    assert runner.run_one() is True
    job = load_job(queue_db, job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)
    assert calls == [1, 1, 1]
    assert effect_counts(queue_db, [job_id]) == {job_id: 1}


def test_unknown_task_fails_cleanly(queue_db: Database) -> None:
    """A job whose task no one registered fails with a clear error; the runner goes on."""
    runner = JobRunner(queue_db, job_settings(), build_registry())
    missing = _enqueue(queue_db, "tests.no_such_task", max_attempts=1)
    known = _enqueue(queue_db, EFFECT_TASK, run_at=utcnow() + timedelta(milliseconds=5))
    time.sleep(0.01)
    assert runner.run_until_idle() == 2
    job = load_job(queue_db, missing)
    assert (job.status, job.attempts, job.locked_by) == ("failed", 1, None)
    assert job.last_error is not None and "'tests.no_such_task'" in job.last_error
    assert load_job(queue_db, known).status == "succeeded"


def test_job_whose_workers_keep_dying_is_given_up(queue_db: Database) -> None:
    """A job whose leases all expired is failed at the next claim, which then takes the next."""
    runner = JobRunner(queue_db, job_settings(), build_registry())
    job_id = _enqueue(queue_db, EFFECT_TASK, max_attempts=2)
    for attempt in (1, 2):
        ctx = runner.claim(f"dead:{attempt}")
        assert ctx is not None and ctx.attempt == attempt
        _expire_lease(queue_db, job_id)
    later = _enqueue(queue_db, EFFECT_TASK)
    assert runner.run_until_idle() == 1
    job = load_job(queue_db, job_id)
    assert (job.status, job.locked_by, job.last_error) == (
        "failed", None, "gave up after 2 attempts"
    )
    assert effect_counts(queue_db, [job_id, later]) == {job_id: 0, later: 1}


def test_periodic_task_is_enqueued_once_per_period_by_two_runners(
    queue_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Two running runners enqueue (and run) a periodic task once per period, without errors."""
    every_s = 3600.0
    tasks = TaskRegistry()
    tasks.register("tests.tick", every_s=every_s)(finish_with_effect)
    runners = [JobRunner(queue_db, job_settings(), tasks, worker_id=f"r{i}") for i in range(2)]
    first_slot = int(utcnow().timestamp() // every_s)
    caplog.set_level(logging.ERROR, logger="routekeeper.core.jobs")
    for runner in runners:
        runner.start(2)
    try:
        # Both runners schedule at start and again a second later (they race each time).
        time.sleep(1.3)
        with queue_db.read() as session:
            ids = list(session.scalars(select(Job.id).where(Job.task == "tests.tick")))
        _wait_until(lambda: all(s == "succeeded" for s, _ in _statuses(queue_db, ids).values()))
    finally:
        for runner in runners:
            runner.stop()
    last_slot = int(utcnow().timestamp() // every_s)
    slots = range(first_slot, last_slot + 1)  # a single slot unless an hour began meanwhile
    with queue_db.read() as session:
        keys = session.scalars(select(Job.dedupe_key).where(Job.task == "tests.tick")).all()
    assert 1 <= len(keys) <= len(slots)
    assert set(keys) <= {f"periodic:tests.tick:{slot}" for slot in slots}
    assert effect_counts(queue_db, ids) == dict.fromkeys(ids, 1)
    errors = [r for r in caplog.records
              if r.name.startswith("routekeeper") and r.levelno >= logging.ERROR]
    assert errors == []


def test_periodic_scheduling_loses_a_race_for_its_period_quietly(queue_db: Database) -> None:
    """Scheduling a period that another transaction is enqueueing adds no job and raises nothing."""
    # PostgreSQL makes the runner hit the unique dedupe key; SQLite makes it wait for the lock.
    every_s = 3600.0
    tasks = TaskRegistry()
    tasks.register("tests.tick", every_s=every_s)(finish_with_effect)
    runner = JobRunner(queue_db, job_settings(), tasks)
    errors: list[BaseException] = []

    def schedule() -> None:
        try:
            runner.schedule_periodic()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=schedule)
    with queue_db.write() as session:
        slot = int(utcnow().timestamp() // every_s)
        enqueue(session, "tests.tick", dedupe_key=f"periodic:tests.tick:{slot}")
        session.flush()
        thread.start()
        # Uncommitted, our row is invisible to the runner's check, so it tries its own insert
        # (PostgreSQL blocks it on the unique key until we commit).
        time.sleep(0.3)
    thread.join()
    assert errors == []
    with queue_db.read() as session:
        keys = session.scalars(select(Job.dedupe_key).where(Job.task == "tests.tick")).all()
    assert keys.count(f"periodic:tests.tick:{slot}") == 1
    assert len(keys) == len(set(keys)) <= 2  # a second only if an hour began meanwhile


def test_prune_deletes_only_old_finished_jobs(queue_db: Database) -> None:
    """jobs.prune (registered, hourly) deletes finished jobs older than a week and nothing else."""
    spec = jobs.registry.get("jobs.prune")
    assert spec is not None and spec.every_s is not None
    now = utcnow()
    old, recent, later = now - timedelta(days=8), now - timedelta(days=1), now + timedelta(hours=1)
    rows = {
        "old-succeeded": {"status": "succeeded", "finished_at": old},
        "old-failed": {"status": "failed", "finished_at": old},
        "recent-succeeded": {"status": "succeeded", "finished_at": recent},
        "old-queued": {"status": "queued", "run_at": later},
        "old-running": {"status": "running", "locked_by": "w", "locked_until": later},
    }
    with queue_db.write() as session:
        for job_id, values in rows.items():
            session.add(Job(**{
                "id": job_id, "task": "tests.idle", "payload": {}, "attempts": 0,
                "max_attempts": 1, "run_at": old, "created_at": old, "updated_at": old,
                **values,
            }))
        prune_id = enqueue(session, "jobs.prune").id
    runner = JobRunner(queue_db, job_settings(), jobs.registry)
    assert runner.run_until_idle() == 1
    with queue_db.read() as session:
        left = set(session.scalars(select(Job.id)).all())
    assert left == {"recent-succeeded", "old-queued", "old-running", prune_id}
    assert load_job(queue_db, prune_id).status == "succeeded"


def test_backoff_grows_exponentially_with_jitter_up_to_its_ceiling() -> None:
    """Attempt n waits between half and all of min(max, base * 2**(n-1)), jittered."""
    settings = job_settings(retry_base_s=1.0, retry_max_s=10.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (30, 10.0)]:
        delays = [backoff_s(attempt, settings) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered, so that failed jobs do not retry in lockstep
