"""ingest inbox: one row a device's upload (a parcel of fixes), not one row a fix

Revision ID: 2022
Revises: 2021
Create Date: 2026-12-07 20:10:00.000000

Written by hand (same schema on SQLite and PostgreSQL). A batch of 100 fixes was 100 inbox
rows inserted with their two index entries, deleted again by the processor and decoded by it
column by column; now it is one row whose ``fixes`` hold the values as a JSON array
(models/position_inbox.py). Fixes waiting at the upgrade become parcels of one fix each, in
their order, so nothing waiting is lost or reordered; the downgrade unpacks them again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

import routekeeper.db.types

revision = "2022"
down_revision = "2021"
branch_labels = None
depends_on = None

_VALUES = ("recorded_at", "lon", "lat", "accuracy", "speed", "bearing", "altitude", "battery")


def _utc() -> routekeeper.db.types.UTCDateTime:
    return routekeeper.db.types.UTCDateTime(timezone=True)


def _columns_of_a_fix() -> list[sa.Column[Any]]:
    return [sa.Column("recorded_at", _utc(), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False),
            sa.Column("lat", sa.Float(), nullable=False),
            *(sa.Column(name, sa.Float(), nullable=True)
              for name in ("accuracy", "speed", "bearing", "altitude", "battery"))]


def _columns_of_a_parcel() -> list[sa.Column[Any]]:
    return [sa.Column("fix_count", sa.Integer(), nullable=False),
            sa.Column("fixes", sa.Text(), nullable=False)]


def _create(columns: list[sa.Column[Any]]) -> sa.Table:
    table = op.create_table(
        "position_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_inbox")),
    )
    op.create_index("ix_position_inbox_device", "position_inbox",
                    ["account_id", "device_id", "id"])
    assert table is not None
    return table


def _set_aside(columns: list[sa.Column[Any]]) -> sa.Table:
    """The current inbox (with these columns besides the common ones) renamed out of the way,
    its index and key too (on PostgreSQL their names are the schema's); returned for
    reading."""
    op.drop_index("ix_position_inbox_device", table_name="position_inbox")
    op.rename_table("position_inbox", "position_inbox_old")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE position_inbox_old "
                   "RENAME CONSTRAINT pk_position_inbox TO pk_position_inbox_old")
    return sa.Table("position_inbox_old", sa.MetaData(), sa.Column("id", sa.BigInteger()),
                    sa.Column("account_id", sa.String()), sa.Column("device_id", sa.String()),
                    sa.Column("received_at", _utc()), *columns)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def upgrade() -> None:
    old = _set_aside(_columns_of_a_fix())
    parcels = _create(_columns_of_a_parcel())
    connection = op.get_bind()
    rows = connection.execute(sa.select(old).order_by(old.c.id)).mappings().all()
    if rows:
        connection.execute(parcels.insert(), [{
            "account_id": row["account_id"], "device_id": row["device_id"],
            "received_at": row["received_at"], "fix_count": 1,
            "fixes": orjson.dumps([[row["recorded_at"],
                                    *(row[name] for name in _VALUES[1:])]]).decode(),
        } for row in rows])
    op.drop_table("position_inbox_old")


def downgrade() -> None:
    old = _set_aside(_columns_of_a_parcel())
    single = _create(_columns_of_a_fix())
    connection = op.get_bind()
    rows = connection.execute(sa.select(old).order_by(old.c.id)).mappings().all()
    unpacked = [{"account_id": row["account_id"], "device_id": row["device_id"],
                 "received_at": row["received_at"],
                 **dict(zip(_VALUES, values, strict=True)),
                 "recorded_at": _instant(values[0])}
                for row in rows for values in orjson.loads(row["fixes"])]
    if unpacked:
        connection.execute(single.insert(), unpacked)
    op.drop_table("position_inbox_old")
