"""The periodic tracking job: what changes with the clock alone, and the slow actuals.

Every 30 s, for each tracking route (each in its own short transaction under the route's row
lock): ``pipeline.check_offline`` (offline risk, ETAs that can only be late now, ``delayed``),
the plan synced with the orders (closing finished ones and filling their completion fields if
the completion hook did not), and the route's polyline extended every few minutes. Routes
an upload has just evaluated are passed over unless their polyline is due. Routes completed in
the last hour get their final actuals once.

Routes whose fixes wait in the inbox are passed over as well: the tracking processor is about
to evaluate them, and checking them here first would only take their row locks from it (at
the start of a day, every route of the fleet at once). A fix that has waited longer than
``RECENTLY_EVALUATED`` (the processor is behind or stopped) no longer holds its route back.
The job keeps the processor's decoded states (``processor.RESIDENT``) current: it reads them
instead of the row's JSON when they are the row's, and keeps the one it stored.
"""

from __future__ import annotations

import logging
import math
import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from routekeeper.core.jobs import JobContext, registry
from routekeeper.settings import Settings
from routekeeper.tracking import clock, partitions, repository
from routekeeper.tracking.apply import Env, write_back
from routekeeper.tracking.completion import close_finished, finalize_route, refresh_route_polyline
from routekeeper.tracking.engine.fixes import load_time
from routekeeper.tracking.engine.pipeline import check_offline
from routekeeper.tracking.processor import RESIDENT
from routekeeper.tracking.routeorders import RouteOrders
from routekeeper.tracking.routestate import StoredState, load, store

log = logging.getLogger(__name__)

TASK = "tracking.check_offline"
EVERY_S = 30.0
# How long after completion a route is still looked at for its final actuals.
FINALIZE_WITHIN = timedelta(hours=1)
# A route an upload evaluated this recently has nothing new for the clock-driven checks...
RECENTLY_EVALUATED = timedelta(seconds=EVERY_S * 0.8)
# ...but its polyline is extended at least this often.
POLYLINE_EVERY = timedelta(minutes=5)


def check_route(session: Session, settings: Settings, account_id: str, route_handle: str,
                *, now: datetime) -> tuple[int, StoredState] | None:
    """One route's periodic step, in the caller's transaction; the state it stored, with the
    row's new tag (to be kept decoded once the transaction committed)."""
    route = repository.lock_route(session, account_id, route_handle)
    if route is None or route.started_at is None:
        return None
    orders = RouteOrders(session, route)
    if route.status == "tracking":
        stored = load(route, orders.rows, now=now, resident=RESIDENT)
        close_finished(session, route, stored, orders, settings.tracking)
        state, events = check_offline(stored.pipeline, now, settings.tracking)
        stored.pipeline = state
        refresh_route_polyline(session, route, stored, now=now)
        env = Env(session=session, settings=settings)
        write_back(env, route, orders, stored, events, now=now)
    elif route.status == "completed" and route.track_state:
        stored = load(route, orders.rows, now=now)
        if stored.finalized:
            return None
        close_finished(session, route, stored, orders, settings.tracking)
        finalize_route(session, route, stored)
        store(route, stored)
    else:
        return None
    return None if route.track_state_tag is None else (route.track_state_tag, stored)


def polyline_slot(route_handle: str) -> timedelta:
    """Where in each POLYLINE_EVERY a route's polyline is extended: a share of the period
    fixed by its handle."""
    return POLYLINE_EVERY * (zlib.crc32(route_handle.encode()) / 2**32)


def polyline_due_at(refreshed_at: datetime, slot: timedelta) -> datetime:
    """When a polyline extended at ``refreshed_at`` is due again: at its route's first slot
    (cycles of POLYLINE_EVERY counted from the Unix epoch) at least half a POLYLINE_EVERY
    later. Refreshed in its slot, a route is due again one POLYLINE_EVERY later.

    A day's routes start together, and the job's first round after the start checks all of
    them. Due POLYLINE_EVERY after their last refresh, they stayed together: 1,000 routes were
    refreshed in one 82-second round every five minutes while the processor waited behind it
    (docs/benchmarks/ingest.md). In slots, each round refreshes a share of them; the half
    period keeps a route that was just checked for another reason from coming due at once.
    """
    period = POLYLINE_EVERY.total_seconds()
    earliest = refreshed_at.timestamp() + period / 2
    offset = slot.total_seconds()
    cycles = math.ceil((earliest - offset) / period)
    return datetime.fromtimestamp(cycles * period + offset, UTC)


def _due(started_at: datetime | None, evaluated: str | None, refreshed: str | None,
         now: datetime, waiting_since: datetime | None = None,
         slot: timedelta = timedelta(0)) -> bool:
    """Whether a tracking route needs this round: its polyline's slot came since it was last
    extended (a new route's counts from its start), or it was not evaluated just now and no
    fix is waiting for the processor to evaluate it (one that waited long does not count)."""
    refreshed_at = load_time(refreshed) or started_at
    if refreshed_at is None or now >= polyline_due_at(refreshed_at, slot):
        return True
    if waiting_since is not None and now - waiting_since < RECENTLY_EVALUATED:
        return False
    evaluated_at = load_time(evaluated)
    return evaluated_at is None or now - evaluated_at >= RECENTLY_EVALUATED


def run_checks(ctx: JobContext) -> int:
    """Check every tracking route that is due and recently completed ones; the number checked."""
    settings: Settings = ctx.env["settings"]
    now = clock.now()
    with ctx.db.read() as session:
        keys = [(a, h) for a, h, started, evaluated, refreshed, waiting
                in repository.tracking_route_marks(session)
                if _due(started, evaluated, refreshed, now, waiting, polyline_slot(h))]
        keys += repository.completed_route_keys(session, since=now - FINALIZE_WITHIN)
    for account_id, route_handle in keys:
        try:
            with ctx.db.write() as session:
                stored = check_route(session, settings, account_id, route_handle, now=now)
        except Exception:
            # One broken route must not stop the others from being checked.
            log.exception("tracking check of route %s/%s failed", account_id, route_handle)
            continue
        if stored is not None:
            RESIDENT.put((account_id, route_handle), *stored)
    return len(keys)


@registry.register(TASK, every_s=EVERY_S)
def check_offline_task(ctx: JobContext) -> None:
    """Periodic: offline risks, clock-driven delays, completion fields, route polylines."""
    run_checks(ctx)


RETENTION_TASK = "tracking.retention"


@registry.register(RETENTION_TASK, every_s=3600.0)
def retention_task(ctx: JobContext) -> None:
    """Periodic: position partitions created ahead (PostgreSQL) and positions older than
    ``tracking.retention_days`` gone (whole partitions on PostgreSQL, small batches on
    SQLite). Route and order actuals are kept on their rows."""
    settings: Settings = ctx.env["settings"]
    partitions.apply_retention(ctx.db, now=clock.now(),
                               retention_days=settings.tracking.retention_days)
