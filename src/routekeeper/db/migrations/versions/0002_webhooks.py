"""webhooks: the webhook_endpoint and webhook_delivery tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_endpoint',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('event_types', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('previous_secret', sa.String(length=100), nullable=True),
    sa.Column('previous_secret_expires_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failing_since', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('disabled_reason', sa.String(length=500), nullable=True),
    sa.Column('disabled_notification', sa.Text(), nullable=True),
    sa.Column('created_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.account_id'], name=op.f('fk_webhook_endpoint_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id', name=op.f('pk_webhook_endpoint'))
    )
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_endpoint_account', ['account_id', 'created_at', 'id'], unique=False)

    op.create_table('webhook_delivery',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('endpoint_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_seq', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('replay', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('webhook_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('first_attempt_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_http_status', sa.Integer(), nullable=True),
    sa.Column('last_response_text', sa.Text(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('locked_by', sa.String(length=64), nullable=True),
    sa.Column('locked_until', routekeeper.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'endpoint_id'], ['webhook_endpoint.account_id', 'webhook_endpoint.id'], name=op.f('fk_webhook_delivery_account_id_endpoint_id_webhook_endpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['outbox_event.id'], name=op.f('fk_webhook_delivery_event_id_outbox_event'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id', name=op.f('pk_webhook_delivery'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_due', ['endpoint_id', 'status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_delivery_endpoint', ['account_id', 'endpoint_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_event', ['event_id', 'endpoint_id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_pending', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('uq_webhook_delivery_original', ['endpoint_id', 'event_id'], unique=True, sqlite_where=sa.text('NOT replay'), postgresql_where=sa.text('NOT replay'))


def downgrade() -> None:
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('uq_webhook_delivery_original', sqlite_where=sa.text('NOT replay'), postgresql_where=sa.text('NOT replay'))
        batch_op.drop_index('ix_webhook_delivery_pending')
        batch_op.drop_index('ix_webhook_delivery_event')
        batch_op.drop_index('ix_webhook_delivery_endpoint')
        batch_op.drop_index('ix_webhook_delivery_due')
        batch_op.drop_index('ix_webhook_delivery_batch')

    op.drop_table('webhook_delivery')
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_endpoint_account')

    op.drop_table('webhook_endpoint')
