"""the hard-cap reservation as one PostgreSQL function: one round trip per gateway request

Revision ID: a7c4e2d91b36
Revises: b5d2e8f41c07
Create Date: 2026-11-22 22:00:00
"""
from alembic import op


revision = 'a7c4e2d91b36'
down_revision = 'b5d2e8f41c07'
branch_labels = None
depends_on = None

# storage/stores/reservations.py documents the decision; SQLite makes the same one in Python (SqliteReserver).
# A function, not one SQL statement: a statement reads from the snapshot taken when it starts, so sums in the
# statement that waited on the advisory locks could miss a reservation committed meanwhile. Each statement of a
# VOLATILE plpgsql function in READ COMMITTED takes a fresh snapshot, after the locks.
RESERVE = """
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
    stored := EXISTS (SELECT 1 FROM usage_events WHERE id = p_event_id);
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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(RESERVE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS tokenbot_reserve(text, bigint, bigint, bigint, bigint, bigint, bigint, "
                   "bigint, bigint)")
