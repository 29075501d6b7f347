"""ingest inbox: positions stored first, processed by the workers right after

Revision ID: 2017
Revises: 1900
Create Date: 2026-12-04 21:00:00.000000

Written by hand (same schema on SQLite and PostgreSQL). Positions received before this
revision were processed inside their uploads; the inbox starts empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import routekeeper.db.types

revision = "2017"
down_revision = "1900"
branch_labels = None
depends_on = None


def _utc() -> routekeeper.db.types.UTCDateTime:
    return routekeeper.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "position_inbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_position_inbox")),
    )
    op.create_index("ix_position_inbox_device", "position_inbox",
                    ["account_id", "device_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_position_inbox_device", table_name="position_inbox")
    op.drop_table("position_inbox")
