"""Rules for workers and ops groups; no commits here (the request's session commits)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import CodedError, conflict, invalid_field, not_found
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.worker import Worker
from routekeeper.workers import repository
from routekeeper.workers.schemas import (
    ObjectiveFn,
    OpsGroupCreate,
    OpsGroupRead,
    OpsGroupUpdate,
    RouteCompletionType,
    RouteStartLocation,
    WorkerCreate,
    WorkerRead,
    WorkerUpdate,
    WorkStatus,
    is_handle,
    jsonable_schedule,
)

# Columns that always hold a value: a PATCH with null leaves them as they are.
_OPS_GROUP_NOT_NULL = ("timezone", "route_start_location", "route_completion_type",
                       "objective_fn", "enforce_operations_radius")


def ops_group_read(group: OpsGroup) -> OpsGroupRead:
    """The wire shape of an ops group."""
    return OpsGroupRead(
        ops_group_handle=group.ops_group_handle, ops_group_label=group.name, name=group.name,
        timezone=group.timezone, ops_group_home=group.ops_group_home,
        route_start_location=RouteStartLocation(group.route_start_location),
        route_completion_type=RouteCompletionType(group.route_completion_type),
        route_capacity=group.route_capacity, route_max_distance=group.route_max_distance,
        objective_fn=ObjectiveFn(group.objective_fn),
        default_shift_start_time=group.default_shift_start_time,
        default_shift_end_time=group.default_shift_end_time, metadata=group.metadata_,
        reloads=group.reloads, operations_radius=group.operations_radius,
        enforce_operations_radius=bool(group.enforce_operations_radius),
        schedule=group.schedule or [],
        order_tracking_automation=group.order_tracking_automation,
        work_status_automation=group.work_status_automation or [],
        created_at=group.created_at, updated_at=group.updated_at,
    )


def worker_read(worker: Worker, work_status: dict[str, bool] | None = None) -> WorkerRead:
    """The wire shape of a worker; ``work_status`` as :mod:`routekeeper.workers.status`
    derives it (the stored values when not given)."""
    status = work_status or {"available": bool(worker.available),
                             "tracking": bool(worker.tracking)}
    return WorkerRead(
        worker_handle=worker.worker_handle, name=worker.name, profile=worker.profile or {},
        ops_group_handle=worker.ops_group_handle, product_types=worker.product_types or [],
        capacity=worker.capacity, home=worker.home, schedule=worker.schedule or [],
        unavailable_on=worker.unavailable_on or [], available=status["available"],
        work_status=status,
        device_ids=worker.device_ids or [], metadata=worker.metadata_,
        created_at=worker.created_at, updated_at=worker.updated_at,
    )


def get_ops_group(session: Session, account_id: str, handle: str) -> OpsGroup:
    """An ops group of the account, or a 404."""
    # A path segment that cannot be a handle names nothing; it never reaches the database.
    group = repository.find_ops_group(session, account_id, handle) if is_handle(handle) else None
    if group is None:
        raise not_found("Ops group", handle)
    return group


def ops_group_exists(session: Session, account_id: str, handle: str) -> bool:
    """Whether the account has an ops group with this handle."""
    return repository.find_ops_group(session, account_id, handle) is not None


def require_ops_groups(session: Session, account_id: str, handles: Iterable[str]) -> None:
    """Every ops group named in a request body exists, or the contract's 400
    ``ops_group_not_defined`` for the first that does not."""
    for handle in dict.fromkeys(handles):
        if repository.find_ops_group(session, account_id, handle) is None:
            raise CodedError(400, "ops_group_not_defined", f"Ops group {handle} does not exist",
                             {"description": f"Ops group {handle} does not exist"})


def _insert(session: Session, row: OpsGroup | Worker, duplicate: CodedError) -> None:
    # A concurrent insert of the same key (PostgreSQL) is a 409, not a failed transaction.
    if not repository.insert(session, row):
        raise duplicate


def _duplicate(what: str, handle: str) -> CodedError:
    return conflict("duplicate_resource", f"Duplicate {what} handle found",
                    {"description": f"{what.capitalize()} {handle} already exists"})


def _apply_ops_group_fields(
    group: OpsGroup, data: dict[str, Any], body: OpsGroupCreate | OpsGroupUpdate
) -> None:
    if "schedule" in data:
        data["schedule"] = jsonable_schedule(body.schedule) if body.schedule else []
    for key, value in data.items():
        if key == "metadata":
            group.metadata_ = value
        else:
            setattr(group, key, value)
    if group.reloads and not group.ops_group_home:
        # Reloads happen at the depot, and the ops group home is the depot.
        field = "reloads" if "reloads" in data else "ops_group_home"
        raise invalid_field("json", field, "Reloads need an ops_group_home to reload at.")
    if group.enforce_operations_radius and not (group.operations_radius
                                                and group.ops_group_home):
        # The radius is measured from the ops group home: enforcing it needs both.
        field = next((f for f in ("enforce_operations_radius", "operations_radius",
                                  "ops_group_home") if f in data), "enforce_operations_radius")
        raise invalid_field("json", field, "enforce_operations_radius needs an "
                                           "operations_radius and an ops_group_home.")


def create_ops_group(session: Session, account_id: str, body: OpsGroupCreate) -> OpsGroup:
    """Create an ops group; its handle must be new for the account (409 otherwise)."""
    if repository.find_ops_group(session, account_id, body.ops_group_handle) is not None:
        raise _duplicate("ops group", body.ops_group_handle)
    now = utcnow()
    group = OpsGroup(account_id=account_id, ops_group_handle=body.ops_group_handle,
                     timezone="UTC", route_start_location=RouteStartLocation.LIVE_LOCATION,
                     route_completion_type=RouteCompletionType.END_AT_LAST_ORDER,
                     objective_fn=ObjectiveFn.MINIMISE_TIME, enforce_operations_radius=False,
                     created_at=now, updated_at=now)
    _apply_ops_group_fields(
        group, body.model_dump(mode="json", exclude_none=True, exclude={"ops_group_handle"}),
        body,
    )
    _insert(session, group, _duplicate("ops group", body.ops_group_handle))
    return group


def update_ops_group(
    session: Session, account_id: str, handle: str, body: OpsGroupUpdate
) -> OpsGroup:
    """Apply the fields present in a PATCH body."""
    group = get_ops_group(session, account_id, handle)
    data = body.model_dump(mode="json", exclude_unset=True)
    for required in _OPS_GROUP_NOT_NULL:
        if required in data and data[required] is None:
            data.pop(required)
    _apply_ops_group_fields(group, data, body)
    group.updated_at = utcnow()
    return group


def list_ops_groups(
    session: Session, account_id: str, *, limit: int, token: str | None, secret: SigningKeys
) -> tuple[list[OpsGroup], str | None]:
    """A page of ops groups by handle."""
    filters: dict[str, Any] = {"kind": "ops_groups", "account": account_id}
    after = _after(secret, token, filters) if token else None
    rows = repository.ops_groups_page(session, account_id, after=after, limit=limit + 1)
    return _page(rows, [row.ops_group_handle for row in rows], limit, secret, filters)


def get_worker(session: Session, account_id: str, handle: str) -> Worker:
    """A live (not deleted) worker of the account, or a 404."""
    worker = repository.find_worker(session, account_id, handle) if is_handle(handle) else None
    if worker is None or worker.deleted_at is not None:
        raise not_found("Worker", handle)
    return worker


def worker_not_found(handle: str) -> CodedError:
    """The contract's coded 404 of a handle that names no worker (``driver_not_found``), as
    route and device operations answer it."""
    return CodedError(404, "driver_not_found", "Worker Not Found",
                      {"description": f"Worker not found for handle {handle}"})


def lock_worker(session: Session, account_id: str, handle: str) -> Worker | None:
    """The worker row (deleted or not) under its row lock, reloaded, for a change of its
    ``device_ids``; None when the handle names none."""
    return repository.find_worker(session, account_id, handle, lock=True)


def live_worker(session: Session, account_id: str, handle: str, *, lock: bool = False
                ) -> Worker:
    """A worker that is not deleted, for the route and device operations that name one:
    their 404s are coded (``driver_not_found``, ``driver_deleted``), unlike the workers API's
    own (:func:`get_worker`). ``lock`` takes the worker's row lock."""
    worker = repository.find_worker(session, account_id, handle, lock=lock)
    if worker is None:
        raise worker_not_found(handle)
    if worker.deleted_at is not None:
        raise CodedError(404, "driver_deleted", "Worker is deleted",
                         {"description": f"Worker {handle} is deleted; undelete it first"})
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
    # null clears a list or the profile; it never makes them null.
    for list_field in ("product_types", "schedule", "unavailable_on"):
        if list_field in data and data[list_field] is None:
            data[list_field] = []
    if "profile" in data and data["profile"] is None:
        data["profile"] = {}
    status = data.pop("work_status", None) or {}
    for name in ("available", "tracking"):
        if status.get(name) is not None:
            data[name] = status[name]
    for keep in ("available", "ops_group_handle"):
        if keep in data and data[keep] is None:
            data.pop(keep)
    return data


def _named_ops_groups(data: dict[str, Any]) -> list[str]:
    named = [data["ops_group_handle"]] if data.get("ops_group_handle") else []
    named += [e["ops_group_handle"] for e in data.get("schedule") or [] if "ops_group_handle" in e]
    return named


def _fresh_worker(account_id: str, handle: str) -> Worker:
    now = utcnow()
    return Worker(account_id=account_id, worker_handle=handle, name=None, profile={},
                  ops_group_handle="default", product_types=[], capacity=None, home=None,
                  schedule=[], unavailable_on=[], available=True, tracking=False, device_ids=[],
                  metadata_=None, created_at=now, updated_at=now, deleted_at=None)


def create_worker(session: Session, account_id: str, body: WorkerCreate) -> Worker:
    """Create a worker; a deleted worker's handle may be reused for a new one."""
    data = _worker_data(body, unset=False)
    require_ops_groups(session, account_id, _named_ops_groups(data) or ["default"])
    existing = repository.find_worker(session, account_id, body.worker_handle)
    if existing is not None and existing.deleted_at is None:
        raise _duplicate("worker", body.worker_handle)
    fresh = _fresh_worker(account_id, body.worker_handle)
    _apply_worker_fields(fresh, data)
    if existing is None:
        _insert(session, fresh, _duplicate("worker", body.worker_handle))
        return fresh
    # The deleted row keeps the key; it becomes the new worker with nothing of the old one.
    for attribute in inspect(Worker).column_attrs:
        if attribute.key not in ("account_id", "worker_handle"):
            setattr(existing, attribute.key, getattr(fresh, attribute.key))
    return existing


def update_worker(session: Session, account_id: str, handle: str, body: WorkerUpdate) -> Worker:
    """Apply the fields present in a PATCH body."""
    worker = get_worker(session, account_id, handle)
    data = _worker_data(body, unset=True)
    require_ops_groups(session, account_id, _named_ops_groups(data))
    _apply_worker_fields(worker, data)
    worker.updated_at = utcnow()
    return worker


def set_work_status(
    session: Session, account_id: str, handle: str, body: WorkStatus
) -> Worker:
    """``POST /workers/{h}/work_status``: set the parts of the work status that are sent."""
    worker = get_worker(session, account_id, handle)
    if body.available is not None:
        worker.available = body.available
    if body.tracking is not None:
        worker.tracking = body.tracking
    worker.updated_at = utcnow()
    return worker


def delete_worker(session: Session, account_id: str, handle: str) -> None:
    """Mark a worker deleted; its history stays."""
    worker = get_worker(session, account_id, handle)
    worker.deleted_at = utcnow()
    worker.updated_at = worker.deleted_at


_Row = TypeVar("_Row", OpsGroup, Worker)


def _page(
    rows: list[_Row], handles: list[str], limit: int, secret: SigningKeys,
    filters: dict[str, Any],
) -> tuple[list[_Row], str | None]:
    """A page of ``limit`` of the ``limit + 1`` rows read, and the token after its last
    row's handle when there are more."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_token(secret, [handles[limit - 1]], filters)


def _after(secret: SigningKeys, token: str, filters: dict[str, Any]) -> str:
    key = decode_token(secret, token, filters)
    if len(key) != 1 or not isinstance(key[0], str):
        raise invalid_field("query", "pagination_token", "Not a valid pagination token.")
    return key[0]


def list_workers(
    session: Session,
    account_id: str,
    *,
    ops_group_handles: list[str] | None,
    search_term: str | None,
    limit: int,
    token: str | None,
    secret: SigningKeys,
    worker_handles: list[str] | None = None,
) -> tuple[list[Worker], str | None]:
    """A page of live workers by handle, filtered by ops groups, handles and a search term
    on the handle, the name and the profile."""
    filters: dict[str, Any] = {
        "kind": "workers", "account": account_id, "ops_group_handles": ops_group_handles,
        "search_term": search_term,
    }
    if worker_handles is not None:
        # Only when given, so that tokens handed out before this filter existed stay valid.
        filters["worker_handles"] = worker_handles
    query = repository.live_workers(account_id, ops_group_handles=ops_group_handles,
                                    search_term=search_term, worker_handles=worker_handles)
    after = _after(secret, token, filters) if token else None
    rows = repository.workers_page(session, query, after=after, limit=limit + 1)
    return _page(rows, [row.worker_handle for row in rows], limit, secret, filters)


def walk_workers(
    session: Session,
    account_id: str,
    *,
    ops_group_handles: list[str] | None,
    search_term: str | None,
    batch: int,
    worker_handles: list[str] | None = None,
) -> Iterator[list[Worker]]:
    """Every live worker that GET /workers/ would list with these filters, by handle, in
    batches (the workers' export reads them this way)."""
    query = repository.live_workers(account_id, ops_group_handles=ops_group_handles,
                                    search_term=search_term, worker_handles=worker_handles)
    yield from repository.walk_workers(session, query, batch=batch)
