"""windows and days: several and soft order windows, ops group reloads, a route's breaks,
reloads and what bound it

Revision ID: 1800
Revises: 1500
Create Date: 2026-12-04 18:40:00.000000

Written by hand (same schema on SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "1800"
down_revision = "1500"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("order") as batch:
        batch.add_column(sa.Column("time_windows", _JSON, nullable=True))
        batch.add_column(sa.Column("lateness_cost_per_minute", sa.Integer(), nullable=True))
    with op.batch_alter_table("ops_group") as batch:
        batch.add_column(sa.Column("reloads", _JSON, nullable=True))
    with op.batch_alter_table("route") as batch:
        batch.add_column(sa.Column("day_stops", _JSON, nullable=True))
        batch.add_column(sa.Column("bound_by", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route") as batch:
        batch.drop_column("bound_by")
        batch.drop_column("day_stops")
    with op.batch_alter_table("ops_group") as batch:
        batch.drop_column("reloads")
    with op.batch_alter_table("order") as batch:
        batch.drop_column("lateness_cost_per_minute")
        batch.drop_column("time_windows")
