"""ticker stats: skipped runs and tick durations kept with each ticker's heartbeat (GET /metrics)

Revision ID: 0013_ticker_stats
Revises: 0010_war_room
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_ticker_stats'
down_revision = '0010_war_room'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped_runs', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('last_tick_ms', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('longest_tick_ms', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('job_ms', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.drop_column('job_ms')
        batch_op.drop_column('longest_tick_ms')
        batch_op.drop_column('last_tick_ms')
        batch_op.drop_column('skipped_runs')
