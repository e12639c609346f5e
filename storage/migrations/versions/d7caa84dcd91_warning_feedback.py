"""warning_feedback: the Snooze and Expected buttons on spike and budget warnings, one row per warning

Revision ID: d7caa84dcd91
Revises: a15092dfee32
Create Date: 2026-11-22 21:30:00
"""
import sqlalchemy as sa
from alembic import op


revision = 'd7caa84dcd91'
down_revision = 'a15092dfee32'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('warning_feedback',
                    sa.Column('warning_key', sa.String(length=200), nullable=False),
                    sa.Column('scope', sa.String(length=8), nullable=False),
                    sa.Column('subject_id', sa.Integer(), nullable=False),
                    sa.Column('action', sa.String(length=16), nullable=False),
                    sa.Column('actor', sa.String(length=32), nullable=False),
                    sa.Column('at', sa.BigInteger(), nullable=False),
                    sa.Column('until', sa.BigInteger(), nullable=False),
                    sa.Column('level_micros', sa.BigInteger(), nullable=True),
                    sa.PrimaryKeyConstraint('warning_key'))
    with op.batch_alter_table('warning_feedback', schema=None) as batch_op:
        batch_op.create_index('ix_warning_feedback_subject', ['scope', 'subject_id', 'until'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('warning_feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_feedback_subject')
    op.drop_table('warning_feedback')
