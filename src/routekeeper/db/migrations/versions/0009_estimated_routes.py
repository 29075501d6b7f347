"""estimated routes: the drive behind each ETA webhook

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-29 12:00:00.000000

Written by hand (same schema on SQLite and PostgreSQL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "estimated_route",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("estimated_route_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("polyline", _JSON, nullable=False),
        sa.Column("start_location", _JSON, nullable=True),
        sa.Column("end_location", _JSON, nullable=True),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("created_at", routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.account_id"],
            name=op.f("fk_estimated_route_account_id_account"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "estimated_route_id",
                                name=op.f("pk_estimated_route")),
    )


def downgrade() -> None:
    op.drop_table("estimated_route")
