"""the year-round roadshow programme (types, city/region, agenda, open registration with a waiting list,
applications to present, live/recording/meeting links) and 揭榜挂帅 end to end (demands behind a challenge,
发榜方, budget, several winners, joint applications, milestones, acceptance scores)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 00:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('roadshows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='achievement', nullable=False))
        batch_op.add_column(sa.Column('city', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('region_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('agenda', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('open_registration', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('meeting_link_template', sa.String(length=300), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('tickets', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_roadshows_region_id_regions'), 'regions', ['region_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_roadshows_region_id'), ['region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roadshows_kind'), ['kind'], unique=False)
    with op.batch_alter_table('roadshow_presenters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live_link', sa.String(length=300), server_default='', nullable=False))
        batch_op.add_column(sa.Column('recording_link', sa.String(length=300), server_default='', nullable=False))
    with op.batch_alter_table('roadshow_invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('participant', sa.String(length=16), server_default='company', nullable=False))
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='invited', nullable=False))
        batch_op.add_column(sa.Column('ticket', sa.Integer(), nullable=True))
    with op.batch_alter_table('roadshow_meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meeting_link', sa.String(length=300), server_default='', nullable=False))
    op.create_table('roadshow_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('roadshow_id', sa.Integer(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=False),
    sa.Column('pitch', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='submitted', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'],
                            name=op.f('fk_roadshow_applications_achievement_id_achievements')),
    sa.ForeignKeyConstraint(['applicant_id'], ['users.id'], name=op.f('fk_roadshow_applications_applicant_id_users')),
    sa.ForeignKeyConstraint(['roadshow_id'], ['roadshows.id'], name=op.f('fk_roadshow_applications_roadshow_id_roadshows'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roadshow_applications')),
    sa.UniqueConstraint('roadshow_id', 'achievement_id', name='uq_roadshow_applications_pair')
    )
    with op.batch_alter_table('roadshow_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roadshow_applications_applicant_id'), ['applicant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roadshow_applications_roadshow_id'), ['roadshow_id'], unique=False)

    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer_org_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('budget', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('max_winners', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_challenges_issuer_org_id_organisations'), 'organisations',
                                    ['issuer_org_id'], ['id'])
    with op.batch_alter_table('challenge_applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('opportunity_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acceptance_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('acceptance_passed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', sa.DateTime(), nullable=True))
    op.create_table('challenge_demands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('challenge_id', sa.Integer(), nullable=False),
    sa.Column('demand_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_challenge_demands_challenge_id_challenges'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['demand_id'], ['demands.id'], name=op.f('fk_challenge_demands_demand_id_demands')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenge_demands')),
    sa.UniqueConstraint('challenge_id', 'demand_id', name='uq_challenge_demands_pair')
    )
    with op.batch_alter_table('challenge_demands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_demands_challenge_id'), ['challenge_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_challenge_demands_demand_id'), ['demand_id'], unique=False)
    op.create_table('challenge_partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['challenge_applications.id'],
                            name=op.f('fk_challenge_partners_application_id_challenge_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                            name=op.f('fk_challenge_partners_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenge_partners')),
    sa.UniqueConstraint('application_id', 'organisation_id', name='uq_challenge_partners_pair')
    )
    with op.batch_alter_table('challenge_partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_partners_application_id'), ['application_id'], unique=False)
    op.create_table('challenge_milestones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('deliverable', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('progress', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['challenge_applications.id'],
                            name=op.f('fk_challenge_milestones_application_id_challenge_applications'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenge_milestones'))
    )
    with op.batch_alter_table('challenge_milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_milestones_application_id'), ['application_id'], unique=False)
    op.create_table('challenge_acceptance_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('panelist_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['challenge_applications.id'],
                            name=op.f('fk_challenge_acceptance_scores_application_id_challenge_applications'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['panelist_id'], ['users.id'], name=op.f('fk_challenge_acceptance_scores_panelist_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenge_acceptance_scores')),
    sa.UniqueConstraint('application_id', 'panelist_id', name='uq_challenge_acceptance_scores_pair')
    )
    with op.batch_alter_table('challenge_acceptance_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_challenge_acceptance_scores_application_id'), ['application_id'],
                              unique=False)


def downgrade() -> None:
    for table in ('challenge_acceptance_scores', 'challenge_milestones', 'challenge_partners', 'challenge_demands',
                  'roadshow_applications'):
        op.drop_table(table)
    with op.batch_alter_table('challenge_applications', schema=None) as batch_op:
        for name in ('accepted_at', 'acceptance_passed', 'acceptance_score', 'opportunity_id', 'place'):
            batch_op.drop_column(name)
    with op.batch_alter_table('challenges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_challenges_issuer_org_id_organisations'), type_='foreignkey')
        for name in ('max_winners', 'budget', 'issuer_org_id'):
            batch_op.drop_column(name)
    with op.batch_alter_table('roadshow_meetings', schema=None) as batch_op:
        batch_op.drop_column('meeting_link')
    with op.batch_alter_table('roadshow_invitations', schema=None) as batch_op:
        for name in ('ticket', 'source', 'participant'):
            batch_op.drop_column(name)
    with op.batch_alter_table('roadshow_presenters', schema=None) as batch_op:
        batch_op.drop_column('recording_link')
        batch_op.drop_column('live_link')
    with op.batch_alter_table('roadshows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roadshows_kind'))
        batch_op.drop_index(batch_op.f('ix_roadshows_region_id'))
        batch_op.drop_constraint(batch_op.f('fk_roadshows_region_id_regions'), type_='foreignkey')
        for name in ('tickets', 'meeting_link_template', 'open_registration', 'agenda', 'region_id', 'city', 'kind'):
            batch_op.drop_column(name)
