"""Rules of order tasks and task definitions; nothing here commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import ApiError, CodedError, invalid_field, not_found
from routekeeper.core.ids import new_id
from routekeeper.core.pagination import decode_token, encode_token
from routekeeper.core.signing_keys import SigningKeys
from routekeeper.models.order import Order
from routekeeper.models.order_task import OrderTask
from routekeeper.models.task_definition import TaskDefinition
from routekeeper.order_tasks import repository
from routekeeper.order_tasks.events import record_created, record_task_event, update_value
from routekeeper.order_tasks.lists import definition_tasks, new_tasks
from routekeeper.order_tasks.schemas import (
    BaseOrderTask,
    OrderTaskUpdate,
    TaskDefinitionCreate,
    TaskDefinitionUpdate,
)
from routekeeper.orders import service as orders
from routekeeper.orders.wire import share_url
from routekeeper.workers import service as workers


def _clean(value: str) -> str:
    return value.replace("\x00", "")


def find_order(
    session: Session, account_id: str, order_handle: str, fulfillment_attempt: int | None
) -> Order:
    """The order (attempt) whose tasks are asked for, or a 404 ``order_not_found``."""
    try:
        return orders.find_order(session, account_id, order_handle,
                                 fulfillment_attempt=fulfillment_attempt)
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        handle = _clean(order_handle)
        raise CodedError(404, "order_not_found", "Order Not Found",
                         {"description": f"Order not found for handle {handle}"}) from exc


def list_tasks(session: Session, order: Order) -> list[OrderTask]:
    """An order's tasks, oldest first."""
    return repository.tasks_of(session, order.account_id, order.id)


def create_tasks(
    session: Session, order: Order, items: list[BaseOrderTask], *, public_url: str
) -> list[OrderTask]:
    """Add tasks to an order, each announced by a ``task_created`` event; an item naming a
    task definition adds that definition's tasks."""
    fields: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item.task_definition_id is None:
            fields.append(item.model_dump(mode="json"))
            continue
        definition = repository.find_definition(session, order.account_id,
                                                item.task_definition_id)
        if definition is None:
            raise invalid_field("json", f"tasks.{index}.task_definition_id",
                                "No task definition with this id.")
        fields.extend(definition_tasks(definition))
    created = new_tasks(order, fields)
    repository.add(session, created)
    session.flush()
    record_created(session, order, created, share_url=share_url(order, public_url))
    return created


def find_task(session: Session, order: Order, task_id: str) -> OrderTask:
    """One task of an order, or a 404 ``order_task_not_found``."""
    task = None
    if "\x00" not in task_id:
        task = repository.find_task(session, order.account_id, order.id, task_id)
    if task is None:
        raise CodedError(404, "order_task_not_found", "Order Task Not Found",
                         {"description": f"Order task not found for id {_clean(task_id)}"})
    return task


def update_task(
    session: Session, order: Order, task: OrderTask, body: OrderTaskUpdate, *, public_url: str
) -> OrderTask:
    """Change a task's fields (attachments are appended to the existing ones), announced
    by ``task_completed`` when the change completes it, else ``task_updated``."""
    previous_status = task.status
    data = body.model_dump(mode="json", exclude_unset=True)
    for name in ("label", "status", "description", "priority"):
        if name in data:
            setattr(task, name, data[name])
    if "metadata" in data:
        task.metadata_ = data["metadata"]
    if data.get("attachments"):
        task.attachments = [*(task.attachments or []), *data["attachments"]]
    task.updated_at = utcnow()
    record_task_event(session, order, task, update_value(previous_status, task),
                      share_url=share_url(order, public_url))
    return task


def delete_task(session: Session, task: OrderTask) -> None:
    """Delete a task of an order (no webhook: the contract has no value for it)."""
    repository.delete(session, task)


def _check_ops_group(session: Session, account_id: str, handle: str | None) -> None:
    if handle is not None and not workers.ops_group_exists(session, account_id, handle):
        raise CodedError(
            400, "ops_group_not_defined", f"Ops group {handle} does not exist",
            {"description": f"Ops group {handle} does not exist", "ops_group_handle": handle},
        )


def definition_wire(definition: TaskDefinition) -> dict[str, Any]:
    """The ``TasksDefinitionResponse`` of a definition."""
    return {
        "task_definition_id": definition.task_definition_id, "label": definition.label,
        "tasks": definition.tasks, "ops_group_handle": definition.ops_group_handle,
        "metadata": definition.metadata_, "created_at": definition.created_at,
        "updated_at": definition.updated_at,
    }


def _stored_tasks(items: list[BaseOrderTask]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", exclude_none=True) for item in items]


def create_definition(
    session: Session, account_id: str, body: TaskDefinitionCreate
) -> TaskDefinition:
    """Store a task definition (400 ``ops_group_not_defined`` for an unknown ops group)."""
    _check_ops_group(session, account_id, body.ops_group_handle)
    now = utcnow()
    definition = TaskDefinition(
        account_id=account_id, task_definition_id=new_id(), label=body.label,
        tasks=_stored_tasks(body.tasks), ops_group_handle=body.ops_group_handle,
        metadata_=body.metadata, created_at=now, updated_at=now,
    )
    repository.add(session, [definition])
    session.flush()
    return definition


def find_definition(session: Session, account_id: str, task_definition_id: str) -> TaskDefinition:
    """A definition of the account, or a 404."""
    definition = None
    if "\x00" not in task_definition_id:
        definition = repository.find_definition(session, account_id, task_definition_id)
    if definition is None:
        raise not_found("Task definition", _clean(task_definition_id))
    return definition


def update_definition(
    session: Session, definition: TaskDefinition, body: TaskDefinitionUpdate
) -> TaskDefinition:
    """Change the fields present in the body."""
    data = body.model_fields_set
    if "ops_group_handle" in data:
        _check_ops_group(session, definition.account_id, body.ops_group_handle)
        definition.ops_group_handle = body.ops_group_handle
    if "label" in data and body.label is not None:
        definition.label = body.label
    if "tasks" in data and body.tasks is not None:
        definition.tasks = _stored_tasks(body.tasks)
    if "metadata" in data:
        definition.metadata_ = body.metadata
    definition.updated_at = utcnow()
    session.flush()
    return definition


def delete_definition(session: Session, definition: TaskDefinition) -> None:
    """Delete a task definition (tasks copied from it stay)."""
    repository.delete(session, definition)


def _position(
    secret: SigningKeys, token: str, fingerprint: dict[str, Any]
) -> tuple[datetime, str]:
    key = decode_token(secret, token, fingerprint)
    try:
        created = datetime.fromisoformat(str(key[0]))
        last_id = str(key[1])
        if created.tzinfo is None:
            raise ValueError("naive position")
    except (ValueError, IndexError) as exc:
        raise invalid_field("query", "pagination_token",
                            "Not a valid pagination token.") from exc
    return created, last_id


def list_definitions(
    session: Session,
    account_id: str,
    *,
    search_term: str | None,
    ops_group_handle: str | None,
    limit: int,
    pagination_token: str | None,
    secret: SigningKeys,
) -> tuple[list[TaskDefinition], str | None]:
    """One page of definitions, newest first, and the next page's token."""
    fingerprint = {"search_term": search_term, "ops_group_handle": ops_group_handle}
    after = _position(secret, pagination_token, fingerprint) if pagination_token else None
    rows = repository.definitions_page(session, account_id, search_term=search_term,
                                       ops_group_handle=ops_group_handle, after=after,
                                       limit=limit + 1)
    token = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        token = encode_token(secret, [last.created_at.isoformat(), last.task_definition_id],
                             fingerprint)
    return rows, token
