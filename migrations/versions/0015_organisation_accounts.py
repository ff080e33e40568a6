"""organisation accounts: members and roles, invitations, listings owned by organisations, confidential demands, ownership-rights status

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
