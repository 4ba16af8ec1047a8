"""war room: the incident's Teams channel or chat and its meeting bridge

Revision ID: 0010_war_room
Revises: 0007_teams_bot
Create Date: 2026-12-01 20:30:00
"""
from alembic import op
import sqlalchemy as sa
import service.db


revision = '0010_war_room'
down_revision = '0007_teams_bot'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teams_war_rooms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('team_id', sa.String(length=200), nullable=True),
    sa.Column('conversation_id', sa.String(length=500), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('web_url', sa.String(length=2000), nullable=True),
    sa.Column('member_ids', sa.JSON(), nullable=False),
    sa.Column('meeting_id', sa.String(length=500), nullable=True),
    sa.Column('bridge_url', sa.String(length=2000), nullable=True),
    sa.Column('bridge_problem', sa.String(length=500), nullable=True),
    sa.Column('archived_at', service.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', service.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', service.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('incident_id')
    )


def downgrade() -> None:
    op.drop_table('teams_war_rooms')
