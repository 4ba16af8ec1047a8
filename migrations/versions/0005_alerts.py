"""alerts: the inbox of monitoring events and alert groups

Revision ID: 0005_alerts
Revises: 0004_acks
Create Date: 2026-11-27 12:08:36.261139
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0005_alerts'
down_revision = '0004_acks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('group_key', sa.Text(), nullable=False),
    sa.Column('group_hash', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('token_name', sa.String(length=100), nullable=False),
    sa.Column('received_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=300), nullable=True),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_alert_events_incident_id_incidents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_events'))
    )
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.create_index('ix_alert_events_group_status', ['group_hash', 'status', 'id'], unique=False)
        batch_op.create_index('ix_alert_events_status_id', ['status', 'id'], unique=False)

    op.create_table('alert_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('alerts', sa.JSON(), nullable=False),
    sa.Column('truncated_alerts', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('first_seen', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_alert_groups_incident_id_incidents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_groups')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_alert_groups_key_hash'))
    )
    with op.batch_alter_table('alert_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_groups_incident_id'), ['incident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('alert_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_groups_incident_id'))

    op.drop_table('alert_groups')
    with op.batch_alter_table('alert_events', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_events_status_id')
        batch_op.drop_index('ix_alert_events_group_status')

    op.drop_table('alert_events')
