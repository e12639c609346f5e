"""Billed cost per provider and UTC day (the providers' cost endpoints), and the ledger's own estimate per provider and
UTC day: the two sides of reconciliation (bot/reconcile.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import insert_for
from storage.tables.core import usage_events
from storage.tables.billing import billed_costs

DAY = 86_400


@dataclass(frozen=True)
class UpsertCounts:
    new: int = 0
    revised: int = 0  # a figure stored earlier that the provider has since changed
    unchanged: int = 0


@dataclass(frozen=True)
class EstimatedDay:
    provider: str | None  # as the events carry it (lower-cased at ingestion); None: no provider on the event
    day_index: int  # days since the start of the range asked for
    cost_micros: int
    events: int
    unpriced: int  # events without a known price (counted, cost unknown)


class BillingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert_days(self, provider: str, figures: dict[str, int], fetched_at: int) -> UpsertCounts:
        """Store billed cost per day ("YYYY-MM-DD" -> micro-USD), replacing what an earlier read stored."""
        if not figures:
            return UpsertCounts()
        async with self.engine.begin() as conn:
            old = dict((await conn.execute(
                select(billed_costs.c.day, billed_costs.c.cost_micros)
                .where(billed_costs.c.provider == provider, billed_costs.c.day.in_(list(figures))))).all())
            stmt = insert_for(self.engine)(billed_costs).values(
                [{"provider": provider, "day": d, "cost_micros": m, "fetched_at": fetched_at} for d, m in figures.items()])
            stmt = stmt.on_conflict_do_update(index_elements=["provider", "day"],
                                              set_={"cost_micros": stmt.excluded.cost_micros,
                                                    "fetched_at": stmt.excluded.fetched_at})
            await conn.execute(stmt)
        new = sum(1 for d in figures if d not in old)
        revised = sum(1 for d, m in figures.items() if d in old and old[d] != m)
        return UpsertCounts(new=new, revised=revised, unchanged=len(figures) - new - revised)

    async def billed(self, first_day: str, last_day: str, provider: str | None = None) -> dict[tuple[str, str], int]:
        """(provider, day) -> billed micro-USD for the days first_day..last_day (inclusive, "YYYY-MM-DD")."""
        stmt = select(billed_costs.c.provider, billed_costs.c.day, billed_costs.c.cost_micros).where(
            billed_costs.c.day >= first_day, billed_costs.c.day <= last_day)
        if provider is not None:
            stmt = stmt.where(billed_costs.c.provider == provider)
        async with self.engine.connect() as conn:
            return {(p, d): m for p, d, m in (await conn.execute(stmt)).all()}

    async def estimated_by_provider_day(self, start_ts: int, end_ts: int) -> list[EstimatedDay]:
        """The ledger's cost per provider and UTC day for start_ts <= ts < end_ts (start_ts at a UTC midnight): one grouped
        statement over a range scan of ix_usage_events_ts."""
        day_index = ((usage_events.c.ts - start_ts) // DAY).label("day_index")
        stmt = (select(usage_events.c.provider, day_index,
                       func.coalesce(func.sum(usage_events.c.cost_micros), 0),
                       func.count(),
                       func.sum(case((usage_events.c.cost_micros.is_(None), 1), else_=0)))
                .where(and_(usage_events.c.ts >= start_ts, usage_events.c.ts < end_ts))
                .group_by(usage_events.c.provider, day_index))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [EstimatedDay(provider=p, day_index=int(d), cost_micros=int(c), events=int(n), unpriced=int(u or 0))
                for p, d, c, n, u in rows]


__all__ = ["BillingStore", "UpsertCounts", "EstimatedDay", "DAY"]
