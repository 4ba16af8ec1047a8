"""notifications: an index for the escalation tick's look at each paged holder's pages (incident, person, kind,
time, slot: the scan reads it alone, never the wide rows with their rendered payloads)

Revision ID: 0016_notifications_pages
Revises: 0015_update_receipts
"""
from alembic import op


revision = '0016_notifications_pages'
down_revision = '0015_update_receipts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_notifications_pages', 'notifications',
                    ['incident_id', 'person_id', 'kind', 'created_at', 'slot'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notifications_pages', table_name='notifications')
