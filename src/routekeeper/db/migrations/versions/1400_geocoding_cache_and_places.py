"""geocoding cache and places: the per-account geocoder cache, places and their history

Revision ID: 1400
Revises: 0008
Create Date: 2026-12-04 18:17:43.326476
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import routekeeper.db.types

revision = '1400'
down_revision = '0008'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table('geocode_cache',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('result', _JSON, nullable=False),
    sa.Column('created_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.account_id'], name=op.f('fk_geocode_cache_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'key', name=op.f('pk_geocode_cache'))
    )
    op.create_table('place',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('place_id', sa.String(length=36), nullable=False),
    sa.Column('place_handle', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=True),
    sa.Column('geometry', _JSON, nullable=False),
    sa.Column('radius', sa.Integer(), nullable=True),
    sa.Column('center_lon', sa.Float(), nullable=False),
    sa.Column('center_lat', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=1000), nullable=True),
    sa.Column('address_components', _JSON, nullable=True),
    sa.Column('region', _JSON, nullable=True),
    sa.Column('place_type', sa.String(length=32), nullable=True),
    sa.Column('timings', _JSON, nullable=False),
    sa.Column('closed_on', _JSON, nullable=False),
    sa.Column('expected_service_time', sa.Integer(), nullable=True),
    sa.Column('metadata', _JSON, nullable=False),
    sa.Column('parkings', _JSON, nullable=False),
    sa.Column('checkins', _JSON, nullable=False),
    sa.Column('visit_detection_config', _JSON, nullable=True),
    sa.Column('created_by', _JSON, nullable=True),
    sa.Column('updated_by', _JSON, nullable=True),
    sa.Column('created_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.account_id'], name=op.f('fk_place_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'place_id', name=op.f('pk_place')),
    sa.UniqueConstraint('account_id', 'place_handle', name='uq_place_account_handle')
    )
    with op.batch_alter_table('place', schema=None) as batch_op:
        batch_op.create_index('ix_place_account_created', ['account_id', 'created_at', 'place_id'], unique=False)

    op.create_table('place_history',
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('audit_id', sa.String(length=36), nullable=False),
    sa.Column('place_id', sa.String(length=36), nullable=False),
    sa.Column('place_handle', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=8), nullable=False),
    sa.Column('changes', _JSON, nullable=False),
    sa.Column('changed_by', _JSON, nullable=True),
    sa.Column('changed_at', routekeeper.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.account_id'], name=op.f('fk_place_history_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'audit_id', name=op.f('pk_place_history'))
    )
    with op.batch_alter_table('place_history', schema=None) as batch_op:
        batch_op.create_index('ix_place_history_handle', ['account_id', 'place_handle', 'changed_at', 'audit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('place_history', schema=None) as batch_op:
        batch_op.drop_index('ix_place_history_handle')

    op.drop_table('place_history')
    with op.batch_alter_table('place', schema=None) as batch_op:
        batch_op.drop_index('ix_place_account_created')

    op.drop_table('place')
    op.drop_table('geocode_cache')
