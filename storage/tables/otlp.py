"""Tables of OpenTelemetry ingestion: outcome events (what the spend bought), the last value of every cumulative
counter series, and usage another source already counted (kept to show the overlap, never spent twice)."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, String, Table

from storage.tables.core import metadata

# Outcomes of AI-assisted work (a pull request, a commit, a deploy), beside the spend that bought them.
outcome_events = Table(
    "outcome_events",
    metadata,
    Column("id", String(255), primary_key=True),  # derived from the record: an exporter's retry is a no-op
    Column("kind", String(32), nullable=False),  # pull_request | commit | deploy
    Column("user_ref", String(320)),  # who, as the source named them (email, account id); NULL: nobody named
    Column("person_id", Integer),  # NULL while the org file names nobody by user_ref; attributed on sync
    Column("team_id", Integer, nullable=False, default=0),
    Column("occurred_at", BigInteger, nullable=False),  # epoch seconds, UTC
    Column("source", String(64), nullable=False),  # otlp | api | ...
    Column("link", String(500)),
    Column("count", BigInteger, nullable=False),
    Column("metadata", JSON),
    Column("received_at", BigInteger, nullable=False),
)
Index("ix_outcome_events_occurred_at", outcome_events.c.occurred_at)
Index("ix_outcome_events_unmapped", outcome_events.c.user_ref, sqlite_where=outcome_events.c.person_id.is_(None),
      postgresql_where=outcome_events.c.person_id.is_(None))

# The last value seen of every cumulative counter series (metric + resource + point attributes, hashed), so a
# re-sent or restarted cumulative counter adds only what it grew (bot.domain.otlp.counter_delta).
otlp_counter_state = Table(
    "otlp_counter_state",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("start_ns", BigInteger, nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Requests a non-authoritative source reported for people or providers another source is authoritative for (org
# file `sources:`): not spend (the authoritative source counts them), kept so reconciliation shows the overlap.
overlap_events = Table(
    "overlap_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("ts", BigInteger, nullable=False),
    Column("source", String(64), nullable=False),  # who reported it (otlp)
    Column("counted_by", String(64), nullable=False),  # the authoritative source (litellm)
    Column("user_ref", String(320), nullable=False),
    Column("person_id", Integer),
    Column("model", String(200), nullable=False),
    Column("provider", String(64)),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cost_micros", BigInteger),
    Column("received_at", BigInteger, nullable=False),
)
Index("ix_overlap_events_ts", overlap_events.c.ts)

__all__ = ["outcome_events", "otlp_counter_state", "overlap_events"]
