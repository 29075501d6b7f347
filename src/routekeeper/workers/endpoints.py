"""HTTP endpoints of workers (``/workers/``) and ops groups (``/workers/ops-groups/``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from sqlalchemy.orm import Session

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.clock import utcnow
from routekeeper.core.errors import invalid_field
from routekeeper.core.pagination import page_keys
from routekeeper.core.query_filters import QueryLimit
from routekeeper.core.responses import R400, R401, R404, R409, R422, Responses
from routekeeper.core.routing import Router
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
from routekeeper.models.worker import Worker
from routekeeper.workers import service
from routekeeper.workers.schemas import (
    OpsGroupCreate,
    OpsGroupPage,
    OpsGroupRead,
    OpsGroupUpdate,
    WorkerCreate,
    WorkerPage,
    WorkerRead,
    WorkerUpdate,
    WorkStatus,
    handle_list,
)
from routekeeper.workers.status import work_statuses

router = Router(tags=["Workers"])



# What each kind of operation can answer besides its success.
LISTED: Responses = {**R401, **R422}
ONE: Responses = {**R401, **R404, **R422}
CREATE_OPS_GROUP: Responses = {**R401, **R409, **R422}
UPDATE_OPS_GROUP: Responses = {**R401, **R404, **R422}
# 400 is ``ops_group_not_defined``.
CREATE_WORKER: Responses = {**R400, **R401, **R409, **R422}
UPDATE_WORKER: Responses = {**R400, **R401, **R404, **R422}


def _read(session: Session, worker: Worker) -> WorkerRead:
    session.flush()
    return service.worker_read(worker, work_statuses(session, [worker], now=utcnow())
                               [worker.worker_handle])


# Literal ops-group paths are registered before /workers/{worker_handle} so they win.
@router.post("/workers/ops-groups/", response_model=OpsGroupRead, responses=CREATE_OPS_GROUP)
def create_ops_group(
    body: OpsGroupCreate, account: CurrentAccount, session: WriteSession
) -> OpsGroupRead:
    """Create an ops group (200, as HyperTrack answers)."""
    return service.ops_group_read(service.create_ops_group(session, account.account_id, body))


@router.get("/workers/ops-groups/", response_model=OpsGroupPage, responses=LISTED)
def list_ops_groups(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    limit: QueryLimit = 100,
    pagination_token: str | None = None,
) -> OpsGroupPage:
    """List the account's ops groups by handle."""
    rows, token = service.list_ops_groups(
        session, account.account_id, limit=limit, token=pagination_token,
        secret=page_keys(settings.signing_keys, "ops_groups", account.account_id),
    )
    return OpsGroupPage(ops_groups=[service.ops_group_read(r) for r in rows],
                        pagination_token=token)


@router.get(
    "/workers/ops-groups/{ops_group_handle}", response_model=OpsGroupRead, responses=ONE,
)
def get_ops_group(
    ops_group_handle: str, account: CurrentAccount, session: ReadSession
) -> OpsGroupRead:
    """Read one ops group."""
    return service.ops_group_read(
        service.get_ops_group(session, account.account_id, ops_group_handle)
    )


@router.patch(
    "/workers/ops-groups/{ops_group_handle}", response_model=OpsGroupRead,
    responses=UPDATE_OPS_GROUP,
)
def update_ops_group(
    ops_group_handle: str, body: OpsGroupUpdate, account: CurrentAccount, session: WriteSession
) -> OpsGroupRead:
    """Change an ops group's settings."""
    group = service.update_ops_group(session, account.account_id, ops_group_handle, body)
    return service.ops_group_read(group)


@router.post(
    "/workers/", status_code=201, response_model=WorkerRead, responses=CREATE_WORKER
)
def create_worker(body: WorkerCreate, account: CurrentAccount, session: WriteSession) -> WorkerRead:
    """Create a worker."""
    return _read(session, service.create_worker(session, account.account_id, body))


@router.get("/workers/", response_model=WorkerPage, responses=LISTED)
def list_workers(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    ops_group_handle: Annotated[
        str | None, Query(description="Comma-separated ops group handles.")
    ] = None,
    search_term: Annotated[str | None, Query(max_length=200)] = None,
    worker_handle: Annotated[
        str | None, Query(max_length=20_000, description="Comma-separated worker handles.")
    ] = None,
    limit: QueryLimit = 50,
    pagination_token: str | None = None,
) -> WorkerPage:
    """List workers, filtered by ops groups, handles and a search term on handle, name and
    profile."""
    if search_term is not None and "\x00" in search_term:
        raise invalid_field("query", "search_term", "Text must not contain NUL characters.")
    rows, token = service.list_workers(
        session, account.account_id, ops_group_handles=handle_list(ops_group_handle),
        search_term=search_term, limit=limit, token=pagination_token,
        secret=page_keys(settings.signing_keys, "workers", account.account_id),
        worker_handles=handle_list(worker_handle),
    )
    statuses = work_statuses(session, rows, now=utcnow())
    return WorkerPage(workers=[service.worker_read(r, statuses[r.worker_handle]) for r in rows],
                      pagination_token=token)


@router.get("/workers/{worker_handle}", response_model=WorkerRead, responses=ONE)
def get_worker(worker_handle: str, account: CurrentAccount, session: ReadSession) -> WorkerRead:
    """Read one worker."""
    return _read(session, service.get_worker(session, account.account_id, worker_handle))


@router.patch("/workers/{worker_handle}", response_model=WorkerRead, responses=UPDATE_WORKER)
def update_worker(
    worker_handle: str, body: WorkerUpdate, account: CurrentAccount, session: WriteSession
) -> WorkerRead:
    """Change a worker."""
    worker = service.update_worker(session, account.account_id, worker_handle, body)
    return _read(session, worker)


@router.post("/workers/{worker_handle}/work_status", response_model=WorkerRead, responses=ONE)
def set_work_status(
    worker_handle: str, body: WorkStatus, account: CurrentAccount, session: WriteSession
) -> WorkerRead:
    """Set a worker's availability and tracking status; planning gives an unavailable
    worker no orders."""
    worker = service.set_work_status(session, account.account_id, worker_handle, body)
    return _read(session, worker)


@router.delete("/workers/{worker_handle}", status_code=204, responses=ONE)
def delete_worker(worker_handle: str, account: CurrentAccount, session: WriteSession) -> Response:
    """Delete a worker (204)."""
    service.delete_worker(session, account.account_id, worker_handle)
    return Response(status_code=204)
