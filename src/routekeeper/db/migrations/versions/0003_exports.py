"""exports: the order_export table

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('order_export',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filters', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('email_recipients', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=True),
    sa.Column('rows_processed', sa.Integer(), nullable=False),
    sa.Column('storage', sa.String(length=8), nullable=True),
    sa.Column('storage_key', sa.String(length=500), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('mail_status', sa.String(length=16), nullable=True),
    sa.Column('mail_error', sa.Text(), nullable=True),
    sa.Column('mail_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.account_id'], name=op.f('fk_order_export_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id', name=op.f('pk_order_export'))
    )
    with op.batch_alter_table('order_export', schema=None) as batch_op:
        batch_op.create_index('ix_order_export_id', ['id'], unique=True)
        batch_op.create_index('ix_order_export_status', ['status'], unique=False)
        batch_op.create_index('uq_order_export_idempotency', ['account_id', 'idempotency_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('order_export', schema=None) as batch_op:
        batch_op.drop_index('uq_order_export_idempotency')
        batch_op.drop_index('ix_order_export_status')
        batch_op.drop_index('ix_order_export_id')

    op.drop_table('order_export')
