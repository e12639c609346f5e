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

# The same bill per model and billing dimension ("text" | "cache" | "audio" | "tools" | "batch" | "other"), from the
# cost endpoints' grouped results (Anthropic: description; OpenAI: line_item): where a reconciliation gap comes from.
billed_cost_lines = Table(
    "billed_cost_lines",
    metadata,
    Column("provider", String(32), nullable=False),
    Column("day", String(10), nullable=False),
    Column("model", String(200), nullable=False),  # "" when the bill line names no model
    Column("dimension", String(16), nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("fetched_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("provider", "day", "model", "dimension"),
)

__all__ = ["billed_costs", "billed_cost_lines"]
