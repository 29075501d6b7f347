"""Rules for workers and ops groups; no commits here (the request's session commits)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, conflict, not_found
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.worker import Worker
from routekeeper.workers.schemas import (
    OpsGroupCreate,
    OpsGroupRead,
    OpsGroupUpdate,
    WorkerCreate,
    WorkerRead,
    WorkerUpdate,
    jsonable_schedule,
)


def ops_group_read(group: OpsGroup) -> OpsGroupRead:
    """The wire shape of an ops group."""
    return OpsGroupRead(
        ops_group_handle=group.ops_group_handle, name=group.name, timezone=group.timezone,
        ops_group_home=group.ops_group_home, route_start_location=group.route_start_location,
        route_completion_type=group.route_completion_type, route_capacity=group.route_capacity,
        route_max_distance=group.route_max_distance, objective_fn=group.objective_fn,
        default_shift_start_time=group.default_shift_start_time,
        default_shift_end_time=group.default_shift_end_time, metadata=group.metadata_,
        created_at=group.created_at, updated_at=group.updated_at,
    )


def worker_read(worker: Worker) -> WorkerRead:
    """The wire shape of a worker."""
    return WorkerRead(
        worker_handle=worker.worker_handle, name=worker.name, profile=worker.profile or {},
        ops_group_handle=worker.ops_group_handle, product_types=worker.product_types or [],
        capacity=worker.capacity, home=worker.home, schedule=worker.schedule or [],
        unavailable_on=worker.unavailable_on or [], available=worker.available,
        device_ids=worker.device_ids or [], metadata=worker.metadata_,
        created_at=worker.created_at, updated_at=worker.updated_at,
    )


def get_ops_group(session: Session, account_id: str, handle: str) -> OpsGroup:
    """An ops group of the account, or a 404."""
    group = session.get(OpsGroup, (account_id, handle))
    if group is None:
        raise not_found("Ops group", handle)
    return group


def require_ops_group(session: Session, account_id: str, handle: str) -> OpsGroup:
    """An ops group named in a request body, or the contract's 400 ``ops_group_not_defined``."""
    group = session.get(OpsGroup, (account_id, handle))
    if group is None:
        raise CodedError(400, "ops_group_not_defined", f"Ops group {handle} does not exist")
    return group


def _apply_ops_group_fields(group: OpsGroup, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key == "metadata":
            group.metadata_ = value
        elif key == "ops_group_home":
            group.ops_group_home = value
        else:
            setattr(group, key, value)


def create_ops_group(session: Session, account_id: str, body: OpsGroupCreate) -> OpsGroup:
    """Create an ops group; its handle must be new for the account (409 otherwise)."""
    if session.get(OpsGroup, (account_id, body.ops_group_handle)) is not None:
        raise conflict("duplicate_resource", "Duplicate ops group handle found",
                       {"description": f"Ops group {body.ops_group_handle} already exists"})
    now = utcnow()
    group = OpsGroup(account_id=account_id, ops_group_handle=body.ops_group_handle,
                     timezone="UTC", created_at=now, updated_at=now)
    _apply_ops_group_fields(
        group, body.model_dump(mode="json", exclude_none=True, exclude={"ops_group_handle"})
    )
    session.add(group)
    session.flush()
    return group


def update_ops_group(
    session: Session, account_id: str, handle: str, body: OpsGroupUpdate
) -> OpsGroup:
    """Apply the fields present in a PATCH body."""
    group = get_ops_group(session, account_id, handle)
    data = body.model_dump(mode="json", exclude_unset=True)
    for required in ("timezone", "route_start_location", "route_completion_type", "objective_fn"):
        if required in data and data[required] is None:
            data.pop(required)
    _apply_ops_group_fields(group, data)
    group.updated_at = utcnow()
    return group


def list_ops_groups(
    session: Session, account_id: str, *, limit: int, token: str | None, secret: str
) -> tuple[list[OpsGroup], str | None]:
    """A page of ops groups by handle."""
    filters: dict[str, Any] = {"kind": "ops_groups"}
    query = select(OpsGroup).where(OpsGroup.account_id == account_id)
    if token:
        (after,) = decode_token(secret, token, filters)
        query = query.where(OpsGroup.ops_group_handle > after)
    rows = list(session.scalars(query.order_by(OpsGroup.ops_group_handle).limit(limit + 1)))
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_token(secret, [rows[-1].ops_group_handle], filters)
    return rows, next_token


def get_worker(session: Session, account_id: str, handle: str) -> Worker:
    """A live (not deleted) worker of the account, or a 404."""
    worker = session.get(Worker, (account_id, handle))
    if worker is None or worker.deleted_at is not None:
        raise not_found("Worker", handle)
    return worker


def _apply_worker_fields(worker: Worker, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key == "metadata":
            worker.metadata_ = value
        else:
            setattr(worker, key, value)


def _worker_data(body: WorkerCreate | WorkerUpdate, *, unset: bool) -> dict[str, Any]:
    data = body.model_dump(
        mode="json", exclude_unset=unset, exclude_none=not unset, exclude={"worker_handle"}
    )
    if body.schedule is not None:
        data["schedule"] = jsonable_schedule(body.schedule)
    for list_field in ("product_types", "schedule", "unavailable_on"):
        if list_field in data and data[list_field] is None:
            data[list_field] = []
    if "profile" in data and data["profile"] is None:
        data["profile"] = {}
    if "available" in data and data["available"] is None:
        data.pop("available")
    return data


def create_worker(session: Session, account_id: str, body: WorkerCreate) -> Worker:
    """Create a worker (or bring back a deleted one with the same handle)."""
    ops_group = body.ops_group_handle or "default"
    require_ops_group(session, account_id, ops_group)
    now = utcnow()
    worker = session.get(Worker, (account_id, body.worker_handle))
    if worker is not None and worker.deleted_at is None:
        raise conflict("duplicate_resource", "Duplicate worker handle found",
                       {"description": f"Worker {body.worker_handle} already exists"})
    if worker is None:
        worker = Worker(account_id=account_id, worker_handle=body.worker_handle, created_at=now,
                        profile={}, product_types=[], schedule=[], unavailable_on=[],
                        device_ids=[], available=True)
        session.add(worker)
    worker.deleted_at = None
    worker.updated_at = now
    worker.ops_group_handle = ops_group
    _apply_worker_fields(worker, _worker_data(body, unset=False))
    session.flush()
    return worker


def update_worker(session: Session, account_id: str, handle: str, body: WorkerUpdate) -> Worker:
    """Apply the fields present in a PATCH body."""
    worker = get_worker(session, account_id, handle)
    data = _worker_data(body, unset=True)
    if data.get("ops_group_handle") is None:
        data.pop("ops_group_handle", None)
    else:
        require_ops_group(session, account_id, data["ops_group_handle"])
    _apply_worker_fields(worker, data)
    worker.updated_at = utcnow()
    return worker


def delete_worker(session: Session, account_id: str, handle: str) -> None:
    """Mark a worker deleted; its history stays."""
    worker = get_worker(session, account_id, handle)
    worker.deleted_at = utcnow()
    worker.updated_at = worker.deleted_at


def list_workers(
    session: Session,
    account_id: str,
    *,
    ops_group_handle: str | None,
    search_term: str | None,
    limit: int,
    token: str | None,
    secret: str,
) -> tuple[list[Worker], str | None]:
    """A page of live workers by handle, filtered by ops group and a search term."""
    filters: dict[str, Any] = {
        "kind": "workers", "ops_group_handle": ops_group_handle, "search_term": search_term,
    }
    query = select(Worker).where(Worker.account_id == account_id, Worker.deleted_at.is_(None))
    if ops_group_handle:
        query = query.where(Worker.ops_group_handle == ops_group_handle)
    if search_term:
        pattern = f"%{search_term.lower()}%"
        query = query.where(
            or_(
                Worker.worker_handle.ilike(pattern),
                Worker.name.ilike(pattern),
                cast(Worker.profile, String).ilike(pattern),
            )
        )
    if token:
        (after,) = decode_token(secret, token, filters)
        query = query.where(and_(Worker.worker_handle > after))
    rows = list(session.scalars(query.order_by(Worker.worker_handle).limit(limit + 1)))
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = encode_token(secret, [rows[-1].worker_handle], filters)
    return rows, next_token
