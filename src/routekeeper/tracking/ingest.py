"""Ingestion: every protocol's fixes go through here, from screening to the stored route state.

One upload is one flow with its own transaction (so it can be retried whole when PostgreSQL
picks it as a deadlock victim):

1. screen the fixes without touching the database (``validate_fix``, the implied speed judged
   against the device's newest position), each refusal with its index and reason;
2. store the accepted ones, skipping instants already stored (idempotent uploads);
3. move the device's newest position forward;
4. for each tracking route the device feeds, under the route's row lock: load the state, sync
   its plan with the orders, run ``process_fixes`` on the newly stored fixes, write the outcome
   to the rows (``apply.write_back``).

Only newly stored fixes reach the pipeline, so a re-sent upload changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.db.engine import Database
from routekeeper.models.device import Device
from routekeeper.models.route import Route
from routekeeper.settings import Settings
from routekeeper.tracking import clock, repository
from routekeeper.tracking.apply import Env, write_back
from routekeeper.tracking.completion import close_finished, point
from routekeeper.tracking.engine.fixes import Fix, implausible_move, validate_fix
from routekeeper.tracking.engine.pipeline import process_fixes
from routekeeper.tracking.routeorders import RouteOrders
from routekeeper.tracking.routestate import load
from routekeeper.tracking.schemas import IngestResult, Rejection
from routekeeper.tracking.switch import switch_device
from routekeeper.travel.base import TravelModel

log = logging.getLogger(__name__)

# PostgreSQL's "deadlock detected" and "could not serialize": the transaction is safe to rerun.
_RETRYABLE = {"40P01", "40001"}
_ATTEMPTS = 3
# ETAs are re-evaluated at most this often per route (besides arrivals and exits): a device
# sending one fix every second would otherwise cost a travel-matrix call (an OSRM request,
# where OSRM is used) per fix, while ETAs do not move meaningfully within seconds.
ETA_EVERY_S = 10.0


@dataclass(frozen=True)
class DeviceRef:
    """The device an upload is for, as authentication found it."""

    account_id: str
    device_id: str
    worker_handle: str
    last_fix: Fix | None

    @classmethod
    def of(cls, device: Device) -> DeviceRef:
        """Capture what ingestion needs of a device row."""
        last = None
        if device.last_recorded_at is not None and device.last_lon is not None \
                and device.last_lat is not None:
            last = Fix(recorded_at=device.last_recorded_at, lon=device.last_lon,
                       lat=device.last_lat, accuracy_m=device.last_accuracy)
        return cls(device.account_id, device.device_id, device.worker_handle, last)


@dataclass(frozen=True)
class Screened:
    """An upload after screening: the fixes to store (one per instant) and the refusals."""

    accepted: list[Fix]
    unique: list[Fix]
    rejections: list[Rejection]


def _accuracy_rank(fix: Fix) -> float:
    return float("inf") if fix.accuracy_m is None else fix.accuracy_m


def screen(device: DeviceRef, fixes: Sequence[Fix], *, now: datetime,
           settings: Settings) -> Screened:
    """Refuse implausible fixes with a reason; keep one fix per instant (the most accurate).

    Static checks apply to every fix. The implied speed is judged in time order from the
    device's newest stored position, for fixes newer than it (an older one cannot be judged
    without its neighbours; the pipeline treats it as late).
    """
    tracking = settings.tracking
    rejections: list[Rejection] = []
    plausible: list[tuple[int, Fix]] = []
    for index, fix in enumerate(fixes):
        reason = validate_fix(fix, now=now, previous=None,
                              max_future_skew_s=tracking.max_future_skew_s,
                              max_speed_mps=tracking.max_speed_mps)
        if reason is None:
            plausible.append((index, fix))
        else:
            rejections.append(Rejection(index=index, reason=reason))
    plausible.sort(key=lambda item: (item[1].recorded_at, _accuracy_rank(item[1])))
    previous = device.last_fix
    accepted: list[Fix] = []
    unique: list[Fix] = []
    for index, fix in plausible:
        if previous is not None and fix.recorded_at > previous.recorded_at:
            reason = implausible_move(fix, previous, tracking.max_speed_mps)
            if reason is not None:
                rejections.append(Rejection(index=index, reason=reason))
                continue
        accepted.append(fix)
        if not unique or unique[-1].recorded_at != fix.recorded_at:
            unique.append(fix)
        if previous is None or fix.recorded_at > previous.recorded_at:
            previous = fix
    rejections.sort(key=lambda r: r.index)
    return Screened(accepted, unique, rejections)


def _feed_route(env: Env, route: Route, device: DeviceRef, fixes: list[Fix], *,
                now: datetime, travel: TravelModel) -> None:
    """Run newly stored fixes through one route's pipeline and write back the outcome."""
    session = env.session
    orders = RouteOrders(session, route)
    stored = load(route, orders.rows, now=now)
    if device.device_id not in stored.devices:
        stored.devices.append(device.device_id)
    switch_device(route, orders, device.device_id, worker_handle=device.worker_handle,
                  at=fixes[0].recorded_at if fixes else now, public_url=env.settings.public_url)
    close_finished(session, route, stored, orders, env.settings.tracking)
    # screen() already applied the static checks to these fixes.
    state, events = process_fixes(stored.pipeline, fixes, now=now, travel=travel,
                                  settings=env.settings.tracking, prescreened=True,
                                  eta_every_s=ETA_EVERY_S)
    stored.pipeline = state
    if route.start_location is None and state.actuals.first_at is not None:
        first = fixes[0]
        route.start_location = point(first.lon, first.lat)
    write_back(env, route, orders, stored, events, now=now)


def _store_and_process(
    session: Session, settings: Settings, travel: TravelModel, device: DeviceRef,
    screened: Screened, now: datetime,
) -> tuple[int, list[str]]:
    """One attempt of the write transaction; (fixes newly stored, routes fed)."""
    inserted = repository.store_positions(session, device.account_id, device.device_id,
                                          screened.unique, now)
    fresh = [fix for fix in screened.unique if fix.recorded_at in inserted]
    if not fresh:
        return 0, []
    env = Env(session=session, settings=settings)
    handles: list[str] = []
    for route in repository.tracking_routes(session, device.account_id, device.device_id,
                                            device.worker_handle):
        _feed_route(env, route, device, fresh, now=now, travel=travel)
        handles.append(route.route_handle)
    return len(fresh), handles


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


# SQLite has one writer at a time. Threads that wait in SQLite's busy handler poll with
# growing sleeps (up to 100 ms) and can lose the lock again and again, which makes for
# second-long tails under load; waiting in line here is fair and wakes at once.
_SQLITE_WRITER = threading.Lock()


def _sqlite_turn(db: Database) -> AbstractContextManager[object]:
    """Queue this process's uploads for the SQLite write lock; nothing on PostgreSQL."""
    return _SQLITE_WRITER if db.dialect == "sqlite" else nullcontext()


Resolver = Callable[[Session], DeviceRef]
"""Finds the device of an upload inside its transaction; raises an ApiError (401, 404) when
the credentials name none, which rolls everything back."""


def _count(screened: Screened, fixes: Sequence[Fix]) -> None:
    # Lag: from the newest fix being measured to its upload being stored and processed.
    metrics.POSITIONS.labels("accepted").inc(len(screened.accepted))
    metrics.POSITIONS.labels("rejected").inc(len(screened.rejections))
    if screened.accepted:
        newest = max(fix.recorded_at for fix in screened.accepted)
        metrics.TRACKING_LAG.observe(max(0.0, (clock.now() - newest).total_seconds()))


def ingest(db: Database, settings: Settings, travel: TravelModel, device: Resolver | DeviceRef,
           fixes: Sequence[Fix]) -> IngestResult:
    """Screen, store and process an upload of one device; the answer counts what became of it.

    With a resolver the device is looked up in the upload's own transaction: one round of
    database work per upload, and a refused key has written nothing.
    """
    now = clock.now()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with _sqlite_turn(db), db.write() as session:
                found = device(session) if callable(device) else device
                screened = screen(found, fixes, now=now, settings=settings)
                stored, handles = 0, list[str]()
                if screened.unique:
                    stored, handles = _store_and_process(session, settings, travel, found,
                                                         screened, now)
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            log.info("an upload was retried after %s", exc.orig)
    _count(screened, fixes)
    return IngestResult(
        accepted=len(screened.accepted),
        duplicates=len(screened.accepted) - stored,
        rejected=len(screened.rejections),
        rejections=screened.rejections,
        route_handles=handles,
    )
