"""escalation acknowledgements: steps and recipients

Revision ID: 0012_escalation_acks
Revises: 0013_ticker_stats
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0012_escalation_acks'
down_revision = '0013_ticker_stats'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('escalation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('contacts', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('fired_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=320), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_escalation_steps_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_steps')),
    sa.UniqueConstraint('incident_id', 'rule', 'step', name=op.f('uq_escalation_steps_incident_id'))
    )
    op.create_table('escalation_recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=2000), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_via', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_escalation_recipients_notification_id_notifications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_escalation_recipients_person_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['step_id'], ['escalation_steps.id'], name=op.f('fk_escalation_recipients_step_id_escalation_steps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_recipients')),
    sa.UniqueConstraint('notification_id', name=op.f('uq_escalation_recipients_notification_id'))
    )
    with op.batch_alter_table('escalation_recipients', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_recipients_step', ['step_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('escalation_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_recipients_step')

    op.drop_table('escalation_recipients')
    op.drop_table('escalation_steps')
