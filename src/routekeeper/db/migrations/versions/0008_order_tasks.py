"""order tasks and task definitions

Revision ID: 0008
Revises: 0002, 0003, 0009
Create Date: 2026-11-29 12:05:00.000000

Written by hand (same schema on SQLite and PostgreSQL). Also merges the open heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = "0008"
down_revision = ("0002", "0003", "0009")
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _utc() -> routekeeper.db.types.UTCDateTime:
    return routekeeper.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_task",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("task_definition_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("metadata", _JSON, nullable=True),
        sa.Column("priority", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attachments", _JSON, nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "order_id"], ["order.account_id", "order.id"],
            name=op.f("fk_order_task_account_id_order_id_order"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "task_id", name=op.f("pk_order_task")),
    )
    with op.batch_alter_table("order_task", schema=None) as batch_op:
        batch_op.create_index("ix_order_task_account_order",
                              ["account_id", "order_id", "created_at"], unique=False)

    op.create_table(
        "task_definition",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("task_definition_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("tasks", _JSON, nullable=False),
        sa.Column("ops_group_handle", sa.String(length=200), nullable=True),
        sa.Column("metadata", _JSON, nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.account_id"],
            name=op.f("fk_task_definition_account_id_account"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "task_definition_id",
                                name=op.f("pk_task_definition")),
    )
    with op.batch_alter_table("task_definition", schema=None) as batch_op:
        batch_op.create_index("ix_task_definition_account_created",
                              ["account_id", "created_at", "task_definition_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_definition", schema=None) as batch_op:
        batch_op.drop_index("ix_task_definition_account_created")
    op.drop_table("task_definition")
    with op.batch_alter_table("order_task", schema=None) as batch_op:
        batch_op.drop_index("ix_order_task_account_order")
    op.drop_table("order_task")
