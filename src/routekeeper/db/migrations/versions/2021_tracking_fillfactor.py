"""route and order pages keep room for their rows' next versions (fillfactor 70, PostgreSQL)

Revision ID: 2021
Revises: 2020
Create Date: 2026-12-07 17:45:00.000000

Written by hand. The tracking processor rewrites a route's row with nearly every batch of its
fixes (its state's tail, its actuals) and its orders' rows with their estimates and risks.
None of those columns is indexed, so PostgreSQL can write the new version beside the old one
without touching the indexes (a HOT update) when the page has room: with full pages, two
thirds of the routes' and six in seven of the orders' updates inserted into every index of
their table (five and seven indexes) in a fleet benchmark of 800 phones; with 30 % of each page
kept free, 99 % and 100 % were HOT. Pages written before this keep no room until they are
rewritten (``VACUUM FULL``); new ones do. SQLite has no such setting.
"""

from __future__ import annotations

from alembic import op

revision = "2021"
down_revision = "2020"
branch_labels = None
depends_on = None

_TABLES = ("route", '"order"')


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
