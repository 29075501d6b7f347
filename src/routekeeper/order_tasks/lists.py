"""Making an order's task rows: from posted tasks, a task definition, or an order's
``tasks_list``; and reading the tasks of many orders at once (``order.tasks``).

Imports no other domain's service, so the orders domain can create an order's tasks (and
their ``task_created`` events) in the same transaction as the order (``POST /orders/``,
``POST /orders/track``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from routekeeper.core.clock import utcnow
from routekeeper.core.errors import RequestValidationFailed
from routekeeper.core.ids import new_id
from routekeeper.models.order import Order
from routekeeper.models.order_task import OrderTask
from routekeeper.models.task_definition import TaskDefinition
from routekeeper.order_tasks import repository
from routekeeper.order_tasks.events import record_created
from routekeeper.order_tasks.schemas import MAX_TASKS, TasksList
from routekeeper.order_tasks.wire import task_json

UNKNOWN_DEFINITION = "No task definition with this id."


def definition_tasks(definition: TaskDefinition) -> list[dict[str, Any]]:
    """A definition's tasks as task fields, each naming the definition."""
    return [{**task, "task_definition_id": definition.task_definition_id}
            for task in definition.tasks]


def new_tasks(order: Order, fields: Sequence[dict[str, Any]], *,
              now: datetime | None = None) -> list[OrderTask]:
    """Task rows (status ``created``) for an order, in the given order."""
    now = now or utcnow()
    return [
        OrderTask(
            account_id=order.account_id, task_id=new_id(), order_id=order.id,
            label=f["label"], task_definition_id=f.get("task_definition_id"),
            description=f.get("description"), metadata_=f.get("metadata"),
            priority=f.get("priority"), status="created", attachments=[],
            # A microsecond apart, so a batch lists in the posted order.
            created_at=now + timedelta(microseconds=i), updated_at=now + timedelta(microseconds=i),
        )
        for i, f in enumerate(fields)
    ]


def check_tasks_lists(
    session: Session, account_id: str, lists: Sequence[TasksList | None],
) -> None:
    """Every ``tasks_list`` of a batch names a task definition of the account and stays
    within the task limit; else a 422 naming each bad item, before anything is stored."""
    known = repository.known_definitions(
        session, account_id,
        (t.task_definition_id for t in lists if t is not None and t.task_definition_id))
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(lists):
        if item is None:
            continue
        at = f"orders.{index}.tasks_list"
        if item.task_definition_id and item.task_definition_id not in known:
            errors[f"{at}.task_definition_id"] = [UNKNOWN_DEFINITION]
            continue
        count = len(item.tasks or [])
        if item.task_definition_id:
            definition = repository.find_definition(session, account_id,
                                                    item.task_definition_id)
            count += len(definition.tasks) if definition is not None else 0
        if count > MAX_TASKS:
            errors[at] = [f"An order has at most {MAX_TASKS} tasks."]
    if errors:
        raise RequestValidationFailed({"json": errors})


def tasks_from_list(session: Session, order: Order, tasks_list: TasksList) -> list[OrderTask]:
    """Add an order's tasks from its ``tasks_list``: the definition's first, then the listed
    ones (checked beforehand by :func:`check_tasks_lists`)."""
    fields: list[dict[str, Any]] = []
    if tasks_list.task_definition_id:
        definition = repository.find_definition(session, order.account_id,
                                                tasks_list.task_definition_id)
        if definition is not None:
            fields += definition_tasks(definition)
    fields += [item.model_dump(mode="json") for item in tasks_list.tasks or []]
    created = new_tasks(order, fields)
    repository.add(session, created)
    # A new order is not tracked yet, so its events carry no share_url.
    record_created(session, order, created, share_url=None)
    return created


def tasks_by_order(session: Session, orders: Sequence[Order]) -> dict[str, list[dict[str, Any]]]:
    """The tasks of each of ``orders`` (by order id, oldest first), in one query per
    thousand orders; an order without tasks maps to an empty list."""
    found: dict[str, list[dict[str, Any]]] = {o.id: [] for o in orders}
    by_account: dict[str, list[str]] = {}
    for order in orders:
        by_account.setdefault(order.account_id, []).append(order.id)
    for account_id, ids in by_account.items():
        for task in repository.tasks_of_orders(session, account_id, ids):
            # Rendered inside free-form order shapes.
            found[task.order_id].append(task_json(task))
    return found
