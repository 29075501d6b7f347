"""workers' tracking status; ops groups' radius, schedule and automations; worker exports

Revision ID: 2015a
Revises: 2017b
Create Date: 2026-12-04 21:25:00.000000

Written by hand (issue 15 item 4). Every new column has a server default or is nullable,
so existing rows need no backfill: workers are not tracking, ops groups have no radius, no
schedule and no automation, and existing exports are order exports.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "2015a"
down_revision = "2017b"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("worker") as batch:
        batch.add_column(sa.Column("tracking", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("ops_group") as batch:
        batch.add_column(sa.Column("operations_radius", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("enforce_operations_radius", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("schedule", _JSON, nullable=True))
        batch.add_column(sa.Column("order_tracking_automation", _JSON, nullable=True))
        batch.add_column(sa.Column("work_status_automation", _JSON, nullable=True))
    with op.batch_alter_table("order_export") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                   server_default="orders"))


def downgrade() -> None:
    with op.batch_alter_table("order_export") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("ops_group") as batch:
        for column in ("work_status_automation", "order_tracking_automation", "schedule",
                       "enforce_operations_radius", "operations_radius"):
            batch.drop_column(column)
    with op.batch_alter_table("worker") as batch:
        batch.drop_column("tracking")
