"""SQL of exports: export rows, and the snapshot read of the orders to export."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, String, or_, select, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from routekeeper.core.clock import utcnow
from routekeeper.core.pagination import key_beyond
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


def recent(session: Session, account_id: str, *, limit: int) -> list[OrderExport]:
    """The account's newest exports."""
    return list(session.scalars(
        select(OrderExport).where(OrderExport.account_id == account_id)
        .order_by(OrderExport.created_at.desc(), OrderExport.id.desc()).limit(limit)))


def find_by_key(session: Session, account_id: str, key: str) -> OrderExport | None:
    """The account's export made with this Idempotency-Key."""
    return session.scalar(
        select(OrderExport).where(
            OrderExport.account_id == account_id, OrderExport.idempotency_key == key
        )
    )


def set_progress(session: Session, account_id: str, export_id: str, rows: int) -> None:
    """Record how many rows the running job has written."""
    session.execute(
        update(OrderExport)
        .where(OrderExport.account_id == account_id, OrderExport.id == export_id)
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
    session: Session, account_id: str, filters: OrderFilterFields, public_url: str,
    *, with_key: bool = True,
) -> Select[Any]:
    """The rows of an export: its columns, then (``with_key``) the keyset (created_at, id)."""
    query = filtered(session, account_id, filters)
    cells = [column.expression.label(column.name) for column in export_columns(public_url)]
    if not with_key:
        return query.with_only_columns(*cells, maintain_column_froms=True)
    # The key comes back as the driver gives it (no UTCDateTime conversion per row): it is
    # only ever handed back to the same driver as the next batch's bound.
    return query.with_only_columns(
        *cells, type_coerce(Order.created_at, NullType()).label("_key_created_at"),
        Order.id.label("_key_id"), maintain_column_froms=True,
    )


def _in_key_order(query: Select[Any], descending: bool) -> Select[Any]:
    if descending:
        return query.order_by(Order.created_at.desc(), Order.id.desc())
    return query.order_by(Order.created_at.asc(), Order.id.asc())


# The key's values come back from the driver untyped (see export_query) and go back as such.
_KEY = (Order.created_at, Order.id)
_KEY_TYPES = (NullType(), String())


def _past(query: Select[Any], after: tuple[Any, str] | None, descending: bool) -> Select[Any]:
    """Rows beyond the key ``after`` in the walking direction."""
    if after is None:
        return query
    return query.where(key_beyond(_KEY, after, _KEY_TYPES, descending=descending))


def _up_to(query: Select[Any], bound: tuple[Any, str], descending: bool) -> Select[Any]:
    """Rows up to and including the key ``bound`` in the walking direction."""
    # Up to the bound walking one way = at or beyond it walking the other way.
    return query.where(key_beyond(_KEY, bound, _KEY_TYPES, descending=not descending,
                                  inclusive=True))


def batches(
    session: Session, query: Select[Any], *, descending: bool, batch_rows: int
) -> Iterator[list[Any]]:
    """Walk ``query`` in keyset batches of ``batch_rows`` ordered by (created_at, id);
    each row is a driver tuple: the export's cells, then the two key columns."""
    ordered = _in_key_order(query, descending)
    after: tuple[Any, str] | None = None
    # Plain Core execution, not through the ORM's loading.
    connection = session.connection()
    while True:
        page = _past(ordered, after, descending)
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


def csv_batches(
    session: Session, query: Select[Any], *, descending: bool, batch_rows: int
) -> Iterator[tuple[bytes, int]]:
    """PostgreSQL: walk ``query`` (cells only) in keyset batches that the database itself
    writes as CSV (``COPY (SELECT ...) TO STDOUT``); yields (CSV bytes with \\r\\n row
    ends, row count) per batch.

    Decoding 59 cells per row into Python objects and encoding them again with
    ``csv.writer`` cost the worker about 12 us a row, three times what the whole
    ``COPY | gzip`` pipeline spends (docs/benchmarks/export.md); here the worker only moves
    bytes to the compressor. Each batch first finds its last key (an index walk of
    ``batch_rows`` keys), then copies the rows up to it, so a batch never needs the rows'
    cells in Python to know where the next one starts.
    """
    ordered = _in_key_order(query, descending)
    key_columns: Select[Any] = query.with_only_columns(  # type: ignore[assignment]
        type_coerce(Order.created_at, NullType()), Order.id, maintain_column_froms=True)
    keys = _in_key_order(key_columns, descending)
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    after: tuple[Any, str] | None = None
    while True:
        bound_row = connection.execute(
            _past(keys, after, descending).offset(batch_rows - 1).limit(1)
        ).first()
        bound = None if bound_row is None else (bound_row[0], str(bound_row[1]))
        page = _past(ordered, after, descending)
        if bound is not None:
            page = _up_to(page, bound, descending)
        statement, params = _driver_sql(page, connection.dialect)
        with driver.cursor() as cursor:
            with cursor.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                data = b"".join(copy)
            rows = cursor.rowcount
        if rows:
            yield crlf_row_ends(data, rows), rows
        if bound is None:
            return
        after = bound


def _driver_sql(query: Select[Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    """The SELECT as the driver would get it: SQL text and bound values, each value already
    converted by its type (JSON dumped, JSON paths as arrays, ...), IN lists expanded."""
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    # SQLAlchemy converts bound values by their types only when it executes a statement
    # itself; COPY goes straight to the driver, so the same conversions are applied here.
    processors: dict[str, Any] = dict(compiled._bind_processors)
    params = {
        name: processors[name](value) if name in processors else value
        for name, value in compiled.params.items()
    }
    return str(compiled), params


def crlf_row_ends(data: bytes, rows: int) -> bytes:
    """COPY ends rows with \\n; the export's files (RFC 4180, like SQLite's) use \\r\\n.

    A \\n inside a quoted cell is data and stays. With one \\n per row there is none, and
    one C-speed replace does it; otherwise each line's quote parity tells whether its
    \\n ends a row (CSV doubles quotes inside cells, so they never change the parity).
    """
    if data.count(b"\n") == rows:
        return data.replace(b"\n", b"\r\n")
    out: list[bytes] = []
    quoted = False
    lines = data.split(b"\n")
    for line in lines[:-1]:
        quoted ^= line.count(b'"') % 2 == 1
        out.append(line + (b"\n" if quoted else b"\r\n"))
    out.append(lines[-1])
    return b"".join(out)


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
