"""job queue: idempotency key, attempts, heartbeat

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_jobs_key'), ['key'])
        batch_op.create_index(batch_op.f('ix_jobs_heartbeat_at'), ['heartbeat_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_heartbeat_at'))
        batch_op.drop_constraint(batch_op.f('uq_jobs_key'), type_='unique')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('key')
