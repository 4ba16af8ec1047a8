"""update receipts: who has seen each stakeholder update

Revision ID: 0015_update_receipts
Revises: 0014_escalation_acks
Create Date: 2026-12-01 21:50:16
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0015_update_receipts'
down_revision = '0014_escalation_acks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('update_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('update_id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_update_receipts_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_update_receipts_notification_id_notifications'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['update_id'], ['incident_updates.id'], name=op.f('fk_update_receipts_update_id_incident_updates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_update_receipts')),
    sa.UniqueConstraint('update_id', 'address', name=op.f('uq_update_receipts_update_id'))
    )
    with op.batch_alter_table('update_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_update_receipts_incident', ['incident_id', 'update_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('update_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_update_receipts_incident')

    op.drop_table('update_receipts')
