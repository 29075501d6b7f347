"""request ids on jobs; rate-limit buckets

Revision ID: 1900
Revises: 1800
Create Date: 2026-12-04 18:30:00.000000

Written by hand. The bucket table is UNLOGGED on PostgreSQL: limits are soft state that a
crash may forget, and skipping the WAL makes the one write per request cheap.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "1900"
down_revision = "1800"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
    prefixes = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_limit_bucket",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tat_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_bucket")),
        prefixes=prefixes,
    )


def downgrade() -> None:
    op.drop_table("rate_limit_bucket")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("request_id")
