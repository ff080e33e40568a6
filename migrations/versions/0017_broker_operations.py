"""broker operations: routing rules, assignments, broker profiles, demands entered on behalf

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('broker_profiles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('certificate_level', sa.String(length=16), nullable=True),
    sa.Column('certificate_number', sa.String(length=40), nullable=False),
    sa.Column('training_hours', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_broker_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_broker_profiles'))
    )
    op.create_table('routing_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('rr_position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_broker_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], name=op.f('fk_routing_rules_field_id_fields')),
    sa.ForeignKeyConstraint(['last_broker_id'], ['users.id'], name=op.f('fk_routing_rules_last_broker_id_users')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_routing_rules_region_id_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rules'))
    )
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_rules_field_id'), ['field_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_rules_region_id'), ['region_id'], unique=False)

    op.create_table('broker_profile_fields',
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], name=op.f('fk_broker_profile_fields_field_id_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['profile_id'], ['broker_profiles.user_id'], name=op.f('fk_broker_profile_fields_profile_id_broker_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('profile_id', 'field_id', name=op.f('pk_broker_profile_fields'))
    )
    op.create_table('broker_profile_regions',
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['profile_id'], ['broker_profiles.user_id'], name=op.f('fk_broker_profile_regions_profile_id_broker_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_broker_profile_regions_region_id_regions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('profile_id', 'region_id', name=op.f('pk_broker_profile_regions'))
    )
    op.create_table('demand_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('broker_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('assigned_by', sa.String(length=16), nullable=False),
    sa.Column('assigned_by_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['assigned_by_id'], ['users.id'], name=op.f('fk_demand_assignments_assigned_by_id_users')),
    sa.ForeignKeyConstraint(['broker_id'], ['users.id'], name=op.f('fk_demand_assignments_broker_id_users')),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_demand_assignments_demand_id_demands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['routing_rules.id'], name=op.f('fk_demand_assignments_rule_id_routing_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_assignments'))
    )
    with op.batch_alter_table('demand_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_assignments_broker_id'), ['broker_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_demand_assignments_demand_id'), ['demand_id'], unique=False)
        batch_op.create_index('uq_demand_assignments_active', ['demand_id'], unique=True, sqlite_where=sa.text('active = 1'), postgresql_where=sa.text('active'))

    op.create_table('demand_entries',
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.Column('broker_id', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['broker_id'], ['users.id'], name=op.f('fk_demand_entries_broker_id_users')),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_demand_entries_demand_id_demands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('demand_id', name=op.f('pk_demand_entries'))
    )
    with op.batch_alter_table('demand_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demand_entries_broker_id'), ['broker_id'], unique=False)

    op.create_table('routing_rule_brokers',
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('broker_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['broker_id'], ['users.id'], name=op.f('fk_routing_rule_brokers_broker_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['routing_rules.id'], name=op.f('fk_routing_rule_brokers_rule_id_routing_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'broker_id', name=op.f('pk_routing_rule_brokers'))
    )


def downgrade() -> None:
    op.drop_table('routing_rule_brokers')
    with op.batch_alter_table('demand_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demand_entries_broker_id'))
    op.drop_table('demand_entries')
    with op.batch_alter_table('demand_assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_demand_assignments_active', sqlite_where=sa.text('active = 1'), postgresql_where=sa.text('active'))
        batch_op.drop_index(batch_op.f('ix_demand_assignments_demand_id'))
        batch_op.drop_index(batch_op.f('ix_demand_assignments_broker_id'))
    op.drop_table('demand_assignments')
    op.drop_table('broker_profile_regions')
    op.drop_table('broker_profile_fields')
    with op.batch_alter_table('routing_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_rules_region_id'))
        batch_op.drop_index(batch_op.f('ix_routing_rules_field_id'))
    op.drop_table('routing_rules')
    op.drop_table('broker_profiles')
