"""regions down to the park (parent, level, GB/T 2260 code, materialised path; region_id on organisations and
listings) and the technology-contract register with yearly region targets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

LISTED = ("organisations", "demands", "achievements")


def upgrade() -> None:
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('level', sa.String(length=16), server_default='province', nullable=False))
        batch_op.add_column(sa.Column('gb_code', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('path', sa.String(length=255), server_default='', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_regions_parent_id_regions'), 'regions', ['parent_id'], ['id'])
        batch_op.create_unique_constraint(batch_op.f('uq_regions_gb_code'), ['gb_code'])
        batch_op.create_index(batch_op.f('ix_regions_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_regions_path'), ['path'], unique=False)
    # the regions so far are provinces (and 'national'), each the root of its own path
    op.execute("UPDATE regions SET path = '/' || CAST(id AS VARCHAR(12)) || '/'")

    conn = op.get_bind()
    for table in LISTED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('region_id', sa.Integer(), nullable=True))
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_region_id_regions'), 'regions', ['region_id'], ['id'])
            batch_op.create_index(batch_op.f(f'ix_{table}_region_id'), ['region_id'], unique=False)
        if conn.dialect.name == "sqlite" and table != "organisations":
            _sqlite_fts_triggers(table)  # the batch copy dropped the table's full-text triggers (0009)
        op.execute(f"UPDATE {table} SET region_id = (SELECT regions.id FROM regions WHERE regions.code = {table}.region)"
                   f" WHERE region IS NOT NULL")

    op.create_table('tech_contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reg_number', sa.String(length=16), nullable=False),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('contract_type', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('seller_name', sa.String(length=200), nullable=False),
    sa.Column('seller_nature', sa.String(length=3), nullable=False),
    sa.Column('seller_region_id', sa.Integer(), nullable=False),
    sa.Column('seller_org_id', sa.Integer(), nullable=True),
    sa.Column('buyer_name', sa.String(length=200), nullable=False),
    sa.Column('buyer_nature', sa.String(length=3), nullable=False),
    sa.Column('buyer_region_id', sa.Integer(), nullable=False),
    sa.Column('buyer_org_id', sa.Integer(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('tech_amount', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('term_from', sa.Date(), nullable=True),
    sa.Column('term_to', sa.Date(), nullable=True),
    sa.Column('field_id', sa.Integer(), nullable=True),
    sa.Column('ip_kind', sa.String(length=16), nullable=False),
    sa.Column('ip_note', sa.String(length=200), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=True),
    sa.Column('achievement_id', sa.Integer(), nullable=True),
    sa.Column('opportunity_id', sa.Integer(), nullable=True),
    sa.Column('challenge_id', sa.Integer(), nullable=True),
    sa.Column('broker_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_tech_contracts_amount_non_negative')),
    sa.CheckConstraint('tech_amount >= 0 AND tech_amount <= amount', name=op.f('ck_tech_contracts_tech_amount_within')),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_tech_contracts_achievement_id_achievements')),
    sa.ForeignKeyConstraint(['broker_id'], ['users.id'], name=op.f('fk_tech_contracts_broker_id_users')),
    sa.ForeignKeyConstraint(['buyer_org_id'], ['organisations.id'], name=op.f('fk_tech_contracts_buyer_org_id_organisations')),
    sa.ForeignKeyConstraint(['buyer_region_id'], ['regions.id'], name=op.f('fk_tech_contracts_buyer_region_id_regions')),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_tech_contracts_challenge_id_challenges')),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_tech_contracts_demand_id_demands')),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], name=op.f('fk_tech_contracts_field_id_fields')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_tech_contracts_opportunity_id_opportunities')),
    sa.ForeignKeyConstraint(['seller_org_id'], ['organisations.id'], name=op.f('fk_tech_contracts_seller_org_id_organisations')),
    sa.ForeignKeyConstraint(['seller_region_id'], ['regions.id'], name=op.f('fk_tech_contracts_seller_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tech_contracts')),
    sa.UniqueConstraint('reg_number', name=op.f('uq_tech_contracts_reg_number'))
    )
    with op.batch_alter_table('tech_contracts', schema=None) as batch_op:
        for column in ('buyer_region_id', 'seller_region_id', 'category', 'status', 'signed_on', 'field_id',
                       'opportunity_id', 'broker_id'):
            batch_op.create_index(batch_op.f(f'ix_tech_contracts_{column}'), [column], unique=False)

    op.create_table('region_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('tech_amount', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('count', sa.Integer(), nullable=True),
    sa.Column('measure', sa.String(length=16), server_default='output', nullable=False),
    sa.Column('set_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_region_targets_region_id_regions')),
    sa.ForeignKeyConstraint(['set_by_id'], ['users.id'], name=op.f('fk_region_targets_set_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_targets')),
    sa.UniqueConstraint('region_id', 'year', name='uq_region_targets_region_year')
    )
    with op.batch_alter_table('region_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_targets_region_id'), ['region_id'], unique=False)


def downgrade() -> None:
    op.drop_table('region_targets')
    op.drop_table('tech_contracts')
    conn = op.get_bind()
    for table in LISTED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_region_id'))
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_region_id_regions'), type_='foreignkey')
            batch_op.drop_column('region_id')
        if conn.dialect.name == "sqlite" and table != "organisations":
            _sqlite_fts_triggers(table)  # the batch copy dropped the table's full-text triggers (0009)
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_path'))
        batch_op.drop_index(batch_op.f('ix_regions_parent_id'))
        batch_op.drop_constraint(batch_op.f('uq_regions_gb_code'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_regions_parent_id_regions'), type_='foreignkey')
        batch_op.drop_column('path')
        batch_op.drop_column('gb_code')
        batch_op.drop_column('level')
        batch_op.drop_column('parent_id')


def _sqlite_fts_triggers(table: str) -> None:
    """The full-text triggers of migration 0009 on a table that a batch copy rebuilt (the FTS5 table itself
    and its rows are untouched: ids do not change)."""
    fts = f"{table}_fts"
    op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
               f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END")
    op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END")
    op.execute(f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search_terms ON {table} BEGIN "
               f"INSERT INTO {fts}({fts}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); "
               f"INSERT INTO {fts}(rowid, search_terms) VALUES (new.id, new.search_terms); END")
