"""Billed cost per provider and UTC day (the providers' cost endpoints), and the ledger's own estimate per provider and
UTC day: the two sides of reconciliation (bot/reconcile.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import insert_for
from storage.tables.core import usage_events
from storage.tables.billing import billed_cost_lines, billed_costs

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

    async def replace_lines(self, provider: str, days: set[str], lines: dict[tuple[str, str, str], int],
                            fetched_at: int) -> None:
        """The bill of `days` per model and billing dimension ((day, model, dimension) -> micro-USD), replacing what an
        earlier read stored for those days (a revised bill may drop a line)."""
        if not days:
            return
        async with self.engine.begin() as conn:
            await conn.execute(delete(billed_cost_lines).where(billed_cost_lines.c.provider == provider,
                                                               billed_cost_lines.c.day.in_(sorted(days))))
            if lines:
                await conn.execute(insert(billed_cost_lines), [
                    {"provider": provider, "day": d, "model": m, "dimension": dim, "cost_micros": c,
                     "fetched_at": fetched_at} for (d, m, dim), c in sorted(lines.items())])

    async def billed_lines(self, first_day: str, last_day: str) -> list[tuple[str, str, str, int]]:
        """(provider, model, dimension, micro-USD) summed over first_day..last_day (inclusive)."""
        t = billed_cost_lines
        stmt = (select(t.c.provider, t.c.model, t.c.dimension, func.sum(t.c.cost_micros))
                .where(t.c.day >= first_day, t.c.day <= last_day).group_by(t.c.provider, t.c.model, t.c.dimension))
        async with self.engine.connect() as conn:
            return [(p, m, d, int(c)) for p, m, d, c in (await conn.execute(stmt)).all()]

    async def estimated_lines(self, start_ts: int, end_ts: int) -> list[tuple[str | None, str, dict | None, int]]:
        """(provider, model, cost by billing dimension or None, cost) for the events in [start_ts, end_ts): the
        estimate side of the breakdown. The provider pollers' events (ids "openai:…", "anthropic:…", a few thousand
        a month) are read with their metadata's cost_parts; every other event is summed per provider and model in
        SQL (a gateway event has no split by dimension)."""
        e = usage_events
        polled = or_(e.c.id.like("openai:%"), e.c.id.like("anthropic:%"))
        in_range = and_(e.c.ts >= start_ts, e.c.ts < end_ts)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(e.c.provider, e.c.model, e.c.metadata, e.c.cost_micros)
                                       .where(in_range, polled))).all()
            others = (await conn.execute(select(e.c.provider, e.c.model, func.coalesce(func.sum(e.c.cost_micros), 0))
                                         .where(in_range, ~polled).group_by(e.c.provider, e.c.model))).all()
        out = [(p, m, md.get("cost_parts") if isinstance(md, dict) else None, int(c or 0)) for p, m, md, c in rows]
        return out + [(p, m, None, int(c)) for p, m, c in others]

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
        statement over a range scan of ux_usage_events_ts_id."""
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
