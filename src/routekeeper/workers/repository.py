"""SQL of workers and ops groups; every function takes the account it reads or writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Select, String, cast, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from routekeeper.models.ops_group import OpsGroup
from routekeeper.models.route import Route
from routekeeper.models.worker import Worker


def find_ops_group(session: Session, account_id: str, handle: str) -> OpsGroup | None:
    """The account's ops group with this handle."""
    return session.get(OpsGroup, (account_id, handle))


def ops_groups_named(session: Session, account_id: str, handles: Iterable[str]) -> list[OpsGroup]:
    """The account's ops groups among ``handles``."""
    return list(session.scalars(select(OpsGroup).where(
        OpsGroup.account_id == account_id, OpsGroup.ops_group_handle.in_(sorted(set(handles))))))


def workers_tracking(session: Session, account_id: str, handles: Iterable[str]) -> set[str]:
    """Which of the workers ``handles`` have a route being tracked now."""
    return {handle for handle in session.scalars(select(Route.worker_handle).where(
        Route.account_id == account_id, Route.status == "tracking",
        Route.worker_handle.in_(sorted(set(handles))))) if handle is not None}


def find_worker(session: Session, account_id: str, handle: str, *, lock: bool = False
                ) -> Worker | None:
    """The account's worker with this handle, deleted or not; ``lock`` takes its row lock
    and reloads it (for a read-modify-write of its columns)."""
    return session.get(Worker, (account_id, handle), with_for_update=lock,
                       populate_existing=lock)


def insert(session: Session, row: OpsGroup | Worker) -> bool:
    """Add a new row; False when its key is taken (a concurrent insert on PostgreSQL)."""
    # A savepoint: only this insert is undone, not the request's transaction.
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def ops_groups_page(
    session: Session, account_id: str, *, after: str | None, limit: int
) -> list[OpsGroup]:
    """Up to ``limit`` ops groups by handle, beyond the handle ``after``."""
    query = select(OpsGroup).where(OpsGroup.account_id == account_id)
    if after is not None:
        query = query.where(OpsGroup.ops_group_handle > after)
    return list(session.scalars(query.order_by(OpsGroup.ops_group_handle).limit(limit)))


def _like_pattern(term: str) -> str:
    # The term is matched literally: % and _ are not wildcards for the client.
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def live_workers(
    account_id: str, *, ops_group_handles: list[str] | None, search_term: str | None,
    worker_handles: list[str] | None = None,
) -> Select[Any]:
    """Live workers of the account in these ops groups, with these handles, matching a
    search term on the handle, the name and the profile (what GET /workers/ and the
    workers' export list)."""
    query = select(Worker).where(Worker.account_id == account_id, Worker.deleted_at.is_(None))
    if ops_group_handles is not None:
        query = query.where(Worker.ops_group_handle.in_(ops_group_handles))
    if worker_handles is not None:
        query = query.where(Worker.worker_handle.in_(worker_handles))
    if search_term:
        pattern = _like_pattern(search_term)
        query = query.where(
            or_(
                Worker.worker_handle.ilike(pattern, escape="\\"),
                Worker.name.ilike(pattern, escape="\\"),
                cast(Worker.profile, String).ilike(pattern, escape="\\"),
            )
        )
    return query


def workers_page(
    session: Session, query: Select[Any], *, after: str | None, limit: int
) -> list[Worker]:
    """Up to ``limit`` workers of ``query`` by handle, beyond the handle ``after``."""
    if after is not None:
        query = query.where(Worker.worker_handle > after)
    return list(session.scalars(query.order_by(Worker.worker_handle).limit(limit)))


def walk_workers(session: Session, query: Select[Any], *, batch: int) -> Iterator[list[Worker]]:
    """Every worker of ``query`` by handle, in batches of ``batch`` (keyset, no offsets)."""
    after: str | None = None
    while True:
        rows = workers_page(session, query, after=after, limit=batch)
        if rows:
            yield rows
        if len(rows) < batch:
            return
        after = rows[-1].worker_handle
