"""The order webhooks of task changes (contract 5.2): ``task_created``, ``task_updated`` and
``task_completed``, each the order's envelope with ``task`` (``OrderTaskResponse``) and the
order's ``scheduled_at``.

Recorded in the transaction of the change, as every event, so a task that is not stored
is never announced. Imports no other domain's service, so the orders domain can record the
tasks of a new order's ``tasks_list`` here too.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from routekeeper.core.timefmt import format_ts
from routekeeper.models.order import Order
from routekeeper.models.order_task import OrderTask
from routekeeper.order_tasks.wire import task_json
from routekeeper.webhooks.outbox import record_order_event

TASK_CREATED = "task_created"
TASK_UPDATED = "task_updated"
TASK_COMPLETED = "task_completed"
COMPLETED = "completed"


def record_task_event(
    session: Session, order: Order, task: OrderTask, value: str, *, share_url: str | None
) -> None:
    """Add one task event of ``order`` to the outbox, with the task as it is now."""
    record_order_event(
        session, order, value, share_url=share_url, recorded_at=task.updated_at,
        task=task_json(task),
        scheduled_at=format_ts(order.scheduled_at) if order.scheduled_at else None,
    )


def record_created(
    session: Session, order: Order, tasks: list[OrderTask], *, share_url: str | None
) -> None:
    """``task_created`` for each new task, in the order they were added."""
    for task in tasks:
        record_task_event(session, order, task, TASK_CREATED, share_url=share_url)


def update_value(previous_status: str, task: OrderTask) -> str:
    """The event of a change: ``task_completed`` when it completed the task, else
    ``task_updated`` (one event per change)."""
    if task.status == COMPLETED and previous_status != COMPLETED:
        return TASK_COMPLETED
    return TASK_UPDATED
