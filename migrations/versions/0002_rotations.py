"""rotations: materialised horizon and import report, calendar feed tokens, role owners seen by handoffs

Revision ID: 0002_rotations
Revises: 0001_foundation
Create Date: 2026-11-27 12:07:52.055394
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0002_rotations'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('calendar_feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('rotation_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_calendar_feeds_person_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rotation_id'], ['rotations.id'], name=op.f('fk_calendar_feeds_rotation_id_rotations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('person_id', name=op.f('uq_calendar_feeds_person_id')),
    sa.UniqueConstraint('rotation_id', name=op.f('uq_calendar_feeds_rotation_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_calendar_feeds_token_hash'))
    )
    op.create_table('role_rotation_owners',
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('seen_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_role_rotation_owners_incident_id_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_role_rotation_owners_person_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('incident_id', 'role', name=op.f('pk_role_rotation_owners'))
    )
    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('materialised_from', service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('materialised_until', service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('materialise_due_at', service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('report', sa.JSON(), nullable=True))

    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.create_index('ix_shifts_person_start', ['person_id', 'start'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('shifts', schema=None) as batch_op:
        batch_op.drop_index('ix_shifts_person_start')

    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.drop_column('report')
        batch_op.drop_column('materialise_due_at')
        batch_op.drop_column('materialised_until')
        batch_op.drop_column('materialised_from')

    op.drop_table('role_rotation_owners')
    op.drop_table('calendar_feeds')
