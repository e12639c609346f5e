"""Tables about Slack's own requests."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from storage.tables.core import metadata

# Signed Slack requests with a side effect, by a digest of their signature and timestamp, kept past Slack's 5-minute
# window: a replayed request (same signature, timestamp and body) finds its key and changes nothing. In the database,
# so every replica sees every key.
slack_replays = Table(
    "slack_replays",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of "timestamp:signature"
    Column("received_at", BigInteger, nullable=False),
)
Index("ix_slack_replays_received_at", slack_replays.c.received_at)

__all__ = ["slack_replays"]
