"""Outcomes from GitHub and other systems: revert references, reverts, GitHub deliveries; per-person and per-team
outcome indexes

Revision ID: 890607d4858a
Revises: d284f5f95b3f
Create Date: 2026-11-22 21:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '890607d4858a'
down_revision = 'd284f5f95b3f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outcome_refs',
    sa.Column('ref', sa.String(length=200), nullable=False),
    sa.Column('outcome_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('ref', 'outcome_id')
    )
    op.create_table('outcome_reverts',
    sa.Column('outcome_id', sa.String(length=255), nullable=False),
    sa.Column('reverted_by', sa.String(length=255), nullable=False),
    sa.Column('reverted_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('outcome_id')
    )
    op.create_table('github_deliveries',
    sa.Column('delivery_id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('outcomes', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id')
    )
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.create_index('ix_outcome_events_person_time', ['person_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_outcome_events_team_time', ['team_id', 'occurred_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outcome_events_team_time')
        batch_op.drop_index('ix_outcome_events_person_time')
    op.drop_table('github_deliveries')
    op.drop_table('outcome_reverts')
    op.drop_table('outcome_refs')
