"""rollup shards: concurrent PostgreSQL batches add to rows of their own (storage/tables/core.py, ROLLUP_SHARDS)

Revision ID: 3f6b0c2d9e71
Revises: 5e1f9a7c3b20
Create Date: 2026-11-23 00:40:00
"""
import sqlalchemy as sa
from alembic import op


revision = '3f6b0c2d9e71'
down_revision = '5e1f9a7c3b20'
branch_labels = None
depends_on = None

KEYS = {"usage_hourly": "person_id, hour, team_id, model", "team_usage_hourly": "team_id, hour, model"}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, keys in KEYS.items():
        op.add_column(table, sa.Column("shard", sa.SmallInteger(), nullable=False, server_default="0"))
        if postgres:  # SQLite writes shard 0 only, and changing its primary key would copy the table
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({keys}, shard)")
        op.create_index(f"ix_{table}_unfolded", table, ["hour"], sqlite_where=sa.text("shard != 0"),
                        postgresql_where=sa.text("shard != 0"))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, keys in KEYS.items():
        op.drop_index(f"ix_{table}_unfolded", table)
        if postgres:  # fold every shard into shard 0 first: the old key allows one row per (keys)
            measures = "requests, input_tokens, output_tokens, cached_input_tokens, cost_micros, unpriced_requests"
            sums = ", ".join(f"sum({m})" for m in measures.split(", "))
            updates = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures.split(", "))
            op.execute(f"WITH moved AS (DELETE FROM {table} WHERE shard <> 0 RETURNING {keys}, {measures}) "
                       f"INSERT INTO {table} ({keys}, shard, {measures}) SELECT {keys}, 0, {sums} FROM moved "
                       f"GROUP BY {keys} ON CONFLICT ({keys}, shard) DO UPDATE SET {updates}")
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({keys})")
        op.drop_column(table, "shard")
