"""the service directory (科技大市场): providers and their review

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('fields', sa.String(length=400), nullable=False),
    sa.Column('region', sa.String(length=32), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('services', sa.Text(), nullable=False),
    sa.Column('equipment', sa.Text(), nullable=False),
    sa.Column('capacity', sa.String(length=300), nullable=False),
    sa.Column('stages', sa.String(length=80), nullable=False),
    sa.Column('ticket_min', sa.Float(), nullable=True),
    sa.Column('ticket_max', sa.Float(), nullable=True),
    sa.Column('website', sa.String(length=200), nullable=False),
    sa.Column('contact_name', sa.String(length=50), nullable=False),
    sa.Column('contact_phone', sa.String(length=32), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_providers_owner_id_users')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_providers_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers'))
    )
    with op.batch_alter_table('providers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_providers_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_providers_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_providers_region_id'), ['region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_providers_status'), ['status'], unique=False)

    op.create_table('provider_contact_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'],
                            name=op.f('fk_provider_contact_requests_provider_id_providers')),
    sa.ForeignKeyConstraint(['requester_id'], ['users.id'],
                            name=op.f('fk_provider_contact_requests_requester_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_contact_requests'))
    )
    with op.batch_alter_table('provider_contact_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_contact_requests_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_provider_contact_requests_requester_id'), ['requester_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_provider_contact_requests_status'), ['status'], unique=False)
        batch_op.create_index('uq_provider_contact_requests_live', ['provider_id', 'requester_id'], unique=True,
                              sqlite_where=sa.text("status IN ('requested', 'accepted')"),
                              postgresql_where=sa.text("status IN ('requested', 'accepted')"))


def downgrade() -> None:
    op.drop_table('provider_contact_requests')
    op.drop_table('providers')
