"""industry chains: chains, nodes in upstream/midstream/downstream, edges with weight and quantity, and the
placements of listings on nodes (engine or broker)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('industry_chains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('key_chain', sa.Boolean(), nullable=False),
    sa.Column('leaders', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_industry_chains')),
    sa.UniqueConstraint('code', name=op.f('uq_industry_chains_code'))
    )
    op.create_table('chain_nodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['chain_id'], ['industry_chains.id'], name=op.f('fk_chain_nodes_chain_id_industry_chains')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_nodes')),
    sa.UniqueConstraint('chain_id', 'code', name='uq_chain_nodes_chain_code')
    )
    with op.batch_alter_table('chain_nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chain_nodes_chain_id'), ['chain_id'], unique=False)
    op.create_table('chain_edges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('from_id', sa.Integer(), nullable=False),
    sa.Column('to_id', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=True),
    sa.Column('quantity', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['chain_id'], ['industry_chains.id'], name=op.f('fk_chain_edges_chain_id_industry_chains')),
    sa.ForeignKeyConstraint(['from_id'], ['chain_nodes.id'], name=op.f('fk_chain_edges_from_id_chain_nodes')),
    sa.ForeignKeyConstraint(['to_id'], ['chain_nodes.id'], name=op.f('fk_chain_edges_to_id_chain_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_edges')),
    sa.UniqueConstraint('from_id', 'to_id', name='uq_chain_edges_from_to')
    )
    with op.batch_alter_table('chain_edges', schema=None) as batch_op:
        for column in ('chain_id', 'from_id', 'to_id'):
            batch_op.create_index(batch_op.f(f'ix_chain_edges_{column}'), [column], unique=False)
    op.create_table('chain_placements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('chain_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['users.id'], name=op.f('fk_chain_placements_by_id_users')),
    sa.ForeignKeyConstraint(['chain_id'], ['industry_chains.id'], name=op.f('fk_chain_placements_chain_id_industry_chains')),
    sa.ForeignKeyConstraint(['node_id'], ['chain_nodes.id'], name=op.f('fk_chain_placements_node_id_chain_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chain_placements')),
    sa.UniqueConstraint('entity_type', 'entity_id', 'node_id', name='uq_chain_placements_entity_node')
    )
    with op.batch_alter_table('chain_placements', schema=None) as batch_op:
        for column in ('entity_id', 'node_id', 'chain_id'):
            batch_op.create_index(batch_op.f(f'ix_chain_placements_{column}'), [column], unique=False)


def downgrade() -> None:
    op.drop_table('chain_placements')
    op.drop_table('chain_edges')
    op.drop_table('chain_nodes')
    op.drop_table('industry_chains')
