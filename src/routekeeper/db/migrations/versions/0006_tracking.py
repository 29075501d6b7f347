"""tracking: devices and positions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00.000000

Written by hand (same schema on SQLite and PostgreSQL). ``position`` has no foreign key and a
primary key that ends with ``recorded_at``, so an operator can turn it into a table
range-partitioned by ``recorded_at`` on PostgreSQL (docs/tracking.md, "Partitioning").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> routekeeper.db.types.UTCDateTime:
    return routekeeper.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "device",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("worker_handle", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_rotated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("last_recorded_at", _utc(), nullable=True),
        sa.Column("last_received_at", _utc(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("last_accuracy", sa.Float(), nullable=True),
        sa.Column("last_speed", sa.Float(), nullable=True),
        sa.Column("last_bearing", sa.Float(), nullable=True),
        sa.Column("last_altitude", sa.Float(), nullable=True),
        sa.Column("last_battery", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.account_id"],
            name=op.f("fk_device_account_id_account"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "worker_handle"], ["worker.account_id", "worker.worker_handle"],
            name=op.f("fk_device_account_id_worker_handle_worker"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "device_id", name=op.f("pk_device")),
    )
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.create_index("ix_device_account_worker", ["account_id", "worker_handle"],
                              unique=False)
        batch_op.create_index("ix_device_key_prefix", ["key_prefix"], unique=False)

    op.create_table(
        "position",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("bearing", sa.Float(), nullable=True),
        sa.Column("altitude", sa.Float(), nullable=True),
        sa.Column("battery", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", "device_id", "recorded_at",
                                name=op.f("pk_position")),
    )


def downgrade() -> None:
    op.drop_table("position")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index("ix_device_key_prefix")
        batch_op.drop_index("ix_device_account_worker")
    op.drop_table("device")
