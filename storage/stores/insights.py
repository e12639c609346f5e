"""Read-only aggregate queries for `/tokens models`, `/tokens team` and the admins' App Home."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.alternatives import ModelUse
from storage.tables.core import team_usage_hourly, usage_hourly


async def model_usage(engine: AsyncEngine, scope: str, key: int | None, from_hour: int, to_hour: int) -> list[ModelUse]:
    """Per model: requests, tokens and cost of a person, a team, or (key None, scope "org") everyone."""
    t = usage_hourly if scope == "person" else team_usage_hourly
    stmt = select(t.c.model, func.sum(t.c.requests), func.sum(t.c.input_tokens), func.sum(t.c.output_tokens),
                  func.sum(t.c.cached_input_tokens), func.sum(t.c.cost_micros)).where(
        t.c.hour.between(from_hour, to_hour)).group_by(t.c.model)
    if scope == "person":
        stmt = stmt.where(t.c.person_id == key)
    elif scope == "team":
        stmt = stmt.where(t.c.team_id == key)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    uses = [ModelUse(m, int(r), int(i), int(o), int(c), int(cost)) for m, r, i, o, c, cost in rows]
    return sorted(uses, key=lambda u: (-u.cost_micros, u.model))


async def teams_window_totals(engine: AsyncEngine, team_ids: Sequence[int], starts: Sequence[int], to_hour: int
                              ) -> dict[int, list[int]]:
    """Cost per team summed from each start hour to `to_hour`, for many teams in one statement."""
    t = team_usage_hourly
    sums = [func.coalesce(func.sum(case((t.c.hour >= s, t.c.cost_micros), else_=0)), 0) for s in starts]
    out: dict[int, list[int]] = {}
    async with engine.connect() as conn:
        for i in range(0, len(team_ids), 500):
            rows = await conn.execute(select(t.c.team_id, *sums).where(
                t.c.team_id.in_(team_ids[i:i + 500]), t.c.hour.between(min(starts), to_hour)).group_by(t.c.team_id))
            out.update({r[0]: [int(v) for v in r[1:]] for r in rows})
    return out
