"""OpenTelemetry ingestion: outcome events, cumulative counter state, overlap events, source precedence

Revision ID: 4c735c1bb951
Revises: d7caa84dcd91
Create Date: 2026-11-22 21:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '4c735c1bb951'
down_revision = 'd7caa84dcd91'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outcome_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('user_ref', sa.String(length=320), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=True),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.create_index('ix_outcome_events_occurred_at', ['occurred_at'], unique=False)
        batch_op.create_index('ix_outcome_events_unmapped', ['user_ref'], unique=False,
                              sqlite_where=sa.text('person_id IS NULL'), postgresql_where=sa.text('person_id IS NULL'))
    op.create_table('otlp_counter_state',
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('start_ns', sa.BigInteger(), nullable=False),
    sa.Column('time_ns', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream')
    )
    op.create_table('overlap_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('ts', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('counted_by', sa.String(length=64), nullable=False),
    sa.Column('user_ref', sa.String(length=320), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('input_tokens', sa.BigInteger(), nullable=False),
    sa.Column('output_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_micros', sa.BigInteger(), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('overlap_events', schema=None) as batch_op:
        batch_op.create_index('ix_overlap_events_ts', ['ts'], unique=False)
    with op.batch_alter_table('org_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_precedence', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('org_state', schema=None) as batch_op:
        batch_op.alter_column('source_precedence', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('org_state', schema=None) as batch_op:
        batch_op.drop_column('source_precedence')
    with op.batch_alter_table('overlap_events', schema=None) as batch_op:
        batch_op.drop_index('ix_overlap_events_ts')
    op.drop_table('overlap_events')
    op.drop_table('otlp_counter_state')
    with op.batch_alter_table('outcome_events', schema=None) as batch_op:
        batch_op.drop_index('ix_outcome_events_unmapped')
        batch_op.drop_index('ix_outcome_events_occurred_at')
    op.drop_table('outcome_events')
