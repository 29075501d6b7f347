"""Durable jobs: enqueue in the caller's transaction, claim under a lease, finish exactly once.

A job row is written in the same transaction as the request that asks for it, so a job
exists if and only if its request committed. Workers claim with ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (SQLite serialises claims with its write lock). A claim increments
``attempts`` and sets a lease; every later write of the worker is fenced on
``(locked_by, attempts)``, so a worker whose lease was taken over can no longer finish the
job: its last transaction rolls back and the new owner's run is the only one that counts.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.core.clock import utcnow
from routekeeper.core.context import bound_request_id, current_request_id
from routekeeper.core.ids import new_id
from routekeeper.db.engine import Database
from routekeeper.models.job import Job, JobStatus
from routekeeper.settings import JobSettings

log = logging.getLogger(__name__)

# Attempts of a job whose enqueue named no limit (a limit registered with its task wins).
DEFAULT_MAX_ATTEMPTS = 10


class LeaseLost(RuntimeError):
    """Another worker owns this job now; this run's results must not be committed."""


class Retry(Exception):
    """Raised by a handler to run the job again later without treating it as a crash."""

    def __init__(self, delay_s: float, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay_s = delay_s
        self.reason = reason


@dataclass
class JobContext:
    """What a handler gets: the job's data and fenced access to its lease."""

    job_id: str
    task: str
    payload: dict[str, Any]
    account_id: str | None
    attempt: int
    max_attempts: int
    worker_id: str
    db: Database
    lease_s: float
    # Shared objects of the runner (settings, travel model...), set by whoever builds it.
    env: dict[str, Any] = field(default_factory=dict)
    completed: bool = False
    # The request that asked for the job: its log lines and webhook deliveries carry it.
    request_id: str | None = None

    def _fence(self) -> Any:
        return and_(
            Job.id == self.job_id, Job.locked_by == self.worker_id, Job.attempts == self.attempt
        )

    def heartbeat(self) -> None:
        """Extend the lease; raises LeaseLost when another worker has taken the job."""
        with self.db.write() as session:
            # Take the write lock first (SQLite may wait for it) so the lease counts from now.
            session.connection()
            result = session.execute(
                update(Job)
                .where(self._fence(), Job.status == JobStatus.RUNNING.value)
                .values(locked_until=utcnow() + timedelta(seconds=self.lease_s))
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLost(self.job_id)

    def complete(self, session: Session) -> None:
        """Mark the job done inside the handler's own final transaction (exactly-once effects)."""
        now = utcnow()
        result = session.execute(
            update(Job)
            .where(self._fence(), Job.status == JobStatus.RUNNING.value)
            .values(
                status=JobStatus.SUCCEEDED.value, finished_at=now, updated_at=now, locked_by=None,
                locked_until=None, last_error=None,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(self.job_id)
        self.completed = True


Handler = Callable[[JobContext], None]


@dataclass
class TaskSpec:
    """A registered task: its handler, attempt limit and optional period."""

    name: str
    handler: Handler
    max_attempts: int | None = None
    every_s: float | None = None


@dataclass
class TaskRegistry:
    """Maps task names to handlers; domains register their tasks at import time."""

    tasks: dict[str, TaskSpec] = field(default_factory=dict)

    def register(
        self, name: str, *, max_attempts: int | None = None, every_s: float | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator registering ``handler`` under ``name`` (periodic when ``every_s``)."""

        def decorate(handler: Handler) -> Handler:
            self.tasks[name] = TaskSpec(name, handler, max_attempts, every_s)
            return handler

        return decorate

    def get(self, name: str) -> TaskSpec | None:
        """The spec of a task, if registered."""
        return self.tasks.get(name)


registry = TaskRegistry()


def enqueue(
    session: Session,
    task: str,
    payload: dict[str, Any] | None = None,
    *,
    account_id: str | None = None,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Job:
    """Add a job in the caller's transaction; it runs only if that transaction commits."""
    now = utcnow()
    job = Job(
        id=new_id(), account_id=account_id, task=task, payload=payload or {},
        status=JobStatus.QUEUED.value,
        attempts=0, max_attempts=max_attempts, run_at=run_at or now, dedupe_key=dedupe_key,
        created_at=now, updated_at=now, request_id=current_request_id(),
    )
    session.add(job)
    return job


def backoff_s(attempt: int, settings: JobSettings) -> float:
    """Exponential backoff with equal jitter for the given (1-based) attempt: uniformly
    between half and all of the exponential ceiling, so a retry never comes sooner than half
    the curve (full jitter would draw from zero to the ceiling)."""
    ceiling = min(settings.retry_max_s, settings.retry_base_s * (2 ** max(0, attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)


class JobRunner:
    """Claims and runs jobs in a pool of threads; any number of runners share one queue."""

    def __init__(
        self,
        db: Database,
        settings: JobSettings,
        tasks: TaskRegistry | None = None,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.tasks = tasks or registry
        # Hostname and pid name the process for operators; the random part keeps owners
        # unique across machines that share a hostname (fencing relies on it), and the
        # truncation keeps ``locked_by`` (100 characters) within its column.
        self.worker_id = worker_id or (
            f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.context: dict[str, Any] = {}
        # Background loops that live and stop with the runner (the tracking processor):
        # anything with ``stop(timeout_s)``.
        self.companions: list[Any] = []

    def _thread_id(self) -> str:
        return f"{self.worker_id}:{threading.get_ident()}"

    def claim(self, owner: str) -> JobContext | None:
        """Atomically take the next due job (or one whose lease expired) for ``owner``."""
        while True:
            with self.db.write() as session:
                # Take the write lock first (SQLite may wait for it): the lease counts from now.
                session.connection()
                now = utcnow()
                due = (
                    select(Job.id)
                    .where(
                        or_(
                            and_(Job.status == JobStatus.QUEUED.value, Job.run_at <= now),
                            and_(Job.status == JobStatus.RUNNING.value, Job.locked_until < now),
                        )
                    )
                    .order_by(Job.run_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                row = session.execute(
                    update(Job)
                    .where(Job.id == due)
                    .values(
                        status=JobStatus.RUNNING.value, locked_by=owner, attempts=Job.attempts + 1,
                        locked_until=now + timedelta(seconds=self.settings.lease_s),
                        updated_at=now,
                    )
                    .returning(
                        Job.id, Job.task, Job.payload, Job.account_id, Job.attempts,
                        Job.max_attempts, Job.request_id,
                    )
                ).first()
                if row is None:
                    return None
                job_id, task, payload, account_id, attempts, max_attempts, request_id = row
                spec = self.tasks.get(task)
                if spec and spec.max_attempts is not None and spec.max_attempts != max_attempts:
                    # The task's registered limit is its policy; the process that enqueued
                    # may not have imported the task's module, so it is applied here.
                    max_attempts = spec.max_attempts
                    session.execute(
                        update(Job).where(Job.id == job_id).values(max_attempts=max_attempts)
                    )
                if attempts > max_attempts:
                    # A job whose workers keep dying is given up rather than retried forever;
                    # then look again, so one dead job does not make the queue look empty.
                    session.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(status=JobStatus.FAILED.value, finished_at=now, updated_at=now,
                                locked_by=None, locked_until=None,
                                last_error=f"gave up after {max_attempts} attempts")
                    )
                    log.error("job %s (%s) gave up after %s attempts", job_id, task, max_attempts)
                    continue
            return JobContext(
                job_id=job_id, task=task, payload=dict(payload or {}), account_id=account_id,
                attempt=attempts, max_attempts=max_attempts, worker_id=owner, db=self.db,
                lease_s=self.settings.lease_s, env=self.context, request_id=request_id,
            )

    def run_one(self) -> bool:
        """Claim and run one job; False when nothing was due."""
        owner = self._thread_id()
        ctx = self.claim(owner)
        if ctx is None:
            return False
        self.execute(ctx)
        return True

    def execute(self, ctx: JobContext) -> None:
        """Run a claimed job's handler with a heartbeat, then record its outcome (fenced)."""
        started = time.perf_counter()
        with bound_request_id(ctx.request_id):
            outcome = self._execute(ctx)
            elapsed = time.perf_counter() - started
            metrics.JOB_SECONDS.labels(ctx.task, outcome).observe(elapsed)
            log.info("job %s (%s) %s", ctx.job_id, ctx.task, outcome, extra={
                "event": "job", "job_id": ctx.job_id, "task": ctx.task, "outcome": outcome,
                "attempt": ctx.attempt, "account_id": ctx.account_id,
                "duration_ms": round(elapsed * 1000, 2)})

    def _execute(self, ctx: JobContext) -> str:
        spec = self.tasks.get(ctx.task)
        outcome = JobStatus.SUCCEEDED.value
        stop_beat = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(ctx, stop_beat), daemon=True)
        beat.start()
        try:
            if spec is None:
                raise RuntimeError(f"no handler registered for task {ctx.task!r}")
            spec.handler(ctx)
            if not ctx.completed:
                with self.db.write() as session:
                    ctx.complete(session)
        except LeaseLost:
            outcome = "lease_lost"
            log.warning("job %s: lease lost, leaving it to its new owner", ctx.job_id)
        except Retry as retry:
            outcome = "retry"
            self._reschedule(ctx, retry.delay_s, retry.reason, count_failure=False)
        except Exception as exc:
            outcome = JobStatus.FAILED.value
            log.exception("job %s (%s) failed", ctx.job_id, ctx.task)
            self._reschedule(ctx, backoff_s(ctx.attempt, self.settings), repr(exc)[:2000])
        finally:
            stop_beat.set()
            beat.join()
        return outcome

    def _heartbeat_loop(self, ctx: JobContext, stop: threading.Event) -> None:
        interval = max(0.05, self.settings.lease_s / 3)
        while not stop.wait(interval):
            try:
                ctx.heartbeat()
            except LeaseLost:
                return
            except Exception:
                log.exception("heartbeat of job %s failed", ctx.job_id)

    def _reschedule(
        self, ctx: JobContext, delay_s: float, reason: str, *, count_failure: bool = True
    ) -> None:
        now = utcnow()
        give_up = count_failure and ctx.attempt >= ctx.max_attempts
        values: dict[str, Any] = {
            "locked_by": None, "locked_until": None, "last_error": reason, "updated_at": now,
        }
        if give_up:
            values.update(status=JobStatus.FAILED.value, finished_at=now)
        else:
            values.update(status=JobStatus.QUEUED.value, run_at=now + timedelta(seconds=delay_s))
            if not count_failure:
                # A requested retry is not a crash: keep the attempt budget for real failures.
                values["attempts"] = Job.attempts - 1
        with self.db.write() as session:
            result = session.execute(
                update(Job).where(ctx._fence(), Job.status == JobStatus.RUNNING.value)
                .values(**values)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.warning("job %s: lease lost, outcome of this run discarded", ctx.job_id)

    def schedule_periodic(self) -> None:
        """Enqueue one run of every periodic task per period, across all runners."""
        now = utcnow()
        for spec in self.tasks.tasks.values():
            if not spec.every_s:
                continue
            slot = int(now.timestamp() // spec.every_s)
            try:
                with self.db.write() as session:
                    exists = session.scalar(
                        select(Job.id).where(Job.dedupe_key == f"periodic:{spec.name}:{slot}")
                    )
                    if exists is None:
                        enqueue(session, spec.name, {}, dedupe_key=f"periodic:{spec.name}:{slot}",
                                max_attempts=spec.max_attempts or 1)
            except IntegrityError:
                pass  # another runner enqueued this slot first

    def alive_threads(self) -> int:
        """How many of the started worker threads are still running."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def wake(self) -> None:
        """Ask idle threads to poll now (after this process enqueued a job)."""
        self._wake.set()

    def _loop(self, index: int) -> None:
        last_periodic = 0.0
        while not self._stop.is_set():
            try:
                if index == 0 and time.monotonic() - last_periodic >= 1.0:
                    self.schedule_periodic()
                    last_periodic = time.monotonic()
                if self.run_one():
                    continue
            except Exception:
                log.exception("job loop error")
            self._wake.wait(self.settings.poll_interval_s)
            self._wake.clear()

    def start(self, threads: int | None = None) -> None:
        """Start the worker threads in the background."""
        for index in range(threads or self.settings.concurrency):
            thread = threading.Thread(
                target=self._loop, args=(index,), name=f"rk-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the jobs under way finish."""
        self._stop.set()
        self._wake.set()
        for companion in self.companions:
            companion.stop(timeout_s)
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def run_until_idle(self, max_jobs: int = 10_000) -> int:
        """Run due jobs in this thread until none is due (used by tests and the CLI)."""
        count = 0
        while count < max_jobs and self.run_one():
            count += 1
        return count


@registry.register("jobs.prune", every_s=3600)
def prune_finished_jobs(ctx: JobContext) -> None:
    """Delete finished jobs older than a week so the queue table stays small."""
    cutoff = utcnow() - timedelta(days=7)
    with ctx.db.write() as session:
        session.execute(
            delete(Job).where(Job.status.in_((JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)),
                              Job.finished_at < cutoff)
        )
        ctx.complete(session)
