"""Ingestion: every protocol's fixes go through here, from screening to durable storage.

Store first, process right after. Uploads are written in groups (``uploads.py`` gathers what
arrives while the previous group is being written): one short transaction for a whole group,
retried whole when PostgreSQL picks it as a deadlock victim, with a handful of statements
however many uploads it holds:

1. the failed-key limits of the uploads' addresses, read at once;
2. the devices: ``keys.KeyCache`` remembers which device a key belongs to, and the device rows
   are read by their primary keys in one query (for their newest positions), each key
   re-checked against its row, so a rotated key or a deleted device is refused at once;
3. the per-device upload limits, charged at once;
4. screening without the database (``validate_fix``, the implied speed judged against the
   device's newest position), each refusal with its index and reason;
5. storing the accepted fixes of every device, skipping instants already stored (idempotent
   uploads), queueing the newly stored ones in the inbox and moving each device's newest
   position forward: one statement on PostgreSQL; then the tracking routes they feed.

An upload refused in steps 1-3 (401, 429) gets its own error and writes nothing; the others
of its group go on. The answers are sent after the group commits. The route pipelines
(visits, ETAs, risks, webhooks) run on the stored fixes in the tracking processor
(``processor.py``), on the workers, within a lag measured by
``routekeeper_tracking_pipeline_lag_seconds``. Only newly stored fixes are queued, so a re-sent
upload changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from routekeeper.accounts.auth import unauthorized
from routekeeper.accounts.limits import Guard
from routekeeper.core import metrics
from routekeeper.core.errors import ApiError
from routekeeper.db.engine import Database
from routekeeper.models.device import Device
from routekeeper.settings import Settings
from routekeeper.tracking import clock, devices, keys, partitions, repository
from routekeeper.tracking.engine.fixes import Fix, implausible_move, validate_fix
from routekeeper.tracking.processor import sqlite_turn, wake
from routekeeper.tracking.repository import DeviceKey, DeviceRow
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
    def of(cls, device: Device | DeviceRow) -> DeviceRef:
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


@dataclass(frozen=True)
class KeyCredential:
    """An ingest key as an upload presented it, and the device it must belong to if the
    request named one (a path's device id, OwnTracks' user)."""

    key: str
    device_id: str | None = None


@dataclass
class Upload:
    """One request's fixes of one device, and who sent them."""

    device: KeyCredential | DeviceRef
    fixes: list[Fix]
    address: str | None = None


Outcome = IngestResult | ApiError
"""What became of an upload: its answer, or the error it is refused with."""


class Collision(Exception):
    """Two uploads of a group turned out to be for the same device (one came with a key, the
    other with account credentials): the later one must wait for the next group."""


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE


def _resolve(session: Session, uploads: Sequence[Upload], cache: keys.KeyCache
             ) -> list[DeviceRef | ApiError]:
    """The device of each upload, or its 401: remembered keys are checked against rows read
    in one query; unknown ones are searched by their prefix."""
    remembered: dict[int, tuple[str, str]] = {}
    for index, upload in enumerate(uploads):
        if isinstance(upload.device, KeyCredential):
            known = cache.get(keys.digest_of(upload.device.key))
            if known is not None:
                remembered[index] = known
    rows = repository.devices_by_ids(session, remembered.values())
    found: list[DeviceRef | ApiError] = []
    for index, upload in enumerate(uploads):
        credential = upload.device
        if isinstance(credential, DeviceRef):
            found.append(credential)
            continue
        row: Device | DeviceRow | None = (rows.get(remembered[index]) if index in remembered
                                          else None)
        if row is None or not keys.matches(credential.key, row.key_hash):
            row = devices.device_by_key(session, credential.key, cache)
        if row is None or (credential.device_id is not None
                           and row.device_id != credential.device_id):
            found.append(unauthorized("Unknown or revoked ingest key."))
        else:
            found.append(DeviceRef.of(row))
    return found


def _admitted(session: Session, uploads: Sequence[Upload], guard: Guard, cache: keys.KeyCache
              ) -> list[DeviceRef | ApiError]:
    """Steps 1-3: each upload's device once its address, key and device limit let it in."""
    connection = session.connection()
    refused = guard.refused_addresses(
        [upload.address for upload in uploads if isinstance(upload.device, KeyCredential)],
        connection)
    found = _resolve(session, uploads, cache)
    for index, upload in enumerate(uploads):
        if isinstance(upload.device, KeyCredential) and upload.address in refused:
            found[index] = refused[upload.address]  # checked before the key, as for passwords
    seen: set[DeviceKey] = set()
    for ref in found:
        if isinstance(ref, DeviceRef):
            if (ref.account_id, ref.device_id) in seen:
                raise Collision
            seen.add((ref.account_id, ref.device_id))
    charged = [(ref.account_id, ref.device_id) for ref, upload in zip(found, uploads, strict=True)
               if isinstance(ref, DeviceRef) and upload.fixes]
    limited = guard.charge_devices(charged, connection)
    return [limited.get((ref.account_id, ref.device_id), ref) if isinstance(ref, DeviceRef)
            else ref for ref in found]


@dataclass
class _Written:
    """What a group's transaction did: each upload's outcome, the newest accepted fix of each
    upload that had any, and the devices with newly stored fixes."""

    outcomes: list[Outcome]
    newest: list[datetime]
    devices: list[DeviceKey]


def _write_group(session: Session, settings: Settings, guard: Guard, cache: keys.KeyCache,
                 uploads: Sequence[Upload], now: datetime) -> _Written:
    """One attempt of a group's transaction."""
    admitted = _admitted(session, uploads, guard, cache)
    screened: dict[int, tuple[DeviceRef, Screened]] = {}
    for index, (ref, upload) in enumerate(zip(admitted, uploads, strict=True)):
        if isinstance(ref, DeviceRef):
            screened[index] = (ref, screen(ref, upload.fixes, now=now, settings=settings))
    stored = repository.store_positions(session, {
        (ref.account_id, ref.device_id): result.unique for ref, result in screened.values()},
        now)
    handles = repository.tracking_route_handles(session, {
        device: ref.worker_handle for ref, _ in screened.values()
        if (device := (ref.account_id, ref.device_id)) in stored})
    outcomes: list[Outcome] = []
    for index, ref in enumerate(admitted):
        if not isinstance(ref, DeviceRef):
            outcomes.append(ref)
            continue
        result = screened[index][1]
        device = (ref.account_id, ref.device_id)
        outcomes.append(IngestResult(
            accepted=len(result.accepted),
            duplicates=len(result.accepted) - len(stored.get(device, ())),
            rejected=len(result.rejections),
            rejections=result.rejections,
            route_handles=handles.get(device, []),
        ))
    newest = [max(fix.recorded_at for fix in result.accepted)
              for _, result in screened.values() if result.accepted]
    return _Written(outcomes, newest, [device for device, new in stored.items() if new])


def _count(outcomes: Sequence[Outcome], newest: Sequence[datetime], now: datetime) -> None:
    # Lag: from the newest fix being measured to its upload being stored.
    results = [outcome for outcome in outcomes if isinstance(outcome, IngestResult)]
    metrics.UPLOAD_GROUP.observe(len(outcomes))
    metrics.POSITIONS.labels("accepted").inc(sum(result.accepted for result in results))
    metrics.POSITIONS.labels("rejected").inc(sum(result.rejected for result in results))
    for recorded_at in newest:
        metrics.TRACKING_LAG.observe(max(0.0, (now - recorded_at).total_seconds()))


def ingest_group(db: Database, settings: Settings, guard: Guard, cache: keys.KeyCache,
                 uploads: Sequence[Upload]) -> list[Outcome]:
    """Screen and store a group of uploads, each of a different device, in one transaction;
    what became of each. Refusals (401, 429) are outcomes; a database failure raises.

    The new positions are queued for the tracking processor in the same transaction, and this
    process's processor threads are woken once it committed. Raises :class:`Collision` when
    two uploads turn out to be for one device.
    """
    now = clock.now()
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with sqlite_turn(db), db.write() as session:
                written = _write_group(session, settings, guard, cache, uploads, now)
            break
        except OperationalError as exc:
            if attempt == _ATTEMPTS or not _retryable(exc):
                raise
            log.info("a group of uploads was retried after %s", exc.orig)
        except IntegrityError as exc:
            # A fix of a day without a partition yet (PostgreSQL): create it, then retry.
            if attempt == _ATTEMPTS or getattr(exc.orig, "sqlstate", None) != \
                    partitions.NO_PARTITION:
                raise
            partitions.ensure(db, partitions.days_of(
                fix.recorded_at for upload in uploads for fix in upload.fixes))
    if written.devices:
        wake(written.devices)
    _count(written.outcomes, written.newest, clock.now())
    return written.outcomes
