"""slack_replays: keys of signed Slack requests already handled (a replay has its side effect once)

Revision ID: a15092dfee32
Revises: a7c4e2d91b36
Create Date: 2026-11-22 21:30:00
"""
import sqlalchemy as sa
from alembic import op


revision = 'a15092dfee32'
down_revision = 'a7c4e2d91b36'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'slack_replays',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('received_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_slack_replays_received_at', 'slack_replays', ['received_at'])


def downgrade() -> None:
    op.drop_index('ix_slack_replays_received_at', 'slack_replays')
    op.drop_table('slack_replays')
