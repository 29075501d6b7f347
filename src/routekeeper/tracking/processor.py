"""The tracking processor: stored fixes through their routes' pipeline, right after the upload.

An upload only screens and stores (``ingest.py``): its new positions go to ``position``
and, in the same transaction, to the inbox (``position_inbox``). The processor takes them
from the inbox in micro-batches, per device, and runs each batch through the pipeline of
every tracking route the device feeds (route lock, state, visits, ETAs, risks, write-back).
The batches of up to ``tracking.process_group`` devices share one transaction, with one
statement each for the claims, the inbox rows, the devices, the routes (locked) and their
orders: per device, only its routes' own work is left, and what it changes is flushed once,
when the group commits.

* **Exactly once.** The inbox rows of a batch are deleted in the transaction that writes the
  batch's outcome: a processor killed mid-batch leaves them to be taken again, and a batch
  that committed can never be taken twice. Only newly stored fixes enter the inbox, so
  re-sent uploads change nothing either.
* **One processor per device, one per route.** A device's batch is claimed with a
  transaction-scoped advisory lock on PostgreSQL (a device another processor holds is left
  out of the group) (SQLite has one writer at a time); routes are
  locked in handle order as before, so two devices that feed one route take turns.
* **Catch-up.** A batch is everything a device has waiting (up to ``tracking.process_batch``):
  when processing falls behind, batches grow and the per-batch work (state, ETAs, write-back)
  is spread over more fixes, so processing gets cheaper per fix instead of falling further
  behind.
* **Where it runs.** ``Processor`` threads in every worker process (and in ``routekeeper
  serve``, which runs the worker in process); uploads in the same process wake them at once,
  others find the work by polling every ``tracking.process_poll_s``.
* **States kept decoded.** The route states a process stored are kept decoded in memory
  (``routestate.ResidentStates``, validated by the row's tag) and the row's JSON is read only
  for the others. So that a route keeps coming back to the same process, a processor takes
  first the devices whose uploads reached its own process (a phone's connection stays with
  one server process); another process's devices it takes once their oldest fix has waited
  ``tracking.adopt_after_s`` (that process may have no processor, or be gone), or at once
  when its own process receives no uploads (a worker-only process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from routekeeper.settings import Settings
from routekeeper.tracking import clock, repository
from routekeeper.tracking.apply import Env, write_back
from routekeeper.tracking.completion import close_finished, point
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.pipeline import process_fixes
from routekeeper.tracking.repository import DeviceKey, RouteKey
from routekeeper.tracking.routeorders import (
    KeptOrders,
    ResidentOrders,
    RouteOrders,
    TrackingWrites,
)
from routekeeper.tracking.routestate import (
    ResidentStates,
    StoredState,
    handle_share,
    load,
    route_key,
    version,
)
from routekeeper.tracking.switch import switch_device
from routekeeper.travel.base import TravelModel

log = logging.getLogger(__name__)

# PostgreSQL's "deadlock detected" and "could not serialize": the transaction is safe to rerun.
_RETRYABLE = {"40P01", "40001"}
_ATTEMPTS = 3
# ETAs are re-evaluated once in each slot of this length per route (besides arrivals and
# exits): a device sending one fix every second would otherwise cost a travel-matrix call (an
# OSRM request, where OSRM is used) per fix, while ETAs do not move meaningfully within
# seconds. Each route's slots begin at its own share of the period (``eta_phase_s``): a day's
# routes start together, and re-evaluated ten seconds after their last evaluation they
# stayed together, 2,000 routes of a benchmark evaluating in a wave of two seconds every ten,
# in which the processor got through half as many batches a second (docs/benchmarks/ingest.md).
ETA_EVERY_S = 10.0


def eta_phase_s(route: Route) -> float:
    """Where in each ETA_EVERY_S the route's ETA slots begin (``pipeline.eta_slot``)."""
    return ETA_EVERY_S * handle_share(route.route_handle)


# SQLite has one writer at a time. Threads that wait in SQLite's busy handler poll with
# growing sleeps (up to 100 ms) and can lose the lock again and again, which makes for
# second-long tails under load; waiting in line here is fair and wakes at once.
_SQLITE_WRITER = threading.Lock()


def sqlite_turn(db: Database) -> AbstractContextManager[object]:
    """Queue this process's ingest writes for the SQLite write lock; nothing on PostgreSQL."""
    return _SQLITE_WRITER if db.dialect == "sqlite" else nullcontext()


# Uploads of this process wake its processor threads at once.
_WAKE = threading.Event()
# The states this process's processors stored, decoded, and the routes' order rows as they
# left them (both sized by tracking.resident_states).
RESIDENT = ResidentStates(capacity=0)
RESIDENT_ORDERS = ResidentOrders(capacity=0)
# Devices whose uploads this process stored, with when it last did (time.monotonic()).
_LOCAL: dict[DeviceKey, float] = {}
_LOCAL_LOCK = threading.Lock()
# A device is this process's while its uploads came here within this many seconds.
LOCAL_FOR_S = 10.0


# Whether processor threads run in this process: an API process without them (serve
# --no-worker) has no use for knowing its devices.
_PROCESSING = threading.Event()


def wake(devices: Sequence[DeviceKey] = ()) -> None:
    """Tell this process's processor threads that fixes of these devices were stored."""
    if devices and _PROCESSING.is_set():
        at = time.monotonic()
        with _LOCAL_LOCK:
            for device in devices:
                _LOCAL[device] = at
    _WAKE.set()


def _local_devices() -> set[DeviceKey]:
    """The devices whose uploads came to this process lately (the older ones are forgotten)."""
    since = time.monotonic() - LOCAL_FOR_S
    with _LOCAL_LOCK:
        for device in [device for device, at in _LOCAL.items() if at < since]:
            del _LOCAL[device]
        return set(_LOCAL)


def _ours_first(pending: Sequence[tuple[DeviceKey, datetime]], adopt_after_s: float,
                now: datetime) -> list[DeviceKey]:
    """The pending devices this processor takes now: its own process's first, then those of
    other processes that waited ``adopt_after_s`` (all of them when none is its own)."""
    local = _local_devices()
    if not local:
        return [device for device, _ in pending]
    ours = [device for device, _ in pending if device in local]
    adopted = [device for device, oldest in pending if device not in local
               and (now - oldest).total_seconds() >= adopt_after_s]
    return ours + adopted


@dataclass(frozen=True)
class Batch:
    """What one device's batch did."""

    fixes: int
    routes: list[str]
    # When its parcels were received, with their number of fixes (for the lag).
    received: list[tuple[datetime, int]] = field(default_factory=list, repr=False,
                                                 compare=False)


# The states a group stored, in order, with their rows' (tag, tail length): kept decoded
# once the group committed; with the order rows to keep, by route (kept under the route's
# orders tag as the commit leaves it: writing order objects gives the route a new one).
_Stored = list[tuple[RouteKey, tuple[int, int], StoredState]]
_KeptOrders = dict[RouteKey, tuple[Route, KeptOrders]]


def _feed_route(env: Env, route: Route, orders: RouteOrders, device_id: str,
                worker_handle: str, fixes: list[Fix], *, now: datetime,
                travel: TravelModel) -> StoredState:
    """Run a batch of stored fixes through one route's pipeline and write back the outcome;
    the state stored."""
    session = env.session
    settings = env.settings.tracking
    stored = load(route, orders.rows, now=now, settings=settings, resident=RESIDENT)
    known = device_id in stored.devices
    if not known:
        stored.devices.append(device_id)
    switched = switch_device(route, orders, device_id, worker_handle=worker_handle,
                             at=fixes[0].recorded_at if fixes else now,
                             public_url=env.settings.public_url)
    planned = stored.pipeline
    close_finished(session, route, stored, orders, settings)
    # Only the batch's fixes can change the state now (the device was known, nothing
    # switched, the plan is unchanged, and the row already holds a whole state): if the
    # pipeline finds no event either, write_back appends them to the route's tail.
    settled = (known and not switched and stored.pipeline is planned
               and route.track_state_tag is not None)
    # The upload's screening already applied the static checks to these fixes.
    state, events = process_fixes(stored.pipeline, fixes, now=now, travel=travel,
                                  settings=settings, prescreened=True,
                                  eta_every_s=ETA_EVERY_S, eta_phase_s=eta_phase_s(route))
    stored.pipeline = state
    if route.start_location is None and state.actuals.first_at is not None:
        first = fixes[0]
        route.start_location = point(first.lon, first.lat)
    write_back(env, route, orders, stored, events, now=now,
               batch=fixes if settled else None)
    return stored


def _in_order(parcels: list[repository.Parcel]) -> list[Fix]:
    """The batch's fixes in time order, one per instant (the inbox holds each once anyway)."""
    fixes = sorted((fix for parcel in parcels for fix in parcel.fixes),
                   key=lambda f: f.recorded_at)
    unique: list[Fix] = []
    for fix in fixes:
        if not unique or unique[-1].recorded_at != fix.recorded_at:
            unique.append(fix)
    return unique


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


def _process_group(session: Session, settings: Settings, travel: TravelModel,
                   devices: Sequence[DeviceKey], stored: _Stored,
                   kept_orders: _KeptOrders | None) -> dict[DeviceKey, Batch]:
    """One attempt of a group's transaction: each claimed device's waiting fixes through the
    routes it feeds; the states it stores are added to ``stored``, the order rows to keep
    to ``kept_orders`` (None: a caller's transaction, which may have order changes not
    flushed yet: the orders are read, and not kept)."""
    claimed = repository.try_lock_devices(session, devices)
    taken = repository.take_pending(session, claimed, settings.tracking.process_batch)
    if not taken:
        return {}
    now = clock.now()
    rows = repository.devices_by_ids(session, taken)
    routes = repository.tracking_routes(session, {
        device: row.worker_handle for device, row in rows.items()})
    env = Env(session=session, settings=settings)
    every_route = [route for fed in routes.values() for route in fed]
    resident_orders = {} if kept_orders is None else {
        route_key(route): kept for route in every_route
        if (kept := RESIDENT_ORDERS.get(route)) is not None}
    order_rows = repository.order_rows_of_routes(
        session, [route for route in every_route if route_key(route) not in resident_orders])
    repository.load_track_states(
        session, [route for route in every_route if not RESIDENT.has(route)])
    fed: set[RouteKey] = set()
    writes = TrackingWrites()
    batches: dict[DeviceKey, Batch] = {}
    # The group's changes (route states, order rows, timeline and outbox rows) are flushed
    # together when it commits: one statement per kind of change for the whole group, not a
    # flush per route before the next route's first read.
    with session.no_autoflush:
        for device, parcels in taken.items():
            handles: list[str] = []
            row = rows.get(device)
            if row is not None:
                in_order = _in_order(parcels)
                for route in routes.get(device, []):
                    orders = _route_orders(session, route, order_rows, resident_orders, fed,
                                           writes)
                    state = _feed_route(env, route, orders, device[1], row.worker_handle,
                                        in_order, now=now, travel=travel)
                    if kept_orders is not None:
                        kept_orders[route_key(route)] = (route, orders.kept())
                    stored_version = version(route)
                    if stored_version is not None:
                        stored.append((route_key(route), stored_version, state))
                    handles.append(route.route_handle)
            batches[device] = Batch(sum(len(parcel.fixes) for parcel in parcels), handles,
                                    [(parcel.received_at, len(parcel.fixes))
                                     for parcel in parcels])
        writes.write(session)
        repository.write_route_tracking(session, every_route)
    return batches


def _route_orders(session: Session, route: Route,
                  order_rows: dict[RouteKey, list[tuple[Any, ...]]],
                  resident: dict[RouteKey, KeptOrders],
                  fed: set[RouteKey], writes: TrackingWrites) -> RouteOrders:
    """A route's orders as this process kept them or the group read them; read again (after
    writing what the group changed) for a route that an earlier device of the group fed
    already (two devices of one worker), which changed them. Their estimate and risk updates
    go to the group's ``writes``."""
    key = (route.account_id, route.route_handle)
    if key in fed:
        writes.write(session)
        session.flush()
        return RouteOrders(session, route, writes=writes)
    fed.add(key)
    kept = resident.get(key)
    if kept is not None:
        return RouteOrders(session, route, writes=writes, kept=kept)
    return RouteOrders(session, route, order_rows.get(key, []), writes)


def process_group(db: Database, settings: Settings, travel: TravelModel,
                  devices: Sequence[DeviceKey]) -> dict[DeviceKey, Batch]:
    """Process one batch of each device's waiting fixes, all in one transaction; the batches
    of the devices this processor claimed and found fixes for (another processor may hold
    the others)."""
    RESIDENT.capacity = RESIDENT_ORDERS.capacity = settings.tracking.resident_states
    for attempt in range(1, _ATTEMPTS + 1):
        stored: _Stored = []
        kept_orders: _KeptOrders = {}
        try:
            with sqlite_turn(db), db.write() as session:
                batches = _process_group(session, settings, travel, devices, stored,
                                         kept_orders)
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            log.info("a tracking batch was retried after %s", exc.orig)
    for key, stored_version, state in stored:
        RESIDENT.put(key, stored_version, state)
    for key, (route, kept) in kept_orders.items():
        RESIDENT_ORDERS.put(key, route.orders_tag, kept)
    _measure(batches)
    return batches


def _measure(batches: dict[DeviceKey, Batch]) -> None:
    """A group's lags, fixes and batch sizes, each metric written once (``observe_many``)."""
    if not batches:
        return
    done = clock.now()
    metrics.observe_many(metrics.PIPELINE_LAG, [
        (max(0.0, (done - received_at).total_seconds()), fixes)
        for batch in batches.values() for received_at, fixes in batch.received])
    metrics.observe_many(metrics.BATCH_FIXES, [(batch.fixes, 1) for batch in batches.values()])
    metrics.PROCESSED.inc(sum(batch.fixes for batch in batches.values()))


def catch_up(session: Session, settings: Settings, travel: TravelModel, route: Route) -> int:
    """Process the waiting fixes of the devices that feed ``route``, in the caller's
    transaction, which holds the route's lock; the number of fixes processed.

    Completing or cancelling an order (or completing a route) closes it in the route's
    state, and a fix processed after that gives it no visit any more: the arrival of a
    worker who taps "complete" at the door could still be waiting here. So what the devices
    sent up to that instant is processed first, and commits with the change. A device that
    another processor holds at this instant is left to it: waiting for it could deadlock, as
    that processor waits for this route.
    """
    if route.status != "tracking":
        return 0
    devices = repository.devices_feeding(session, route)
    # Not kept decoded: the caller's transaction may still roll back.
    batches = _process_group(session, settings, travel, devices, [], None)
    _measure(batches)
    return sum(batch.fixes for batch in batches.values())


def process_device(db: Database, settings: Settings, travel: TravelModel, account_id: str,
                   device_id: str) -> Batch | None:
    """Process one batch of a device's waiting fixes; None when another processor has the
    device (or nothing waits)."""
    return process_group(db, settings, travel, [(account_id, device_id)]).get(
        (account_id, device_id))


def process_pending(db: Database, settings: Settings, travel: TravelModel, *,
                    ours_first: bool = False) -> int:
    """One round: a batch of each device with waiting fixes (up to ``tracking.process_devices``
    of them, longest waiting first), ``tracking.process_group`` devices to a transaction; the
    number of fixes processed.

    Several processors (threads, processes) go through the same order: a group another one
    has claimed yields no devices here (``try_lock_devices``), and this one goes on to the
    next. So the devices that waited longest are always taken first. (Shuffling each round's
    order instead could leave a fix that arrived just after its device's turn waiting up to
    two whole rounds.) ``ours_first`` leaves
    other processes' devices to them for ``tracking.adopt_after_s`` (the processor threads; a
    drain takes everything).
    """
    with db.read() as session:
        waiting = repository.pending_devices(session, settings.tracking.process_devices)
    pending = (_ours_first(waiting, settings.tracking.adopt_after_s, clock.now()) if ours_first
               else [device for device, _ in waiting])
    size = settings.tracking.process_group
    done = 0
    for start in range(0, len(pending), size):
        group = pending[start:start + size]
        try:
            done += sum(batch.fixes for batch in process_group(db, settings, travel, group)
                        .values())
            continue
        except Exception:
            if len(group) == 1:
                # One broken route must not stop the other devices' processing; its fixes
                # stay in the inbox and are tried again next round.
                log.exception("tracking batch of device %s/%s failed", *group[0])
                continue
        # A failed group is taken again device by device: only the device at fault waits.
        for account_id, device_id in group:
            try:
                batch = process_device(db, settings, travel, account_id, device_id)
            except Exception:
                log.exception("tracking batch of device %s/%s failed", account_id, device_id)
                continue
            if batch is not None:
                done += batch.fixes
    return done


def drain(db: Database, settings: Settings, travel: TravelModel, *, rounds: int = 1000) -> int:
    """Process until the inbox is empty (tests, the CLI, a graceful stop); fixes processed."""
    total = 0
    for _ in range(rounds):
        done = process_pending(db, settings, travel)
        if done == 0:
            break
        total += done
    return total


class Processor:
    """Processor threads of a worker process: poll the inbox, or wake on this process's
    uploads."""

    def __init__(self, db: Database, settings: Settings, travel: TravelModel) -> None:
        self.db = db
        self.settings = settings
        self.travel = travel
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self) -> None:
        poll_s = self.settings.tracking.process_poll_s
        while not self._stop.is_set():
            try:
                if process_pending(self.db, self.settings, self.travel, ours_first=True):
                    continue
            except Exception:
                log.exception("tracking processor error")
                time.sleep(poll_s)
            _WAKE.wait(poll_s)
            _WAKE.clear()

    def start(self, threads: int | None = None) -> None:
        """Start the processor threads in the background."""
        count = threads or self.settings.tracking.process_threads
        if self.db.dialect == "sqlite":
            count = 1  # one writer at a time: more threads would only queue for it
        for index in range(count):
            thread = threading.Thread(target=self._loop, name=f"rk-tracking-{index}",
                                      daemon=True)
            self._threads.append(thread)
        _PROCESSING.set()
        for thread in self._threads:
            thread.start()

    def alive_threads(self) -> int:
        """How many processor threads are running."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the batches under way commit."""
        self._stop.set()
        _PROCESSING.clear()
        _WAKE.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
