"""order outages: the outage summary of each finished order (issue 15)

Revision ID: 1500
Revises: 1400
Create Date: 2026-12-04 18:00:00.000000

Written by hand (same schema on SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "1500"
down_revision = "1400"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("order") as batch:
        batch.add_column(sa.Column("outage_summary", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order") as batch:
        batch.drop_column("outage_summary")
