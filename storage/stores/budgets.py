"""What budgets are made of, read in one place: the org's budgets, the raises approved with a request's decision
(`budget_adjustments`), and spend to date. The rule that combines them is `bot.domain.budget.effective_budget`."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tables.core import people, team_usage_hourly, teams, usage_hourly
from storage.tables.requests import budget_adjustments as a


class BudgetStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def raised(self, scope: str, subject_id: int | None, month: str) -> int:
        """Approved raises of one person or team that apply in `month` (YYYY-MM): permanent ones and that month's."""
        if subject_id is None:
            return 0
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.coalesce(func.sum(a.c.amount_micros), 0)).where(
                a.c.scope == scope, a.c.subject_id == subject_id,
                a.c.month.is_(None) | (a.c.month == month)))).scalar_one())

    async def all_raises(self) -> dict[tuple[str, int, str | None], int]:
        """Every approved raise summed by (scope, subject, month or None for permanent): read once, then
        `bot.domain.budget.raised_in` picks what applies to a subject in a month."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(a.c.scope, a.c.subject_id, a.c.month, func.sum(a.c.amount_micros))
                                      .group_by(a.c.scope, a.c.subject_id, a.c.month))
            return {(scope, sid, month): int(total) for scope, sid, month, total in rows}

    async def org_budgets(self) -> tuple[dict[int, int | None], dict[int, dict[str, Any]]]:
        """Active people's personal budgets, and active teams' slug, budget, timezone and enforcement (the gateway
        check keeps these in memory and reloads them when the org changes)."""
        async with self.engine.connect() as conn:
            person_budgets = dict((await conn.execute(select(people.c.id, people.c.monthly_budget_micros)
                                                      .where(people.c.active))).all())
            team_info = {r.id: {"slug": r.slug, "budget": r.monthly_budget_micros, "timezone": r.timezone,
                                "enforcement": r.enforcement}
                         for r in await conn.execute(select(teams).where(teams.c.active))}
        return person_budgets, team_info

    async def spent_since(self, scope: str, subject_id: int, from_hour: int) -> int:
        """A person's or a team's spend from `from_hour` (epoch hours) on: month to date."""
        table, key = (usage_hourly, usage_hourly.c.person_id) if scope == "person" else (team_usage_hourly,
                                                                                        team_usage_hourly.c.team_id)
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.coalesce(func.sum(table.c.cost_micros), 0))
                                           .where(key == subject_id, table.c.hour >= from_hour))).scalar_one())

    async def output_per_request(self, person_id: int, model: str, from_hour: int) -> tuple[int, int]:
        """(requests, output tokens) of a person with a model from `from_hour` on."""
        u = usage_hourly
        async with self.engine.connect() as conn:
            requests, output = (await conn.execute(
                select(func.coalesce(func.sum(u.c.requests), 0), func.coalesce(func.sum(u.c.output_tokens), 0))
                .where(u.c.person_id == person_id, u.c.hour >= from_hour, u.c.model == model))).one()
        return int(requests), int(output)
