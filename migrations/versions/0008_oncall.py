"""oncall: swap requests, on-call jobs, the announced schedule of each rotation

Revision ID: 0008_oncall
Revises: 0006_reviews
Create Date: 2026-12-01 18:37:34.025705
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
import service.db


revision = '0008_oncall'
down_revision = '0006_reviews'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oncall_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('due_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oncall_jobs')),
    sa.UniqueConstraint('name', name=op.f('uq_oncall_jobs_name'))
    )
    op.create_table('swap_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rotation_id', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=False),
    sa.Column('to_id', sa.Integer(), nullable=True),
    sa.Column('start', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', service.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('override_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['people.id'], name=op.f('fk_swap_requests_accepted_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_swap_requests_incident_id_incidents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['override_id'], ['overrides.id'], name=op.f('fk_swap_requests_override_id_overrides'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requester_id'], ['people.id'], name=op.f('fk_swap_requests_requester_id_people'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rotation_id'], ['rotations.id'], name=op.f('fk_swap_requests_rotation_id_rotations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_id'], ['people.id'], name=op.f('fk_swap_requests_to_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_swap_requests'))
    )
    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.create_index('ix_swap_requests_rotation_status', ['rotation_id', 'status', 'start'], unique=False)

    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oncall_due_at', service.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('announced', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('announced_at', service.db.UTCDateTime(timezone=True), nullable=True))

    # Re-resolve every stored calendar at the next tick: the past before the old 30-day record is filled
    # in, and the rotation is looked after (heads-up, gaps) from then on.
    rotations = sa.table('rotations', sa.column('materialise_due_at', service.db.UTCDateTime(timezone=True)),
                         sa.column('calendar', sa.Text()))
    op.execute(rotations.update().where(rotations.c.calendar.is_not(None))
               .values(materialise_due_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))



def downgrade() -> None:
    with op.batch_alter_table('rotations', schema=None) as batch_op:
        batch_op.drop_column('announced_at')
        batch_op.drop_column('announced')
        batch_op.drop_column('oncall_due_at')

    with op.batch_alter_table('swap_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_swap_requests_rotation_status')

    op.drop_table('swap_requests')
    op.drop_table('oncall_jobs')
