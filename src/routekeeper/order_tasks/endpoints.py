"""HTTP endpoints of order tasks and task definitions (contract 2.4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from routekeeper.accounts.auth import CurrentAccount
from routekeeper.core.fields import Text
from routekeeper.core.pagination import page_keys
from routekeeper.core.responses import R400, R401, R404, R404_CODED, R422, Responses
from routekeeper.core.routing import Router
from routekeeper.dependencies import ReadSession, SettingsDep, WriteSession
from routekeeper.order_tasks import service
from routekeeper.order_tasks.schemas import (
    OrderTaskList,
    OrderTaskRead,
    OrderTasksCreate,
    OrderTaskUpdate,
    TaskDefinitionCreate,
    TaskDefinitionPage,
    TaskDefinitionRead,
    TaskDefinitionUpdate,
)
from routekeeper.order_tasks.wire import task_wire
from routekeeper.orders.paths import ORDER

router = Router(tags=["Orders"])

TASK_ERRORS: Responses = {**R401, **R404_CODED, **R422}
DEFINITION_ERRORS: Responses = {**R401, **R404, **R422}
DEFINITION_WRITE_ERRORS: Responses = {**R400, **R401, **R404, **R422}
DEFINITIONS = "/orders/tasks-definitions"
TASK = f"{ORDER}/tasks/{{task_id}}"

Attempt = Annotated[int | None, Query(ge=0)]


@router.get(f"{ORDER}/tasks", response_model=OrderTaskList, responses=TASK_ERRORS)
def list_order_tasks(
    order_handle: str, account: CurrentAccount, session: ReadSession,
    fulfillment_attempt: Attempt = None,
) -> dict[str, Any]:
    """List an order's tasks, oldest first."""
    order = service.find_order(session, account.account_id, order_handle, fulfillment_attempt)
    return {"tasks": [task_wire(t) for t in service.list_tasks(session, order)]}


@router.post(f"{ORDER}/tasks", status_code=201, response_model=OrderTaskList,
             responses=TASK_ERRORS)
def create_order_tasks(
    order_handle: str, body: OrderTasksCreate, account: CurrentAccount, session: WriteSession,
    settings: SettingsDep, fulfillment_attempt: Attempt = None,
) -> dict[str, Any]:
    """Add tasks (status ``created``) to an order."""
    order = service.find_order(session, account.account_id, order_handle, fulfillment_attempt)
    tasks = service.create_tasks(session, order, body.tasks, public_url=settings.public_url)
    return {"tasks": [task_wire(t) for t in tasks]}


@router.patch(TASK, response_model=OrderTaskRead, responses=TASK_ERRORS)
def update_order_task(
    order_handle: str, task_id: str, body: OrderTaskUpdate, account: CurrentAccount,
    session: WriteSession, settings: SettingsDep, fulfillment_attempt: Attempt = None,
) -> dict[str, Any]:
    """Change a task's fields (attachments are appended)."""
    order = service.find_order(session, account.account_id, order_handle, fulfillment_attempt)
    task = service.update_task(session, order, service.find_task(session, order, task_id), body,
                               public_url=settings.public_url)
    session.flush()
    return task_wire(task)


@router.delete(TASK, status_code=204, response_class=Response, responses=TASK_ERRORS)
def delete_order_task(
    order_handle: str, task_id: str, account: CurrentAccount, session: WriteSession,
    fulfillment_attempt: Attempt = None,
) -> Response:
    """Delete a task of an order."""
    order = service.find_order(session, account.account_id, order_handle, fulfillment_attempt)
    service.delete_task(session, service.find_task(session, order, task_id))
    return Response(status_code=204)


@router.get(DEFINITIONS, response_model=TaskDefinitionPage, responses={**R401, **R422})
def list_task_definitions(
    account: CurrentAccount,
    session: ReadSession,
    settings: SettingsDep,
    search_term: Annotated[Text | None, Query(max_length=200)] = None,
    ops_group_handle: Annotated[Text | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    pagination_token: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    """List task definitions, newest first, with cursor pagination."""
    rows, token = service.list_definitions(
        session, account.account_id, search_term=search_term,
        ops_group_handle=ops_group_handle, limit=limit, pagination_token=pagination_token,
        secret=page_keys(settings.signing_keys, "task_definitions", account.account_id),
    )
    return {"task_definitions": [service.definition_wire(d) for d in rows],
            "pagination_token": token}


@router.post(DEFINITIONS, status_code=201, response_model=TaskDefinitionRead,
             responses={**R400, **R401, **R422})
def create_task_definition(
    body: TaskDefinitionCreate, account: CurrentAccount, session: WriteSession,
) -> dict[str, Any]:
    """Create a task definition."""
    return service.definition_wire(service.create_definition(session, account.account_id, body))


@router.get(f"{DEFINITIONS}/{{task_definition_id}}", response_model=TaskDefinitionRead,
            responses=DEFINITION_ERRORS)
def get_task_definition(
    task_definition_id: str, account: CurrentAccount, session: ReadSession,
) -> dict[str, Any]:
    """One task definition."""
    return service.definition_wire(
        service.find_definition(session, account.account_id, task_definition_id)
    )


@router.patch(f"{DEFINITIONS}/{{task_definition_id}}", response_model=TaskDefinitionRead,
              responses=DEFINITION_WRITE_ERRORS)
def update_task_definition(
    task_definition_id: str, body: TaskDefinitionUpdate, account: CurrentAccount,
    session: WriteSession,
) -> dict[str, Any]:
    """Change a task definition's fields."""
    definition = service.find_definition(session, account.account_id, task_definition_id)
    return service.definition_wire(service.update_definition(session, definition, body))


@router.delete(f"{DEFINITIONS}/{{task_definition_id}}", responses=DEFINITION_ERRORS)
def delete_task_definition(
    task_definition_id: str, account: CurrentAccount, session: WriteSession,
) -> dict[str, Any]:
    """Delete a task definition (tasks copied from it stay)."""
    service.delete_definition(
        session, service.find_definition(session, account.account_id, task_definition_id))
    return {}
