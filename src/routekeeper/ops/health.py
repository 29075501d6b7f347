"""Readiness checks: each part of what serving needs, named, with what was found.

Liveness is only "the process answers" (a restart would not fix a database that is down, so
the database belongs to readiness, where a load balancer stops sending traffic instead).
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from routekeeper.core.clock import utcnow
from routekeeper.core.jobs import JobRunner
from routekeeper.db.engine import Database
from routekeeper.db.migrate import alembic_config
from routekeeper.models.job import Job, JobStatus
from routekeeper.models.position_inbox import backlog
from routekeeper.settings import Settings

# Without an in-process runner, the queue is the evidence of a worker: a job due this long and
# still waiting means no worker is taking jobs.
STALLED_QUEUE_S = 300.0
# Each probe of a dependency gives up after this long, so the whole answer stays fast.
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    """The state of one part: ``ok`` or not, and what was seen."""

    name: str
    ok: bool
    detail: str
    # A state other than ok/failing that does not make the service unready ("behind").
    state: str | None = None


@cache
def migration_heads() -> frozenset[str]:
    """The head revisions of the migrations shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads())


def check_database(db: Database) -> Check:
    """Reachable, and migrated to the code's head revision."""
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception as exc:
        return Check("database", False, f"unreachable or not migrated: {type(exc).__name__}")
    current = frozenset(str(row[0]) for row in rows)
    if current != migration_heads():
        return Check("database", False, f"at revision {', '.join(sorted(current)) or 'none'}, "
                     f"the code expects {', '.join(sorted(migration_heads()))}")
    return Check("database", True, f"reachable, at revision {', '.join(sorted(current))}")


def check_jobs(db: Database, runner: JobRunner | None) -> Check:
    """The in-process runner's threads are alive, or (workers elsewhere) the queue moves."""
    if runner is not None:
        alive = runner.alive_threads()
        return Check("jobs", alive > 0, f"in-process runner, {alive} thread(s) alive")
    try:
        with db.read() as session:
            oldest = session.scalar(select(func.min(Job.run_at)).where(
                Job.status == JobStatus.QUEUED.value, Job.run_at <= utcnow()))
    except Exception as exc:
        return Check("jobs", False, f"queue unreadable: {type(exc).__name__}")
    if oldest is None:
        return Check("jobs", True, "no job waiting")
    waited = (utcnow() - oldest).total_seconds()
    if waited > STALLED_QUEUE_S:
        return Check("jobs", False, f"a due job has waited {waited:.0f} s: no worker is running")
    return Check("jobs", True, f"oldest due job waited {waited:.0f} s")


def check_tracking(db: Database, settings: Settings) -> Check:
    """How far the tracking processor is behind the uploads: the fixes stored and waiting in
    the inbox, and how long the oldest has waited. Being behind does not make the service
    unready (uploads are still taken and stored; refusing them would lose positions), so it
    is shown as ``behind``, not as failing."""
    try:
        with db.read() as session:
            count, oldest = backlog(session)
    except Exception as exc:
        return Check("tracking", False, f"inbox unreadable: {type(exc).__name__}")
    lag_s = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
    threshold = settings.tracking.lag_threshold_s
    detail = f"{count} fix(es) waiting, the oldest for {lag_s:.1f} s"
    if lag_s > threshold:
        return Check("tracking", True, f"{detail} (over {threshold:g} s)", state="behind")
    return Check("tracking", True, detail)


def check_http(name: str, url: str) -> Check:
    """Any HTTP answer below 500 from ``url`` means the service is there."""
    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False,
                             trust_env=False)
    except httpx.HTTPError as exc:
        return Check(name, False, f"unreachable: {type(exc).__name__}")
    return Check(name, response.status_code < 500, f"answered HTTP {response.status_code}")


def check_smtp(settings: Settings) -> Check:
    """The mail server accepts a connection and answers NOOP."""
    mail = settings.mail
    try:
        with smtplib.SMTP(mail.host or "", mail.port, timeout=PROBE_TIMEOUT_S) as server:
            code, _ = server.noop()
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp", False, f"unreachable: {type(exc).__name__}")
    return Check("smtp", code == 250, f"answered {code}")


def readiness(settings: Settings, db: Database, runner: JobRunner | None,
              osrm_url: str | None = None) -> list[Check]:
    """Every check that applies to this configuration (``osrm_url``: the OSRM server travel
    uses, configured or supervised)."""
    checks = [check_database(db), check_jobs(db, runner), check_tracking(db, settings)]
    osrm_url = osrm_url or settings.routing.osrm_url
    if osrm_url:
        # OSRM answers any well-formed query quickly, even a point far from its roads.
        checks.append(check_http("osrm", f"{osrm_url.rstrip('/')}/nearest/v1/"
                                         f"{settings.routing.osrm_profile}/0,0"))
    if settings.geocoding.url:
        checks.append(check_http("geocoder", f"{settings.geocoding.url.rstrip('/')}/status"))
    if settings.mail.host:
        checks.append(check_smtp(settings))
    return checks


def ready_document(checks: list[Check], started_s: float) -> dict[str, Any]:
    """The readiness answer: overall status and each part by name."""
    return {
        "status": "ok" if all(c.ok for c in checks) else "unavailable",
        "checks": {c.name: {"status": c.state or ("ok" if c.ok else "failing"),
                            "detail": c.detail}
                   for c in checks},
        "duration_ms": round((time.perf_counter() - started_s) * 1000, 1),
    }
