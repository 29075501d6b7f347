"""SQL of order tasks and task definitions; every function takes the account it reads or
writes (directly, or through the order whose tasks they are)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from routekeeper.models.order_task import OrderTask
from routekeeper.models.task_definition import TaskDefinition

# Order ids per IN list when reading the tasks of many orders.
_CHUNK = 1000


def add(session: Session, rows: Iterable[OrderTask | TaskDefinition]) -> None:
    """Add new task or definition rows to the transaction."""
    session.add_all(list(rows))


def delete(session: Session, row: OrderTask | TaskDefinition) -> None:
    """Delete a task or a definition."""
    session.delete(row)


def tasks_of(session: Session, account_id: str, order_id: str) -> list[OrderTask]:
    """An order's tasks, oldest first."""
    return list(session.scalars(
        select(OrderTask)
        .where(OrderTask.account_id == account_id, OrderTask.order_id == order_id)
        .order_by(OrderTask.created_at, OrderTask.task_id)
    ))


def tasks_of_orders(
    session: Session, account_id: str, order_ids: Sequence[str]
) -> Iterator[OrderTask]:
    """The tasks of many orders of one account, each order's oldest first (one query per
    thousand orders)."""
    for start in range(0, len(order_ids), _CHUNK):
        yield from session.scalars(
            select(OrderTask)
            .where(OrderTask.account_id == account_id,
                   OrderTask.order_id.in_(order_ids[start:start + _CHUNK]))
            .order_by(OrderTask.created_at, OrderTask.task_id))


def find_task(session: Session, account_id: str, order_id: str, task_id: str) -> OrderTask | None:
    """One task of an order."""
    return session.scalars(select(OrderTask).where(
        OrderTask.account_id == account_id, OrderTask.order_id == order_id,
        OrderTask.task_id == task_id,
    )).first()


def find_definition(
    session: Session, account_id: str, task_definition_id: str
) -> TaskDefinition | None:
    """The account's task definition with this id."""
    return session.get(TaskDefinition, (account_id, task_definition_id))


def known_definitions(session: Session, account_id: str, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` name task definitions of the account."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return set(session.scalars(select(TaskDefinition.task_definition_id).where(
        TaskDefinition.account_id == account_id,
        TaskDefinition.task_definition_id.in_(wanted))))


def definitions_page(
    session: Session,
    account_id: str,
    *,
    search_term: str | None,
    ops_group_handle: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[TaskDefinition]:
    """Up to ``limit`` definitions, newest first, beyond the key (created_at, id) ``after``;
    filtered by a search term on the label and by ops group."""
    query = select(TaskDefinition).where(TaskDefinition.account_id == account_id)
    if search_term:
        query = query.where(TaskDefinition.label.icontains(search_term, autoescape=True))
    if ops_group_handle is not None:
        query = query.where(TaskDefinition.ops_group_handle == ops_group_handle)
    if after is not None:
        created, last_id = after
        query = query.where(or_(
            TaskDefinition.created_at < created,
            and_(TaskDefinition.created_at == created,
                 TaskDefinition.task_definition_id < last_id),
        ))
    return list(session.scalars(
        query.order_by(TaskDefinition.created_at.desc(), TaskDefinition.task_definition_id.desc())
        .limit(limit)
    ))
