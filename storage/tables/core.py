"""The database schema. Money is integer micro-USD so sums are exact; time is integer epoch seconds/hours
so range scans are cheap on SQLite and PostgreSQL alike."""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# A single row whose revision is bumped by every org sync, so every process notices a new org cheaply.
org_state = Table(
    "org_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False, default=0),
    Column("synced_at", BigInteger),
    Column("org_name", String(200)),
    Column("admins", JSON, nullable=False, default=list),
    Column("help_contact", String(200)),
    Column("finance_approvers", JSON, nullable=False, default=list),
    Column("max_request_micros", BigInteger, nullable=False, default=10_000_000_000),
    Column("max_pending_requests", Integer, nullable=False, default=3),
    # Changes made by admins in Slack since the last `org export`: a sync from an older file would undo them.
    Column("slack_edits", Integer, nullable=False, default=0),
    Column("price_overrides", JSON, nullable=False, default=dict),  # model -> PriceOverride fields
    # Which source counts which requests when two see the same ones (org file `sources:`), a list of rules.
    Column("source_precedence", JSON, nullable=False, default=list),
    # Org file `preferred_models:` and each team's `steering:` (bot.domain.steering): {"preferred": [...], "teams": {slug: ...}}
    Column("steering", JSON),
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("channel", String(64)),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("digest_time", String(5), nullable=False, default="09:00"),
    Column("monthly_budget_micros", BigInteger),
    Column("digest_names_top_spenders", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),
    # Budget-request policy (org file `approvals:`)
    Column("approval_channel", String(64)),
    Column("auto_approve_micros", BigInteger, nullable=False, default=0),
    Column("auto_approve_per_month", Integer, nullable=False, default=0),
    Column("escalate_above_micros", BigInteger),
    Column("request_ttl_hours", Float, nullable=False, default=72.0),
    Column("enforcement", String(8), nullable=False, default="soft"),  # soft | hard (budget check)
)

team_approvers = Table(
    "team_approvers",
    metadata,
    Column("team_id", Integer, ForeignKey("teams.id"), nullable=False),
    Column("slack_user_id", String(32), nullable=False),
    PrimaryKeyConstraint("team_id", "slack_user_id"),
)

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("slack_user_id", String(32), unique=True),
    Column("name", String(200)),
    Column("team_id", Integer, ForeignKey("teams.id")),
    Column("monthly_budget_micros", BigInteger),
    Column("active", Boolean, nullable=False, default=True),
)

# Every id the gateway may know a person by (gateway user id, key alias, email), lower-cased.
person_aliases = Table(
    "person_aliases",
    metadata,
    Column("alias", String(320), primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
)

# An event is its (ts, id): the gateway's request id and the second its request started, both of which a replay
# repeats. Deduplicating on the pair instead of on id alone keeps a new event's index entry beside the last one's
# (ids are random, start times are not): on SQLite a unique index on random ids dirtied a page of it per event, the
# writer's insert took 32 us an event against 5 (storage/stores/ledger.py, _sqlite_insert). The pair's index also
# serves every range of ts. On PostgreSQL the table is partitioned by month of ts (storage/stores/event_partitions.py).
usage_events = Table(
    "usage_events",
    metadata,
    Column("id", String(255), nullable=False),  # the gateway's request id
    Column("ts", BigInteger, nullable=False),
    Column("user_ref", String(320), nullable=False),
    Column("person_id", Integer),  # NULL while the user is not in the org file; re-attributed on sync
    Column("team_id", Integer, nullable=False, default=0),  # 0: no team known
    Column("model", String(200), nullable=False),
    Column("provider", String(64)),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cached_input_tokens", BigInteger, nullable=False, default=0),
    Column("cost_micros", BigInteger),  # NULL: no known price; still counted
    Column("cost_source", String(16), nullable=False),  # "event" | "price" | "unknown"
    Column("metadata", JSON),
    Column("received_at", BigInteger, nullable=False),
    # Model requests the event stands for: 1 for a gateway request, the provider's own count (num_model_requests)
    # for a usage-report bucket, 0 where the provider reports none.
    Column("requests", BigInteger, nullable=False, server_default="1"),
)
Index("ix_usage_events_unmapped", usage_events.c.user_ref, sqlite_where=usage_events.c.person_id.is_(None),
      postgresql_where=usage_events.c.person_id.is_(None))
Index("ux_usage_events_ts_id", usage_events.c.ts, usage_events.c.id, unique=True)  # a replay is a no-op


def _rollup_columns() -> list[Column]:
    return [
        Column("requests", BigInteger, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("cached_input_tokens", BigInteger, nullable=False),
        Column("cost_micros", BigInteger, nullable=False),
        Column("unpriced_requests", BigInteger, nullable=False),
    ]


ROLLUP_MEASURES = ("requests", "input_tokens", "output_tokens", "cached_input_tokens", "cost_micros", "unpriced_requests")

# Rollup shards. On PostgreSQL each ingesting connection adds to its own rows (shard 1 + backend pid % ROLLUP_SHARDS),
# so concurrent batches, from one replica or several, do not queue on the same team-hour-model rows; every reader
# sums over shards anyway (it sums over models and hours), and a job folds complete hours back into shard 0
# (Ledger.fold_shards). SQLite has one writer: it writes shard 0 only and its primary keys (created before
# shards) do not include the column.
ROLLUP_SHARDS = 16

# Per person, hour (epoch hours, UTC) and model: what `/tokens me` reads. person_id 0 = not yet mapped.
usage_hourly = Table(
    "usage_hourly",
    metadata,
    Column("person_id", Integer, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("team_id", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("shard", SmallInteger, nullable=False, server_default="0"),  # see ROLLUP_SHARDS
    *_rollup_columns(),
    PrimaryKeyConstraint("person_id", "hour", "team_id", "model", "shard"),
)

# Per team, hour and model, so a team's month is a few hundred rows however large the team is.
team_usage_hourly = Table(
    "team_usage_hourly",
    metadata,
    Column("team_id", Integer, nullable=False),
    Column("hour", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("shard", SmallInteger, nullable=False, server_default="0"),
    *_rollup_columns(),
    PrimaryKeyConstraint("team_id", "hour", "model", "shard"),
)
# Rows the fold job has still to move into shard 0 (a small index: folded rows leave it).
Index("ix_usage_hourly_unfolded", usage_hourly.c.hour, sqlite_where=usage_hourly.c.shard != 0,
      postgresql_where=usage_hourly.c.shard != 0)
Index("ix_team_usage_hourly_unfolded", team_usage_hourly.c.hour, sqlite_where=team_usage_hourly.c.shard != 0,
      postgresql_where=team_usage_hourly.c.shard != 0)
# A team's month-to-date spend (the hard-cap reservation sums it on every gateway request) read from the index alone:
# the primary key would visit every (hour, model) row of the table.
Index("ix_team_usage_hourly_spend", team_usage_hourly.c.team_id, team_usage_hourly.c.hour,
      team_usage_hourly.c.cost_micros)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(64), nullable=False),
    Column("item_index", Integer),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
)
Index("ix_dead_letters_received_at", dead_letters.c.received_at)

__all__ = [
    "metadata", "org_state", "teams", "team_approvers", "people", "person_aliases", "usage_events",
    "usage_hourly", "team_usage_hourly", "dead_letters", "ROLLUP_MEASURES", "ROLLUP_SHARDS", "UniqueConstraint",
]
