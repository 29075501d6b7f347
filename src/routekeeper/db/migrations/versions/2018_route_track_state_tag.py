"""route.track_state_tag: which stored tracking state a processor's decoded copy is

Revision ID: 2018
Revises: 2017b
Create Date: 2026-12-06 04:45:00.000000

Written by hand (same schema on SQLite and PostgreSQL). A random tag written with every
``route.track_state``; the tracking processor keeps the states it wrote decoded in memory
and uses one only while the row still carries its tag. Existing rows start without a tag
(their next write gives them one).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2018"
down_revision = "2017b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route", sa.Column("track_state_tag", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route") as batch:
        batch.drop_column("track_state_tag")
