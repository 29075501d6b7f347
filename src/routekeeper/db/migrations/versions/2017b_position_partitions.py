"""positions partitioned by day on PostgreSQL

Revision ID: 2017b
Revises: 2017
Create Date: 2026-12-04 21:30:00.000000

Written by hand; PostgreSQL only (SQLite keeps its plain table and deletes old positions in
batches). ``position`` becomes a table range-partitioned by ``recorded_at``, one partition
per UTC day (``position_pYYYYMMDD``), with the same columns and primary key. Every existing
row is moved, in this migration's transaction: a partition for each day that has positions,
and for yesterday, today and seven days ahead (``tracking.retention`` keeps creating them
ahead). The downgrade moves the rows back into a plain table.

The SQL is written out here rather than taken from ``tracking/partitions.py``, so this
revision keeps doing what it did when the code moves on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from alembic import op
from sqlalchemy import text

revision = "2017b"
down_revision = "2017"
branch_labels = None
depends_on = None

_COLUMNS = ("account_id, device_id, recorded_at, received_at, lon, lat, accuracy, speed, "
            "bearing, altitude, battery")


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE position RENAME TO position_unpartitioned")
    op.execute("ALTER TABLE position_unpartitioned "
               "RENAME CONSTRAINT pk_position TO pk_position_unpartitioned")
    op.execute("CREATE TABLE position (LIKE position_unpartitioned INCLUDING DEFAULTS) "
               "PARTITION BY RANGE (recorded_at)")
    op.execute("ALTER TABLE position ADD CONSTRAINT pk_position "
               "PRIMARY KEY (account_id, device_id, recorded_at)")
    days = {row[0] for row in bind.execute(text(
        "SELECT DISTINCT (recorded_at AT TIME ZONE 'UTC')::date FROM position_unpartitioned"))}
    today = datetime.now(UTC).date()
    days |= {today + timedelta(days=n) for n in range(-1, 8)}
    for day in sorted(days):
        op.execute(f'CREATE TABLE "position_p{day:%Y%m%d}" PARTITION OF position '
                   f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')")
    op.execute(f"INSERT INTO position ({_COLUMNS}) "
               f"SELECT {_COLUMNS} FROM position_unpartitioned")
    op.execute("DROP TABLE position_unpartitioned")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE position RENAME TO position_partitioned")
    op.execute("ALTER TABLE position_partitioned "
               "RENAME CONSTRAINT pk_position TO pk_position_partitioned")
    op.execute("CREATE TABLE position (LIKE position_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER TABLE position ADD CONSTRAINT pk_position "
               "PRIMARY KEY (account_id, device_id, recorded_at)")
    op.execute(f"INSERT INTO position ({_COLUMNS}) "
               f"SELECT {_COLUMNS} FROM position_partitioned")
    op.execute("DROP TABLE position_partitioned")  # drops its partitions with it
