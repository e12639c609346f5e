"""budget reservations (reserve, then settle)

Revision ID: 7c3a91d0b2e4
Revises: df47e69efa3a
Create Date: 2026-11-22 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '7c3a91d0b2e4'
down_revision = 'df47e69efa3a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('budget_reservations',
    sa.Column('event_id', sa.String(length=255), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('amount_micros', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('budget_reservations', schema=None) as batch_op:
        batch_op.create_index('ix_budget_reservations_person', ['person_id', 'expires_at'], unique=False)
        batch_op.create_index('ix_budget_reservations_team', ['team_id', 'expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('budget_reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_budget_reservations_team')
        batch_op.drop_index('ix_budget_reservations_person')
    op.drop_table('budget_reservations')
