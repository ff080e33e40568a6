"""organisation accounts: members and roles, invitations, listings owned by organisations, confidential demands, ownership-rights status

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_role', sa.String(length=16), nullable=True))
    # everyone who already belongs to an organisation registered it (or was put there by staff): its manager
    op.execute("UPDATE users SET org_role = 'manager' WHERE organisation_id IS NOT NULL")
    op.create_table('organisation_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('org_role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                            name=op.f('fk_organisation_invitations_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_organisation_invitations_invited_by_id_users')),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['users.id'],
                            name=op.f('fk_organisation_invitations_accepted_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation_invitations'))
    )
    with op.batch_alter_table('organisation_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisation_invitations_organisation_id'), ['organisation_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_invitations_token_hash'), ['token_hash'], unique=True)
    with op.batch_alter_table('achievements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rights_status', sa.String(length=16), server_default='none', nullable=False))
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confidential', sa.Boolean(), server_default=sa.false(), nullable=False))
    _sqlite_fts_triggers()


def downgrade() -> None:
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.drop_column('confidential')
    with op.batch_alter_table('achievements', schema=None) as batch_op:
        batch_op.drop_column('rights_status')
    _sqlite_fts_triggers()
    with op.batch_alter_table('organisation_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_invitations_token_hash'))
        batch_op.drop_index(batch_op.f('ix_organisation_invitations_organisation_id'))
    op.drop_table('organisation_invitations')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('org_role')


def _sqlite_fts_triggers() -> None:
    """On SQLite a batch copy of demands or achievements drops the table's full-text triggers (migration 0009; the
    FTS5 table and its rows are untouched, ids do not change): create them again (as 0011 does)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("demands", "achievements"):
        fts = f"{table}_fts"
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
                   f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END")
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END")
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search_terms ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); "
                   f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END")
