"""Tables of reconciliation: what the providers billed, per provider and UTC day (their cost endpoints)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table

from storage.tables.core import metadata

# The billed cost of one provider ("openai" | "anthropic") for one UTC day ("YYYY-MM-DD"), as last read from its cost
# endpoint. Only days that have ended are stored; a later read replaces the figure (bills are revised).
billed_costs = Table(
    "billed_costs",
    metadata,
    Column("provider", String(32), nullable=False),
    Column("day", String(10), nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("fetched_at", BigInteger, nullable=False),  # epoch seconds of the read that stored this figure
    PrimaryKeyConstraint("provider", "day"),
)

__all__ = ["billed_costs"]
