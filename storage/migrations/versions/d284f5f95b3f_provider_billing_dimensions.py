"""provider usage priced as billed: request counts on usage events, the bill per model and billing dimension

Revision ID: d284f5f95b3f
Revises: 4c735c1bb951
Create Date: 2026-11-22 21:45:00
"""
import sqlalchemy as sa
from alembic import op


revision = 'd284f5f95b3f'
down_revision = '4c735c1bb951'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing events each stood for one request (gateway events) -- the rollups counted them so.
    op.add_column('usage_events', sa.Column('requests', sa.BigInteger(), server_default='1', nullable=False))
    op.create_table(
        'billed_cost_lines',
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('cost_micros', sa.BigInteger(), nullable=False),
        sa.Column('fetched_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('provider', 'day', 'model', 'dimension'),
    )


def downgrade() -> None:
    op.drop_table('billed_cost_lines')
    with op.batch_alter_table('usage_events') as batch:
        batch.drop_column('requests')
