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
_STORED_BEFORE = "stored := EXISTS (SELECT 1 FROM usage_events WHERE id = p_event_id);"
_STORED_AFTER = "stored := EXISTS (SELECT 1 FROM settled_reservations WHERE event_id = p_event_id);"
# tokenbot_reserve of migration a7c4e2d91b36, with `stored` as the only change.
_RESERVE = """
CREATE OR REPLACE FUNCTION tokenbot_reserve(
    p_event_id text, p_person_id bigint, p_team_id bigint, p_amount bigint,
    p_person_budget bigint, p_team_budget bigint, p_month_start_hour bigint, p_now bigint, p_ttl bigint)
RETURNS TABLE (admitted boolean, stored boolean, person_spent bigint, person_held bigint,
               team_spent bigint, team_held bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    person_line boolean := p_person_budget IS NOT NULL AND p_person_id IS NOT NULL;
    team_line boolean := p_team_budget IS NOT NULL;
    retried boolean;
BEGIN
    -- Person before team, always: two people of one team never wait on each other in opposite orders.
    IF person_line THEN PERFORM pg_advisory_xact_lock(1953169409, p_person_id::int); END IF;
    IF team_line THEN PERFORM pg_advisory_xact_lock(1953169410, p_team_id::int); END IF;
    STORED
    retried := EXISTS (SELECT 1 FROM budget_reservations WHERE event_id = p_event_id);
    IF person_line THEN
        SELECT coalesce(sum(cost_micros), 0) INTO person_spent FROM usage_hourly
         WHERE person_id = p_person_id AND hour >= p_month_start_hour;
        SELECT coalesce(sum(amount_micros), 0) INTO person_held FROM budget_reservations
         WHERE person_id = p_person_id AND expires_at > p_now AND event_id <> p_event_id;
    END IF;
    IF team_line THEN
        SELECT coalesce(sum(cost_micros), 0) INTO team_spent FROM team_usage_hourly
         WHERE team_id = p_team_id AND hour >= p_month_start_hour;
        SELECT coalesce(sum(amount_micros), 0) INTO team_held FROM budget_reservations
         WHERE team_id = p_team_id AND expires_at > p_now AND event_id <> p_event_id;
    END IF;
    IF stored THEN
        admitted := false;  -- a finished request's id: a client reusing a call id
    ELSIF retried THEN
        admitted := true;  -- the gateway retrying a reservation that went through
    ELSE
        admitted := (NOT person_line OR person_spent + person_held + p_amount <= p_person_budget)
                AND (NOT team_line OR team_spent + team_held + p_amount <= p_team_budget);
        IF admitted THEN
            INSERT INTO budget_reservations (event_id, person_id, team_id, amount_micros, created_at, expires_at)
            VALUES (p_event_id, p_person_id, p_team_id, p_amount, p_now, p_now + p_ttl)
            ON CONFLICT (event_id) DO NOTHING;
        END IF;
    END IF;
    RETURN NEXT;
END $$;
"""


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
    op.execute(_RESERVE.replace("STORED", _STORED_AFTER))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # id was the key: one row per id, the first stored.
        _rebuild_sqlite(", PRIMARY KEY (id)", (_UNMAPPED, _TS),
                        "WHERE rowid IN (SELECT min(rowid) FROM usage_events GROUP BY id)")
    else:
        op.execute(_RESERVE.replace("STORED", _STORED_BEFORE))
        for (name,) in bind.exec_driver_sql(_PARTITIONS).all():  # id was unique per month: the first stored stays
            op.execute(f"DELETE FROM {name} a USING {name} b WHERE a.id = b.id AND a.ctid > b.ctid")
            op.execute(f"CREATE UNIQUE INDEX {name}_id ON {name} (id)")
        op.execute(_TS)
        op.execute("DROP INDEX ux_usage_events_ts_id")
    op.drop_index('ix_settled_reservations_expires', table_name='settled_reservations')
    op.drop_table('settled_reservations')
