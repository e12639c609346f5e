"""Spend that nobody in the org file claims (usage_events.person_id IS NULL): shown to admins so a gateway that
sends the wrong user ids is noticed the first day, not when the month's numbers do not add up."""
from __future__ import annotations


from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.unclaimed import Unclaimed, UnclaimedId
from storage.tables.core import usage_events


async def unclaimed_spend(engine: AsyncEngine, from_ts: int, to_ts: int, top: int = 10) -> Unclaimed:
    """Unclaimed events with from_ts <= ts < to_ts: totals, and the `top` ids by cost, then requests, then id.

    Reads raw events, not rollups: the rollups keep no user_ref. Unclaimed events are few once the org file is right,
    and the partial index ix_usage_events_unmapped covers exactly them."""
    e = usage_events
    unclaimed = (e.c.person_id.is_(None), e.c.ts >= from_ts, e.c.ts < to_ts)
    cost = func.coalesce(func.sum(func.coalesce(e.c.cost_micros, 0)), 0)
    # count(cost_micros) skips NULLs, so the difference is the unpriced requests.
    totals = select(cost, func.count(), func.count() - func.count(e.c.cost_micros)).where(*unclaimed)
    id_cost = cost.label("cost")
    id_requests = func.count().label("requests")
    by_id = (select(e.c.user_ref, id_cost, id_requests, func.max(e.c.ts)).where(*unclaimed).group_by(e.c.user_ref)
             .order_by(id_cost.desc(), id_requests.desc(), e.c.user_ref).limit(top))
    async with engine.connect() as conn:
        total_cost, requests, unpriced = (await conn.execute(totals)).one()
        rows = (await conn.execute(by_id)).all() if requests else []
    # int(): PostgreSQL sums BIGINT as NUMERIC (Decimal); SQLite gives int.
    return Unclaimed(int(total_cost), int(requests), int(unpriced),
                     [UnclaimedId(ref, int(c), int(n), int(last)) for ref, c, n, last in rows])
