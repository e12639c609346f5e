"""Tables of the gateway and provider connectors: failed-request counts and the pollers' cursors."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from storage.tables.core import metadata

# Requests the gateway reported as failed (LiteLLM status "failure"), per person, hour (epoch hours, UTC), team and
# model, kept beside the spend rollups and in the same transaction as the events (which carry cost 0, no tokens).
failed_requests_hourly = Table(
    "failed_requests_hourly",
    metadata,
    Column("person_id", Integer, nullable=False),  # 0: not yet mapped
    Column("hour", Integer, nullable=False),
    Column("team_id", Integer, nullable=False),
    Column("model", String(200), nullable=False),
    Column("failures", BigInteger, nullable=False),
    PrimaryKeyConstraint("person_id", "hour", "team_id", "model"),
)

# Where each poller stopped: the end (epoch seconds, UTC) of the last time range it read completely.
ingest_cursors = Table(
    "ingest_cursors",
    metadata,
    Column("source", String(64), primary_key=True),  # "litellm_spend" | "openai_usage" | "anthropic_usage"
    Column("position", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Cost a gateway has admitted but not yet reported (reserve, then settle): the budget reservation of a request in
# flight, keyed by the id its usage event will carry, deleted in the transaction that stores that event, ignored
# once it expires (a request whose event never comes).
budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("person_id", Integer),
    Column("team_id", Integer, nullable=False),  # 0: no team
    Column("amount_micros", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_budget_reservations_person", budget_reservations.c.person_id, budget_reservations.c.expires_at)
Index("ix_budget_reservations_team", budget_reservations.c.team_id, budget_reservations.c.expires_at)

# The reservations their events settled, kept until they would have expired, so a reservation asked again for an id
# whose request has finished is recognised (Admission.reused_id) without an index on usage_events.id alone, which
# would cost a random page per event (storage/tables/core.py).
settled_reservations = Table(
    "settled_reservations",
    metadata,
    Column("event_id", String(255), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
)
Index("ix_settled_reservations_expires", settled_reservations.c.expires_at)

__all__ = ["failed_requests_hourly", "ingest_cursors", "budget_reservations", "settled_reservations"]
