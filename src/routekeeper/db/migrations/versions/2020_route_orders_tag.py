"""route.orders_tag: which writing of a route's orders a processor's copy of them is

Revision ID: 2020
Revises: 2019
Create Date: 2026-12-07 07:00:00.000000

Written by hand (same schema on SQLite and PostgreSQL). A random tag that changes with every
write of any of the route's orders (models/orders_tag.py); the tracking processor keeps the
order rows it read and wrote in memory and reads them again only when the tag moved.
Existing rows start without a tag: their orders are read every time until one is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "2020"
down_revision = "2019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("route", sa.Column("orders_tag", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("route") as batch:
        batch.drop_column("orders_tag")
