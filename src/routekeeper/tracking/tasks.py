"""The periodic tracking job: what changes with the clock alone, and the slow actuals.

Every 30 s, for each tracking route that is due (``CHECK_GROUP`` routes to a short
transaction, under their row locks): ``pipeline.check_offline`` (offline risk, ETAs that can
only be late now, ``delayed``), the plan synced with the orders (closing finished ones and
filling their completion fields if the completion hook did not), and the route's polyline
extended in its slot of every five minutes. Routes an upload has just evaluated are passed
over unless their polyline is due, when the round begins and again at their turn. Routes
completed in the last hour get their final actuals once.

Routes whose fixes wait in the inbox are passed over as well: the tracking processor is about
to evaluate them, and checking them here first would only take their row locks from it (at
the start of a day, every route of the fleet at once). Only a fix that has waited longer than
``WAITING_HOLDS_FOR`` (the processor is stopped, or that route's batches fail) no longer
holds its route back. Routes that have not started (no fix yet) have nothing for the clock.
The job keeps the processor's decoded states (``processor.RESIDENT``) current: it reads them
instead of the row's JSON when they are the row's, and keeps the one it stored.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from routekeeper.core.jobs import JobContext, registry
from routekeeper.models.route import Route
from routekeeper.settings import Settings, TrackingSettings
from routekeeper.tracking import clock, partitions, repository
from routekeeper.tracking.apply import Env, write_back
from routekeeper.tracking.completion import close_finished, finalize_route, refresh_route_polyline
from routekeeper.tracking.engine.fixes import load_time
from routekeeper.tracking.engine.pipeline import check_offline
from routekeeper.tracking.processor import RESIDENT
from routekeeper.tracking.repository import RouteKey
from routekeeper.tracking.routeorders import RouteOrders, TrackingWrites
from routekeeper.tracking.routestate import (
    StoredState,
    handle_share,
    load,
    route_key,
    store,
    version,
)

log = logging.getLogger(__name__)

TASK = "tracking.check_offline"
EVERY_S = 30.0
# How long after completion a route is still looked at for its final actuals.
FINALIZE_WITHIN = timedelta(hours=1)
# A route an upload evaluated this recently has nothing new for the clock-driven checks...
RECENTLY_EVALUATED = timedelta(seconds=EVERY_S * 0.8)
# ...but its polyline is extended at least this often.
POLYLINE_EVERY = timedelta(minutes=5)
# A fix waiting for the processor holds its route back from the job this long. A processor
# that is only behind evaluates the route soon enough; checking it here as well doubles the
# work on every route of a backlog just when the processor needs the time (with a 24-second
# hold, a 2,000-phone benchmark's backlog turned the job's rounds into a second pass over
# every route: lag p99 58 s, docs/benchmarks/ingest.md).
WAITING_HOLDS_FOR = timedelta(minutes=5)


# Routes checked in one transaction: one statement each for their locks, states and orders,
# and one commit, instead of one of each per route.
CHECK_GROUP = 50

# A checked route's key, its row's new tag and the state stored (kept decoded once the
# transaction committed).
# A route the job stored a state of: its key, its row's (tag, tail length), the state.
Checked = tuple[RouteKey, tuple[int, int], StoredState]


def check_route(session: Session, settings: Settings, account_id: str, route_handle: str,
                *, now: datetime, in_slot: bool = False) -> tuple[int, StoredState] | None:
    """One route's periodic step, in the caller's transaction (``check_routes``); the state it
    stored, with the row's new tag, or None when it stored none."""
    checked = check_routes(session, settings, [(account_id, route_handle)], now=now,
                           in_slot=in_slot)
    return (checked[0][1][0], checked[0][2]) if checked else None


def check_routes(session: Session, settings: Settings, keys: Sequence[RouteKey], *,
                 now: datetime, in_slot: bool) -> list[Checked]:
    """The periodic step of these routes, in the caller's transaction: tracking routes are
    checked (``_check_tracking``), completed ones get their final actuals once.

    ``in_slot`` (the job's rounds): a route is passed over if it is no longer due when its
    turn comes, and its polyline is extended only in its slot (``polyline_slot``). Without it
    (a direct check), every tracking route is checked and its polyline extended.
    """
    routes = repository.lock_routes(session, keys)
    tracking = [route for route in routes
                if route.status == "tracking" and route.started_at is not None]
    repository.load_track_states(
        session, [route for route in tracking if not RESIDENT.has(route)])
    due = {route_key(route): check for route in tracking
           if (check := _check_due(route, now, in_slot, settings.tracking)) is not None}
    order_rows = repository.order_rows_of_routes(
        session, [route for route in routes if route_key(route) in due
                  or route.status == "completed"])
    writes = TrackingWrites()
    checked: list[Checked] = []
    # The group's changes are written together when it commits (see processor).
    with session.no_autoflush:
        for route in routes:
            key = route_key(route)
            orders = RouteOrders(session, route, order_rows.get(key, []), writes)
            stored: StoredState | None
            if key in due:
                refresh, kept = due[key]
                stored = _check_tracking(session, settings, route, orders, kept, now=now,
                                         refresh=refresh)
            elif route.status == "completed" and route.started_at is not None:
                stored = _finalize(session, settings, route, orders, now=now)
            else:
                continue
            stored_version = version(route)
            if stored is not None and stored_version is not None:
                checked.append((key, stored_version, stored))
        writes.write(session)
    return checked


def _check_due(route: Route, now: datetime, in_slot: bool, settings: TrackingSettings
               ) -> tuple[bool, StoredState | None] | None:
    """Whether a tracking route is checked now, and its polyline extended (True) or not
    (False), with the state it stored (None when it has none yet); None to pass it over.

    A round lists its due routes when it begins, and a round can take many seconds: by a
    route's turn, the processor may have evaluated it meanwhile. At the start of a day every
    route is due at once, and checking each one anyway (with a polyline refresh, a read of
    minutes of positions) took 17-34 s of the worker in a 40-second benchmark, beside the
    processor it competes with (docs/benchmarks/ingest.md).
    """
    # A state kept decoded is the row's; else the row's was read (load_track_states).
    if not RESIDENT.has(route) and not route.track_state:
        return True, None
    stored = load(route, (), now=now, settings=settings, resident=RESIDENT)
    if not in_slot:
        return True, stored
    refreshed_at = stored.polyline_at or route.started_at or now
    if now >= polyline_due_at(refreshed_at, polyline_slot(route.route_handle)):
        return True, stored
    return None if _recent(stored.pipeline.evaluated_at, now) else (False, stored)


def _check_tracking(session: Session, settings: Settings, route: Route, orders: RouteOrders,
                    stored: StoredState | None, *, now: datetime, refresh: bool) -> StoredState:
    """The clock-driven step of a tracking route (its ``stored`` state, started from its
    orders when None): offline risks, delays, finished orders closed, and (``refresh``) the
    polyline extended."""
    if stored is None:
        stored = load(route, orders.rows, now=now, settings=settings.tracking)
    close_finished(session, route, stored, orders, settings.tracking)
    state, events = check_offline(stored.pipeline, now, settings.tracking)
    stored.pipeline = state
    if refresh:
        refresh_route_polyline(session, route, stored, now=now)
    write_back(Env(session=session, settings=settings), route, orders, stored, events, now=now)
    return stored


def _finalize(session: Session, settings: Settings, route: Route, orders: RouteOrders, *,
              now: datetime) -> StoredState | None:
    """The final actuals of a completed route, once (None when it has them)."""
    if not route.track_state:
        return None
    stored = load(route, orders.rows, now=now, settings=settings.tracking)
    if stored.finalized:
        return None
    close_finished(session, route, stored, orders, settings.tracking)
    finalize_route(session, route, stored)
    store(route, stored)
    return stored


def _recent(evaluated_at: datetime | None, now: datetime) -> bool:
    """Whether a route evaluated then has nothing new for the clock-driven checks now."""
    return evaluated_at is not None and now - evaluated_at < RECENTLY_EVALUATED


def polyline_slot(route_handle: str) -> timedelta:
    """Where in each POLYLINE_EVERY a route's polyline is extended: a share of the period
    fixed by its handle."""
    return POLYLINE_EVERY * handle_share(route_handle)


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
    fix is waiting for the processor to evaluate it (one that waited long does not count).
    A route that has not started is not checked (``check_routes`` would pass it over)."""
    refreshed_at = load_time(refreshed) or started_at
    if refreshed_at is None:
        return False
    if now >= polyline_due_at(refreshed_at, slot):
        return True
    if waiting_since is not None and now - waiting_since < WAITING_HOLDS_FOR:
        return False
    return not _recent(load_time(evaluated), now)


def run_checks(ctx: JobContext) -> int:
    """Check every tracking route that is due and recently completed ones; the number checked."""
    settings: Settings = ctx.env["settings"]
    now = clock.now()
    with ctx.db.read() as session:
        keys = [(a, h) for a, h, started, evaluated, refreshed, waiting
                in repository.tracking_route_marks(session)
                if _due(started, evaluated, refreshed, now, waiting, polyline_slot(h))]
        keys += repository.completed_route_keys(session, since=now - FINALIZE_WITHIN)
    for start in range(0, len(keys), CHECK_GROUP):
        _check_group(ctx, settings, keys[start:start + CHECK_GROUP])
    return len(keys)


def _check_group(ctx: JobContext, settings: Settings, keys: Sequence[RouteKey]) -> None:
    """Check a group of routes in one transaction; a group that fails is checked again route
    by route, so that one broken route does not stop the others from being checked."""
    try:
        checked = _checked_in_one(ctx, settings, keys)
    except Exception:
        if len(keys) == 1:
            log.exception("tracking check of route %s/%s failed", *keys[0])
            return
        for key in keys:
            _check_group(ctx, settings, [key])
        return
    for key, stored_version, stored in checked:
        RESIDENT.put(key, stored_version, stored)


def _checked_in_one(ctx: JobContext, settings: Settings, keys: Sequence[RouteKey]
                    ) -> list[Checked]:
    # Each group at its own time: the round's may be seconds old by now, older than what the
    # processor evaluated the routes at meanwhile.
    with ctx.db.write() as session:
        return check_routes(session, settings, keys, now=clock.now(), in_slot=True)


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
