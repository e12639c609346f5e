"""team month-to-date spend read from an index (the hard-cap reservation sums it per gateway request)

Revision ID: b5d2e8f41c07
Revises: 7c3a91d0b2e4
Create Date: 2026-11-22 15:20:00
"""
from alembic import op


revision = 'b5d2e8f41c07'
down_revision = '7c3a91d0b2e4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_team_usage_hourly_spend', 'team_usage_hourly', ['team_id', 'hour', 'cost_micros'])


def downgrade() -> None:
    op.drop_index('ix_team_usage_hourly_spend', 'team_usage_hourly')
