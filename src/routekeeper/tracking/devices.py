"""Device rules: registration linked to a worker, key rotation, and finding a device by key.

Nothing here commits. A device appears in its worker's ``device_ids`` in the same transaction
that creates, moves or deletes it; worker rows are locked for that read-modify-write of the
list (in handle order when two are involved) so concurrent registrations cannot lose one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import HttpError, conflict
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.models.device import Device
from routekeeper.models.worker import Worker
from routekeeper.tracking import keys, repository
from routekeeper.tracking.schemas import (
    DeviceCreate,
    DeviceRead,
    DeviceUpdate,
    DeviceWithKey,
    LastLocation,
    PointOut,
)
from routekeeper.workers import service as workers
from routekeeper.workers.schemas import is_handle


def device_not_found(device_id: str) -> HttpError:
    """The 404 of a device that is not the account's."""
    return HttpError(404, "Device not found",
                     {"description": f"Device not found for id {device_id}"})


def last_location(device: Device) -> LastLocation | None:
    """The device's newest position in wire form."""
    if device.last_recorded_at is None or device.last_lon is None or device.last_lat is None:
        return None
    return LastLocation(
        geometry=PointOut(coordinates=[device.last_lon, device.last_lat]),
        accuracy=device.last_accuracy, speed=device.last_speed, bearing=device.last_bearing,
        altitude=device.last_altitude, battery=device.last_battery,
        recorded_at=device.last_recorded_at, received_at=device.last_received_at,
    )


def device_read(device: Device) -> DeviceRead:
    """The wire shape of a device (without its key)."""
    return DeviceRead(
        device_id=device.device_id, worker_handle=device.worker_handle, name=device.name,
        metadata=device.metadata_ or {}, key_prefix=device.key_prefix,
        key_rotated_at=device.key_rotated_at, created_at=device.created_at,
        updated_at=device.updated_at, last_location=last_location(device),
    )


def with_key(device: Device, key: str) -> DeviceWithKey:
    """The wire shape with the ingest key, shown once."""
    return DeviceWithKey(**device_read(device).model_dump(), ingest_key=key)


def get_device(session: Session, account_id: str, device_id: str, *, lock: bool = False
               ) -> Device:
    """A device of the account, or 404."""
    device = (repository.get_device(session, account_id, device_id, lock=lock)
              if is_handle(device_id) else None)
    if device is None:
        raise device_not_found(device_id)
    return device


def _link(worker: Worker, device_id: str) -> None:
    # A new list, so the JSON column is seen as changed.
    if device_id not in (worker.device_ids or []):
        worker.device_ids = [*(worker.device_ids or []), device_id]
        worker.updated_at = utcnow()


def _unlink(worker: Worker | None, device_id: str) -> None:
    if worker is not None and device_id in (worker.device_ids or []):
        worker.device_ids = [d for d in worker.device_ids if d != device_id]
        worker.updated_at = utcnow()


def create_device(session: Session, account_id: str, body: DeviceCreate) -> DeviceWithKey:
    """Register a device for a worker; 409 when the account already has this device id."""
    worker = workers.live_worker(session, account_id, body.worker_handle, lock=True)
    duplicate = conflict("duplicate_resource", "Duplicate device found with this ID",
                         {"description": f"Device {body.device_id} already exists"})
    if repository.get_device(session, account_id, body.device_id) is not None:
        raise duplicate
    now = utcnow()
    key = keys.new_key()
    device = Device(
        account_id=account_id, device_id=body.device_id, worker_handle=worker.worker_handle,
        name=body.name, metadata_=body.metadata or {}, key_prefix=key.prefix,
        key_hash=key.digest, key_rotated_at=now, created_at=now, updated_at=now,
    )
    try:
        # A savepoint turns a concurrent registration of the same id into a 409, not a 500.
        with session.begin_nested():
            session.add(device)
    except IntegrityError as exc:
        raise duplicate from exc
    _link(worker, device.device_id)
    return with_key(device, key.key)


def update_device(session: Session, account_id: str, device_id: str, body: DeviceUpdate
                  ) -> Device:
    """Rename, re-describe or move a device to another worker."""
    device = get_device(session, account_id, device_id, lock=True)
    sent = body.model_fields_set
    if "worker_handle" in sent and body.worker_handle is not None \
            and body.worker_handle != device.worker_handle:
        old, new = device.worker_handle, body.worker_handle
        locked: dict[str, Worker | None] = {}
        for handle in sorted({old, new}):
            locked[handle] = (
                workers.live_worker(session, account_id, handle, lock=True) if handle == new
                else workers.lock_worker(session, account_id, handle))
        _unlink(locked[old], device.device_id)
        new_worker = locked[new]
        assert new_worker is not None
        _link(new_worker, device.device_id)
        device.worker_handle = new
    if "name" in sent:
        device.name = body.name
    if "metadata" in sent:
        device.metadata_ = body.metadata or {}
    device.updated_at = utcnow()
    return device


def delete_device(session: Session, account_id: str, device_id: str) -> None:
    """Remove a device: its key stops working at once; its stored positions are kept."""
    device = get_device(session, account_id, device_id, lock=True)
    worker = workers.lock_worker(session, account_id, device.worker_handle)
    _unlink(worker, device.device_id)
    session.delete(device)


def rotate_key(session: Session, account_id: str, device_id: str) -> DeviceWithKey:
    """Give a device a new ingest key; the old one is refused from now on."""
    device = get_device(session, account_id, device_id, lock=True)
    key = keys.new_key()
    now = utcnow()
    device.key_prefix, device.key_hash = key.prefix, key.digest
    device.key_rotated_at = now
    device.updated_at = now
    return with_key(device, key.key)


def list_devices(session: Session, account_id: str, *, limit: int, token: str | None,
                 worker_handle: str | None, secret: SigningKeys) -> tuple[list[Device], str | None]:
    """One page of devices by id, and the token of the next page."""
    filters: dict[str, Any] = {"kind": "devices", "worker_handle": worker_handle}
    after = None
    if token:
        position = decode_token(secret, token, filters)
        after = str(position[0]) if position else None
    rows = repository.device_page(session, account_id, after=after, limit=limit + 1,
                                  worker_handle=worker_handle)
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_token(secret, [rows[-1].device_id], filters)
    return rows, next_token


def device_by_key(session: Session, key: str, cache: keys.KeyCache | None = None
                  ) -> Device | None:
    """The device whose current ingest key this is (of any account), or None.

    With a cache, a key seen before is looked up by its device's primary key and checked
    against that row, so a key that was rotated or whose device was deleted is still refused.
    """
    prefix = keys.prefix_of(key)
    if prefix is None:
        return None
    digest = keys.digest_of(key) if cache is not None else ""
    if cache is not None:
        known = cache.get(digest)
        if known is not None:
            device = repository.get_device(session, *known)
            if device is not None and keys.matches(key, device.key_hash):
                return device
            cache.forget(digest)
    for device in repository.devices_with_prefix(session, prefix):
        if keys.matches(key, device.key_hash):
            if cache is not None:
                cache.put(digest, device.account_id, device.device_id)
            return device
    return None
