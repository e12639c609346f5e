"""Tables of outcome ingestion from GitHub and other systems (issue 17), beside `otlp.outcome_events`: what a later
revert may name (a pull request, a commit, a title), which outcomes were reverted, and GitHub deliveries seen."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table

from storage.tables.core import metadata
from storage.tables.otlp import outcome_events

# Keys a revert can name an earlier outcome by: `pr:owner/repo#12`, `sha:<40 hex>`, `title:<hash of repo and title>`.
# One key may name several outcomes (a squash-merged PR and the push that carried its commit).
outcome_refs = Table(
    "outcome_refs",
    metadata,
    Column("ref", String(200), nullable=False),
    Column("outcome_id", String(255), nullable=False),
    PrimaryKeyConstraint("ref", "outcome_id"),
)

# Outcomes undone by a later one (a merged revert PR): the revert rate beside cost per merged PR.
outcome_reverts = Table(
    "outcome_reverts",
    metadata,
    Column("outcome_id", String(255), primary_key=True),
    Column("reverted_by", String(255), nullable=False),
    Column("reverted_at", BigInteger, nullable=False),
)

# GitHub's X-GitHub-Delivery of every delivery that was stored: a redelivery changes nothing.
github_deliveries = Table(
    "github_deliveries",
    metadata,
    Column("delivery_id", String(100), primary_key=True),
    Column("event", String(64), nullable=False),
    Column("outcomes", Integer, nullable=False),
    Column("received_at", BigInteger, nullable=False),
)

# Cost per outcome reads a person's or a team's outcomes over 30 days.
Index("ix_outcome_events_person_time", outcome_events.c.person_id, outcome_events.c.occurred_at)
Index("ix_outcome_events_team_time", outcome_events.c.team_id, outcome_events.c.occurred_at)

__all__ = ["outcome_refs", "outcome_reverts", "github_deliveries"]
