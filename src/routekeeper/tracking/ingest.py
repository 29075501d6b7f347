"""Ingestion: every protocol's fixes go through here, from screening to durable storage.

Store first, process right after. One upload is one short transaction (retried whole when
PostgreSQL picks it as a deadlock victim):

1. find the device (``keys.KeyCache`` remembers which device a key belongs to; the device row
   is still read by its primary key, for its newest position, and the key re-checked there,
   so a rotated key or a deleted device is refused at once);
2. screen the fixes without touching the database (``validate_fix``, the implied speed judged
   against the device's newest position), each refusal with its index and reason;
3. store the accepted ones, skipping instants already stored (idempotent uploads), queue the
   newly stored ones in the inbox and move the device's newest position forward: one
   statement on PostgreSQL.

The answer is sent after that commits. The route pipelines (visits, ETAs, risks, webhooks)
run on the stored fixes in the tracking processor (``processor.py``), on the workers, within
a lag measured by ``routekeeper_tracking_pipeline_lag_seconds``. Only newly stored fixes are
queued, so a re-sent upload changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from routekeeper.core import metrics
from routekeeper.db.engine import Database
from routekeeper.models.device import Device
from routekeeper.settings import Settings
from routekeeper.tracking import clock, partitions, repository
from routekeeper.tracking.engine.fixes import Fix, implausible_move, validate_fix
from routekeeper.tracking.processor import sqlite_turn, wake
from routekeeper.tracking.schemas import IngestResult, Rejection

log = logging.getLogger(__name__)

# PostgreSQL's "deadlock detected" and "could not serialize": the transaction is safe to rerun.
_RETRYABLE = {"40P01", "40001"}
_ATTEMPTS = 3


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
    expired = partitions.cutoff(now, tracking.retention_days)
    for index, fix in enumerate(fixes):
        reason = validate_fix(fix, now=now, previous=None,
                              max_future_skew_s=tracking.max_future_skew_s,
                              max_speed_mps=tracking.max_speed_mps)
        if reason is None and fix.recorded_at < expired:
            # It would be deleted by the next retention run (or need a dropped partition).
            reason = "recorded_at is older than the retention period"
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


def _store(session: Session, device: DeviceRef, screened: Screened, now: datetime
           ) -> tuple[int, list[str]]:
    """One attempt of the write transaction; (fixes newly stored, routes they are queued for)."""
    inserted = repository.store_positions(session, device.account_id, device.device_id,
                                          screened.unique, now)
    if not inserted:
        return 0, []
    return len(inserted), repository.tracking_route_handles(
        session, device.account_id, device.device_id, device.worker_handle)


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


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


def ingest(db: Database, settings: Settings, device: Resolver | DeviceRef,
           fixes: Sequence[Fix], *, admit: Callable[[Session, DeviceRef], None] | None = None
           ) -> IngestResult:
    """Screen and store an upload of one device; the answer counts what became of it.

    The new positions are queued for the tracking processor in the same transaction, and this
    process's processor threads are woken once it committed. With a resolver the device is
    looked up in the upload's own transaction: a refused key has written nothing. ``admit``
    sees the device before anything is stored and may refuse the upload by raising.
    """
    now = clock.now()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with sqlite_turn(db), db.write() as session:
                found = device(session) if callable(device) else device
                if admit is not None:
                    admit(session, found)  # the per-device rate limit: a 429 stores nothing
                screened = screen(found, fixes, now=now, settings=settings)
                stored, handles = 0, list[str]()
                if screened.unique:
                    stored, handles = _store(session, found, screened, now)
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            log.info("an upload was retried after %s", exc.orig)
        except IntegrityError as exc:
            # A fix of a day without a partition yet (PostgreSQL): create it, then retry.
            if attempt == _ATTEMPTS or getattr(exc.orig, "sqlstate", None) != \
                    partitions.NO_PARTITION:
                raise
            partitions.ensure(db, partitions.days_of(f.recorded_at for f in fixes))
    if stored:
        wake()
    _count(screened, fixes)
    return IngestResult(
        accepted=len(screened.accepted),
        duplicates=len(screened.accepted) - stored,
        rejected=len(screened.rejections),
        rejections=screened.rejections,
        route_handles=handles,
    )
