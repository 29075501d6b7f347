"""HTTP endpoints of workers (``/workers/``) and ops groups (``/workers/ops-groups/``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.responses import ERRORS_401_404_422, ERRORS_ALL
from routekeeper.core.routing import Router
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
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
)

router = Router(tags=["Workers"])

Limit = Annotated[int, Query(ge=1, le=1000)]


# Literal ops-group paths are registered before /workers/{worker_handle} so they win.
@router.post("/workers/ops-groups/", response_model=OpsGroupRead, responses=ERRORS_ALL)
def create_ops_group(
    body: OpsGroupCreate, account: CurrentAccount, session: WriteSession
) -> OpsGroupRead:
    """Create an ops group (200, as HyperTrack answers)."""
    return service.ops_group_read(service.create_ops_group(session, account.account_id, body))


@router.get("/workers/ops-groups/", response_model=OpsGroupPage, responses=ERRORS_401_404_422)
def list_ops_groups(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    limit: Limit = 100,
    pagination_token: str | None = None,
) -> OpsGroupPage:
    """List the account's ops groups by handle."""
    rows, token = service.list_ops_groups(
        session, account.account_id, limit=limit, token=pagination_token,
        secret=settings.secret_key,
    )
    return OpsGroupPage(ops_groups=[service.ops_group_read(r) for r in rows],
                        pagination_token=token)


@router.get(
    "/workers/ops-groups/{ops_group_handle}", response_model=OpsGroupRead,
    responses=ERRORS_401_404_422,
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
    responses=ERRORS_401_404_422,
)
def update_ops_group(
    ops_group_handle: str, body: OpsGroupUpdate, account: CurrentAccount, session: WriteSession
) -> OpsGroupRead:
    """Change an ops group's settings."""
    group = service.update_ops_group(session, account.account_id, ops_group_handle, body)
    return service.ops_group_read(group)


@router.post("/workers/", status_code=201, response_model=WorkerRead, responses=ERRORS_ALL)
def create_worker(body: WorkerCreate, account: CurrentAccount, session: WriteSession) -> WorkerRead:
    """Create a worker."""
    return service.worker_read(service.create_worker(session, account.account_id, body))


@router.get("/workers/", response_model=WorkerPage, responses=ERRORS_401_404_422)
def list_workers(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    ops_group_handle: str | None = None,
    search_term: str | None = None,
    limit: Limit = 50,
    pagination_token: str | None = None,
) -> WorkerPage:
    """List workers, filtered by ops group and a search term on handle, name and profile."""
    rows, token = service.list_workers(
        session, account.account_id, ops_group_handle=ops_group_handle,
        search_term=search_term, limit=limit, token=pagination_token,
        secret=settings.secret_key,
    )
    return WorkerPage(workers=[service.worker_read(r) for r in rows], pagination_token=token)


@router.get("/workers/{worker_handle}", response_model=WorkerRead, responses=ERRORS_401_404_422)
def get_worker(worker_handle: str, account: CurrentAccount, session: ReadSession) -> WorkerRead:
    """Read one worker."""
    return service.worker_read(service.get_worker(session, account.account_id, worker_handle))


@router.patch("/workers/{worker_handle}", response_model=WorkerRead, responses=ERRORS_ALL)
def update_worker(
    worker_handle: str, body: WorkerUpdate, account: CurrentAccount, session: WriteSession
) -> WorkerRead:
    """Change a worker."""
    worker = service.update_worker(session, account.account_id, worker_handle, body)
    return service.worker_read(worker)


@router.delete("/workers/{worker_handle}", status_code=204, responses=ERRORS_401_404_422)
def delete_worker(worker_handle: str, account: CurrentAccount, session: WriteSession) -> Response:
    """Delete a worker (204)."""
    service.delete_worker(session, account.account_id, worker_handle)
    return Response(status_code=204)
