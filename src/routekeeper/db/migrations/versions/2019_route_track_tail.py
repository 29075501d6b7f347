"""route.track_tail: the tracking batches run since the route's state was last written

Revision ID: 2019
Revises: 2018
Create Date: 2026-12-07 04:30:00.000000

Written by hand (same schema on SQLite and PostgreSQL). The tracking processor appends a
batch without an event to this short list instead of rewriting the whole
``route.track_state``; the state is the latter with the list replayed. Existing rows start
without a tail (their state is complete).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from routekeeper.db.types import PortableJSON

revision = "2019"
down_revision = "2018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route", sa.Column("track_tail", PortableJSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route") as batch:
        batch.drop_column("track_tail")
