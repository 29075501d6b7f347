"""The tracking processor: stored fixes through their routes' pipeline, right after the upload.

An upload only screens and stores (``ingest.py``): its new positions go to ``position``
and, in the same transaction, to the inbox (``position_inbox``). The processor takes them
from the inbox device by device, in micro-batches, and runs each batch through the pipeline
of every tracking route the device feeds (route lock, state, visits, ETAs, risks, write-back).

* **Exactly once.** The inbox rows of a batch are deleted in the transaction that writes the
  batch's outcome: a processor killed mid-batch leaves them to be taken again, and a batch
  that committed can never be taken twice. Only newly stored fixes enter the inbox, so
  re-sent uploads change nothing either.
* **One processor per device, one per route.** A device's batch is claimed with a
  transaction-scoped advisory lock on PostgreSQL (SQLite has one writer at a time); routes are
  locked in handle order as before, so two devices that feed one route take turns.
* **Catch-up.** A batch is everything a device has waiting (up to ``tracking.process_batch``):
  when processing falls behind, batches grow and the per-batch work (state, ETAs, write-back)
  is spread over more fixes, so processing gets cheaper per fix instead of falling further
  behind.
* **Where it runs.** ``Processor`` threads in every worker process (and in ``routekeeper
  serve``, which runs the worker in process); uploads in the same process wake them at once,
  others find the work by polling every ``tracking.process_poll_s``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import OperationalError

from routekeeper.core import metrics
from routekeeper.db.engine import Database
from routekeeper.models.route import Route
from routekeeper.settings import Settings
from routekeeper.tracking import clock, repository
from routekeeper.tracking.apply import Env, write_back
from routekeeper.tracking.completion import close_finished, point
from routekeeper.tracking.engine.fixes import Fix
from routekeeper.tracking.engine.pipeline import process_fixes
from routekeeper.tracking.routeorders import RouteOrders
from routekeeper.tracking.routestate import load
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

# SQLite has one writer at a time. Threads that wait in SQLite's busy handler poll with
# growing sleeps (up to 100 ms) and can lose the lock again and again, which makes for
# second-long tails under load; waiting in line here is fair and wakes at once.
_SQLITE_WRITER = threading.Lock()


def sqlite_turn(db: Database) -> AbstractContextManager[object]:
    """Queue this process's ingest writes for the SQLite write lock; nothing on PostgreSQL."""
    return _SQLITE_WRITER if db.dialect == "sqlite" else nullcontext()


# Uploads of this process wake its processor threads at once.
_WAKE = threading.Event()


def wake() -> None:
    """Tell this process's processor threads that fixes were stored."""
    _WAKE.set()


@dataclass(frozen=True)
class Batch:
    """What one device's batch did."""

    fixes: int
    routes: list[str]


def _feed_route(env: Env, route: Route, device_id: str, worker_handle: str, fixes: list[Fix],
                *, now: datetime, travel: TravelModel) -> None:
    """Run a batch of stored fixes through one route's pipeline and write back the outcome."""
    session = env.session
    orders = RouteOrders(session, route)
    stored = load(route, orders.rows, now=now)
    if device_id not in stored.devices:
        stored.devices.append(device_id)
    switch_device(route, orders, device_id, worker_handle=worker_handle,
                  at=fixes[0].recorded_at if fixes else now, public_url=env.settings.public_url)
    close_finished(session, route, stored, orders, env.settings.tracking)
    # The upload's screening already applied the static checks to these fixes.
    state, events = process_fixes(stored.pipeline, fixes, now=now, travel=travel,
                                  settings=env.settings.tracking, prescreened=True,
                                  eta_every_s=ETA_EVERY_S)
    stored.pipeline = state
    if route.start_location is None and state.actuals.first_at is not None:
        first = fixes[0]
        route.start_location = point(first.lon, first.lat)
    write_back(env, route, orders, stored, events, now=now)


def _in_order(taken: list[tuple[Fix, datetime]]) -> list[Fix]:
    """The batch's fixes in time order, one per instant (the inbox holds each once anyway)."""
    fixes = sorted((fix for fix, _ in taken), key=lambda f: f.recorded_at)
    unique: list[Fix] = []
    for fix in fixes:
        if not unique or unique[-1].recorded_at != fix.recorded_at:
            unique.append(fix)
    return unique


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


def process_device(db: Database, settings: Settings, travel: TravelModel, account_id: str,
                   device_id: str) -> Batch | None:
    """Process one batch of a device's waiting fixes; None when another processor has the
    device (or nothing waits)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with sqlite_turn(db), db.write() as session:
                if not repository.try_lock_device(session, account_id, device_id):
                    return None
                taken = repository.take_pending(session, account_id, device_id,
                                                settings.tracking.process_batch)
                if not taken:
                    return None
                now = clock.now()
                device = repository.get_device(session, account_id, device_id)
                handles: list[str] = []
                if device is not None:
                    fixes = _in_order(taken)
                    env = Env(session=session, settings=settings)
                    for route in repository.tracking_routes(session, account_id, device_id,
                                                            device.worker_handle):
                        _feed_route(env, route, device_id, device.worker_handle, fixes,
                                    now=now, travel=travel)
                        handles.append(route.route_handle)
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            log.info("a tracking batch was retried after %s", exc.orig)
    done = clock.now()
    for _, received_at in taken:
        metrics.PIPELINE_LAG.observe(max(0.0, (done - received_at).total_seconds()))
    metrics.PROCESSED.inc(len(taken))
    metrics.BATCH_FIXES.observe(len(taken))
    return Batch(len(taken), handles)


def process_pending(db: Database, settings: Settings, travel: TravelModel, *,
                    shuffle: bool = False) -> int:
    """One round: a batch of each device with waiting fixes (up to ``tracking.process_devices``
    of them, longest waiting first); the number of fixes processed.

    ``shuffle`` spreads several processors over the devices of a round instead of having all
    of them try the same device first.
    """
    with db.read() as session:
        pending = repository.pending_devices(session, settings.tracking.process_devices)
    if shuffle:
        random.shuffle(pending)
    done = 0
    for account_id, device_id in pending:
        try:
            batch = process_device(db, settings, travel, account_id, device_id)
        except Exception:
            # One broken route must not stop the other devices' processing; its fixes stay in
            # the inbox and are tried again next round.
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
        shuffle = len(self._threads) > 1 or self.db.dialect == "postgresql"
        while not self._stop.is_set():
            try:
                if process_pending(self.db, self.settings, self.travel, shuffle=shuffle):
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
        for thread in self._threads:
            thread.start()

    def alive_threads(self) -> int:
        """How many processor threads are running."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the batches under way commit."""
        self._stop.set()
        _WAKE.set()
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()
