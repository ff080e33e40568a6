"""advisory panels (科技顾问团): advisor profiles, panels, reviews

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('advisor_profiles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('perspective', sa.String(length=16), nullable=False),
    sa.Column('expertise', sa.Text(), nullable=False),
    sa.Column('fields', sa.String(length=500), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_advisor_profiles_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_advisor_profiles_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_advisor_profiles')),
    sa.UniqueConstraint('user_id', name=op.f('uq_advisor_profiles_user_id'))
    )
    with op.batch_alter_table('advisor_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_advisor_profiles_organisation_id'), ['organisation_id'], unique=False)
    op.create_table('advisory_panels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('roadshow_id', sa.Integer(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('gate', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_advisory_panels_achievement_id_achievements')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_advisory_panels_created_by_id_users')),
    sa.ForeignKeyConstraint(['roadshow_id'], ['roadshows.id'], name=op.f('fk_advisory_panels_roadshow_id_roadshows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_advisory_panels'))
    )
    with op.batch_alter_table('advisory_panels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_advisory_panels_achievement_id'), ['achievement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_advisory_panels_roadshow_id'), ['roadshow_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_advisory_panels_status'), ['status'], unique=False)
    op.create_table('panel_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('panel_id', sa.Integer(), nullable=False),
    sa.Column('advisor_id', sa.Integer(), nullable=False),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['advisor_id'], ['users.id'], name=op.f('fk_panel_members_advisor_id_users')),
    sa.ForeignKeyConstraint(['panel_id'], ['advisory_panels.id'], name=op.f('fk_panel_members_panel_id_advisory_panels'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_members')),
    sa.UniqueConstraint('panel_id', 'advisor_id', name='uq_panel_members_panel_advisor')
    )
    with op.batch_alter_table('panel_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_panel_members_advisor_id'), ['advisor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_panel_members_panel_id'), ['panel_id'], unique=False)
    op.create_table('panel_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('tech_score', sa.Integer(), nullable=False),
    sa.Column('market_score', sa.Integer(), nullable=False),
    sa.Column('value_score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('value_min', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('value_max', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('tech_score BETWEEN 1 AND 5', name=op.f('ck_panel_reviews_tech_score_range')),
    sa.CheckConstraint('market_score BETWEEN 1 AND 5', name=op.f('ck_panel_reviews_market_score_range')),
    sa.CheckConstraint('value_score BETWEEN 1 AND 5', name=op.f('ck_panel_reviews_value_score_range')),
    sa.ForeignKeyConstraint(['member_id'], ['panel_members.id'], name=op.f('fk_panel_reviews_member_id_panel_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panel_reviews')),
    sa.UniqueConstraint('member_id', name=op.f('uq_panel_reviews_member_id'))
    )


def downgrade() -> None:
    op.drop_table('panel_reviews')
    with op.batch_alter_table('panel_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_panel_members_panel_id'))
        batch_op.drop_index(batch_op.f('ix_panel_members_advisor_id'))
    op.drop_table('panel_members')
    with op.batch_alter_table('advisory_panels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_advisory_panels_status'))
        batch_op.drop_index(batch_op.f('ix_advisory_panels_roadshow_id'))
        batch_op.drop_index(batch_op.f('ix_advisory_panels_achievement_id'))
    op.drop_table('advisory_panels')
    with op.batch_alter_table('advisor_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_advisor_profiles_organisation_id'))
    op.drop_table('advisor_profiles')
