"""usage_events unique on (ts, id), no index on id alone; settled reservations kept until they expire

An event is its request id and the second the request started: one index deduplicates and serves every time range
(it replaces ix_usage_events_ts, and on PostgreSQL each month's unique index on id). A finished request's id is
found in settled_reservations instead of in usage_events by id.

Revision ID: c4e8a1f0b9d2
Revises: a9d3c5e7f201
Create Date: 2026-11-23 11:40:00
"""
import sqlalchemy as sa
from alembic import op

from storage.migrations.versions.a7c4e2d91b36_reserve_function import RESERVE


revision = 'c4e8a1f0b9d2'
down_revision = 'a9d3c5e7f201'
branch_labels = None
depends_on = None

# Written out here rather than imported: a migration must not change when the code it would import does.
_COLUMNS = """id VARCHAR(255) NOT NULL, ts BIGINT NOT NULL, user_ref VARCHAR(320) NOT NULL, person_id INTEGER,
    team_id INTEGER NOT NULL, model VARCHAR(200) NOT NULL, provider VARCHAR(64), input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL, cached_input_tokens BIGINT NOT NULL, cost_micros BIGINT,
    cost_source VARCHAR(16) NOT NULL, metadata JSON, received_at BIGINT NOT NULL,
    requests BIGINT DEFAULT '1' NOT NULL"""
_NAMES = ("id, ts, user_ref, person_id, team_id, model, provider, input_tokens, output_tokens, cached_input_tokens, "
          "cost_micros, cost_source, metadata, received_at, requests")
_UNMAPPED = "CREATE INDEX ix_usage_events_unmapped ON usage_events (user_ref) WHERE person_id IS NULL"
_TS_ID = "CREATE UNIQUE INDEX ux_usage_events_ts_id ON usage_events (ts, id)"
_TS = "CREATE INDEX ix_usage_events_ts ON usage_events (ts)"
_PARTITIONS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
               "WHERE i.inhparent = CAST('usage_events' AS regclass)")
# tokenbot_reserve with one line changed. A migration never changes once released, so the earlier one's text is
# taken as it is rather than copied.
_STORED_BEFORE = "stored := EXISTS (SELECT 1 FROM usage_events WHERE id = p_event_id);"
_STORED_AFTER = "stored := EXISTS (SELECT 1 FROM settled_reservations WHERE event_id = p_event_id);"
assert _STORED_BEFORE in RESERVE
_RESERVE_AFTER = RESERVE.replace(_STORED_BEFORE, _STORED_AFTER)


def _rebuild_sqlite(key: str, indexes: tuple[str, ...], keep: str) -> None:
    """SQLite keeps a primary key in CREATE TABLE: a new table, the rows copied in rowid order (the ledger reads
    new events by rowid), then the new table takes the name. `keep` chooses the rows the new key allows."""
    op.execute(f"CREATE TABLE usage_events_rebuilt ({_COLUMNS}{key})")
    op.execute(f"INSERT INTO usage_events_rebuilt ({_NAMES}) SELECT {_NAMES} FROM usage_events {keep} ORDER BY rowid")
    op.execute("DROP TABLE usage_events")  # and its indexes
    op.execute("ALTER TABLE usage_events_rebuilt RENAME TO usage_events")
    for statement in indexes:
        op.execute(statement)


def upgrade() -> None:
    op.create_table('settled_reservations',
                    sa.Column('event_id', sa.String(length=255), nullable=False),
                    sa.Column('expires_at', sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint('event_id'))
    op.create_index('ix_settled_reservations_expires', 'settled_reservations', ['expires_at'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite("", (_UNMAPPED, _TS_ID), "")
        return
    op.execute(_TS_ID)  # on the partitioned table: every partition gets one, and every partition made later
    op.execute("DROP INDEX ix_usage_events_ts")
    for (name,) in bind.exec_driver_sql(_PARTITIONS).all():
        op.execute(f"DROP INDEX IF EXISTS {name}_id")
    op.execute(_RESERVE_AFTER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # id was the key: one row per id, the first stored.
        _rebuild_sqlite(", PRIMARY KEY (id)", (_UNMAPPED, _TS),
                        "WHERE rowid IN (SELECT min(rowid) FROM usage_events GROUP BY id)")
    else:
        op.execute(RESERVE)
        for (name,) in bind.exec_driver_sql(_PARTITIONS).all():  # id was unique per month: the first stored stays
            op.execute(f"DELETE FROM {name} a USING {name} b WHERE a.id = b.id AND a.ctid > b.ctid")
            op.execute(f"CREATE UNIQUE INDEX {name}_id ON {name} (id)")
        op.execute(_TS)
        op.execute("DROP INDEX ux_usage_events_ts_id")
    op.drop_index('ix_settled_reservations_expires', table_name='settled_reservations')
    op.drop_table('settled_reservations')
