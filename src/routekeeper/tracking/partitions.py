"""Position history that stays small: day partitions on PostgreSQL, retention everywhere.

On PostgreSQL ``position`` is range-partitioned by ``recorded_at``, one partition per UTC day
named ``position_pYYYYMMDD`` (migration 2017b). The periodic job ``tracking.retention``
creates the partitions of the coming days ahead of time and drops whole partitions once
every position in them is older than ``tracking.retention_days``; an upload holding a fix of
a day without a partition (a phone's buffer from days ago) creates it and is retried.
SQLite keeps a plain table and deletes old positions in small batches, each in its own
short transaction, so uploads keep their turn at the single writer.

Route and order actuals (polylines, distances, durations, tracking rates) are columns of
their own rows, filled while tracking and at completion: dropping positions leaves them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, delete, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnClause

from routekeeper.db.engine import Database
from routekeeper.models.position import Position

log = logging.getLogger(__name__)

# Partitions exist this many days ahead of today (and today and yesterday).
AHEAD_DAYS = 7
# SQLite deletes at most this many positions per transaction.
DELETE_BATCH = 5000
_NAME = re.compile(r"^position_p(\d{8})$")
# "no partition of relation ... found for row" is a check violation.
NO_PARTITION = "23514"


def partition_name(day: date) -> str:
    """The partition of one UTC day."""
    return f"position_p{day:%Y%m%d}"


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def is_partitioned(connection: Connection) -> bool:
    """Whether ``position`` is a partitioned table (PostgreSQL after migration 2017b)."""
    if connection.dialect.name != "postgresql":
        return False
    return bool(connection.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
        "WHERE partrelid = to_regclass('position'))")))


def existing(connection: Connection) -> dict[date, str]:
    """The day partitions of ``position``, by day."""
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('position')")).scalars()
    days: dict[date, str] = {}
    for name in rows:
        found = _NAME.match(str(name))
        if found:
            digits = found.group(1)
            days[date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))] = str(name)
    return days


def ensure(db: Database, days: Iterable[date]) -> list[date]:
    """Create the partitions of these days that do not exist; the days created.

    Each in its own short transaction; a partition another process created meanwhile is
    fine (the statement is ``IF NOT EXISTS``, and a lost race on the catalog is ignored).
    """
    created: list[date] = []
    with db.engine.connect() as connection:
        have = existing(connection)
        connection.rollback()
        for day in sorted(set(days) - set(have)):
            statement = (f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF '
                         f"position FOR VALUES FROM ('{_bound(day)}') "
                         f"TO ('{_bound(day + timedelta(days=1))}')")
            try:
                connection.execute(text(statement))
                connection.commit()
                created.append(day)
            except DBAPIError:
                connection.rollback()
                if day not in existing(connection):
                    raise
                connection.rollback()
    if created:
        log.info("position partitions created: %s", ", ".join(map(str, created)))
    return created


def ensure_ahead(db: Database, today: date) -> list[date]:
    """Yesterday, today and AHEAD_DAYS days ahead."""
    return ensure(db, [today + timedelta(days=n) for n in range(-1, AHEAD_DAYS + 1)])


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Positions recorded before this instant are past their retention."""
    return now - timedelta(days=retention_days)


def drop_expired(db: Database, before: datetime) -> list[str]:
    """Drop the partitions whose every position is older than ``before``; their names."""
    dropped: list[str] = []
    with db.engine.connect() as connection:
        for day, name in sorted(existing(connection).items()):
            end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
            if end > before:
                continue
            # A short lock on the parent; nothing waits on a partition of past days.
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
            connection.commit()
            dropped.append(name)
    if dropped:
        log.info("position partitions dropped (retention): %s", ", ".join(dropped))
    return dropped


def delete_expired(db: Database, before: datetime, batch: int = DELETE_BATCH) -> int:
    """Delete positions older than ``before`` in batches of ``batch`` (a plain table: SQLite,
    or PostgreSQL before the partitioning migration); how many."""
    total = 0
    row: ColumnClause[Any] = literal_column("rowid" if db.dialect == "sqlite" else "ctid")
    while True:
        with db.write() as session:
            oldest = (select(row).select_from(Position)
                      .where(Position.recorded_at < before).limit(batch))
            result = session.execute(delete(Position).where(row.in_(oldest.scalar_subquery()))
                                     .execution_options(synchronize_session=False))
            count = int(result.rowcount)  # type: ignore[attr-defined]
        total += count
        if count < batch:
            return total


def apply_retention(db: Database, *, now: datetime, retention_days: int) -> int:
    """Partitions ahead, and positions past their retention gone: partitions dropped on
    PostgreSQL (the number of partitions), rows deleted in batches elsewhere (the number of
    rows)."""
    with db.engine.connect() as connection:
        partitioned = is_partitioned(connection)
    before = cutoff(now, retention_days)
    if partitioned:
        ensure_ahead(db, now.date())
        return len(drop_expired(db, before))
    return delete_expired(db, before)


def days_of(stamps: Iterable[datetime]) -> set[date]:
    """The UTC days of some instants."""
    return {stamp.astimezone(UTC).date() for stamp in stamps}
