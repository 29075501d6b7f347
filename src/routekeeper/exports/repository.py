"""SQL of exports: export rows, and the snapshot read of the orders to export."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, String, literal, or_, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from routekeeper.core.clock import utcnow
from routekeeper.db.engine import Database
from routekeeper.exports.columns import export_columns
from routekeeper.models.job import Job
from routekeeper.models.order import Order
from routekeeper.models.order_export import OrderExport
from routekeeper.orders.filters import OrderFilterFields
from routekeeper.orders.repository import filtered

# The two keyset columns ride at the end of every row and are cut off before writing.
KEY_WIDTH = 2


def find(session: Session, account_id: str, export_id: str) -> OrderExport | None:
    """The account's export with this id."""
    return session.get(OrderExport, (account_id, export_id))


def find_by_id(session: Session, export_id: str) -> OrderExport | None:
    """An export by id alone (download links carry no account)."""
    return session.scalar(select(OrderExport).where(OrderExport.id == export_id))


def find_by_key(session: Session, account_id: str, key: str) -> OrderExport | None:
    """The account's export made with this Idempotency-Key."""
    return session.scalar(
        select(OrderExport).where(
            OrderExport.account_id == account_id, OrderExport.idempotency_key == key
        )
    )


def set_progress(session: Session, export_id: str, rows: int) -> None:
    """Record how many rows the running job has written."""
    session.execute(
        update(OrderExport)
        .where(OrderExport.id == export_id)
        .values(rows_processed=rows, updated_at=utcnow())
    )


def abandoned(session: Session, *, limit: int = 100) -> list[OrderExport]:
    """Unfinished exports whose job gave up (or was pruned): nothing will finish them."""
    job_state = select(Job.status).where(Job.id == OrderExport.id).scalar_subquery()
    return list(session.scalars(
        select(OrderExport)
        .where(OrderExport.status.in_(("pending", "processing")),
               or_(job_state == "failed", job_state.is_(None)))
        .limit(limit)
    ))


def expired_files(session: Session, now: datetime, *, limit: int = 100) -> list[OrderExport]:
    """Completed exports whose link has expired and whose file is still stored."""
    return list(session.scalars(
        select(OrderExport)
        .where(OrderExport.status == "completed", OrderExport.expires_at < now,
               OrderExport.storage_key.is_not(None))
        .limit(limit)
    ))


@contextmanager
def snapshot(db: Database) -> Iterator[Session]:
    """A read-only session whose every query sees the same committed state.

    PostgreSQL: one REPEATABLE READ READ ONLY transaction (its snapshot is taken at the
    first query). SQLite: one deferred read transaction; in WAL mode it keeps reading the
    database as of its first SELECT while writers go on committing.
    """
    with db.read() as session:
        if db.is_postgres:
            session.connection(execution_options={
                "isolation_level": "REPEATABLE READ", "postgresql_readonly": True,
            })
        yield session


def export_query(
    session: Session, account_id: str, filters: OrderFilterFields, public_url: str
) -> Select[Any]:
    """The rows of an export: its columns, then the keyset (created_at, id)."""
    query = filtered(session, account_id, filters)
    cells = [column.expression.label(column.name) for column in export_columns(public_url)]
    # The key comes back as the driver gives it (no UTCDateTime conversion per row): it is
    # only ever handed back to the same driver as the next batch's bound.
    return query.with_only_columns(
        *cells, type_coerce(Order.created_at, NullType()).label("_key_created_at"),
        Order.id.label("_key_id"), maintain_column_froms=True,
    )


def batches(
    session: Session, query: Select[Any], *, descending: bool, batch_rows: int
) -> Iterator[list[Any]]:
    """Walk ``query`` in keyset batches of ``batch_rows`` ordered by (created_at, id);
    each row is a driver tuple: the export's cells, then the two key columns."""
    if descending:
        ordered = query.order_by(Order.created_at.desc(), Order.id.desc())
    else:
        ordered = query.order_by(Order.created_at.asc(), Order.id.asc())
    after: tuple[Any, str] | None = None
    # Plain Core execution, not through the ORM's loading.
    connection = session.connection()
    while True:
        page = ordered
        if after is not None:
            # A row-value comparison is one index range on (account_id, created_at, id) on
            # both databases; the equivalent OR form makes PostgreSQL rescan from the start.
            key = tuple_(Order.created_at, Order.id)
            last = tuple_(literal(after[0], NullType()), literal(after[1], String()))
            page = page.where(key < last if descending else key > last)
        result = connection.execute(page.limit(batch_rows))
        # The driver's own tuples: every cell is already text or a plain number (no column
        # has a result processor), so SQLAlchemy's per-row wrapping would only cost time.
        rows: list[Any] = list(result.cursor.fetchall())
        result.close()
        if not rows:
            return
        yield rows
        if len(rows) < batch_rows:
            return
        after = (rows[-1][-2], rows[-1][-1])


_Item = TypeVar("_Item")


@contextmanager
def read_ahead(items: Iterator[_Item], *, depth: int = 1) -> Iterator[Iterator[_Item]]:
    """Produce ``items`` in a thread, up to ``depth`` ahead of the consumer.

    The database works on the next batch while the caller formats and compresses this one.
    Only the thread uses the iterator's connection until the block ends; leaving the block
    (normally or by an exception) stops the thread and waits for it, so the connection is
    never used by two threads at once nor after its session closes.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("done", None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put("error", exc)

    def consume() -> Iterator[_Item]:
        while True:
            kind, value = handoff.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value

    thread = threading.Thread(target=produce, name="export-read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
