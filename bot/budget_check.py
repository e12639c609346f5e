"""`GET /v1/budget/check`: may this gateway user still spend? Answered from memory, refreshed every few seconds
(one indexed read per person and per team on a miss), so a gateway can ask before every request."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.budget import month_start
from bot.deps import Deps
from bot.pricing import MICROS_PER_USD
from storage.org_store import Directory
from storage.schema import people, teams, team_usage_hourly, usage_hourly
from storage.schema_requests import budget_adjustments


@dataclass(frozen=True)
class Line:
    budget_micros: int | None
    spent_micros: int

    @property
    def exhausted(self) -> bool:
        return self.budget_micros is not None and self.spent_micros >= self.budget_micros

    def as_json(self) -> dict[str, Any] | None:
        if self.budget_micros is None:
            return {"budget_usd": None, "spent_usd": self.spent_micros / MICROS_PER_USD, "remaining_usd": None}
        return {"budget_usd": self.budget_micros / MICROS_PER_USD, "spent_usd": self.spent_micros / MICROS_PER_USD,
                "remaining_usd": (self.budget_micros - self.spent_micros) / MICROS_PER_USD}


def decide(user: str, known: bool, person: Line | None, team: Line | None, team_slug: str | None,
           enforcement: str, allow_unknown: bool) -> dict[str, Any]:
    """The answer (pure): hard caps refuse once a budget is used up; soft caps allow and say so."""
    if not known:
        return {"allowed": allow_unknown, "user": user, "reason": "unknown user: not in the org file",
                "enforcement": None, "person": None, "team": None}
    used_up = [name for name, line in (("personal", person), ("team", team)) if line is not None and line.exhausted]
    if not used_up:
        allowed, reason = True, "within budget"
    elif enforcement == "hard":
        allowed, reason = False, f"{' and '.join(used_up)} budget used up; ask for more with /tokens request"
    else:
        allowed, reason = True, f"{' and '.join(used_up)} budget used up (soft cap: allowed, and reported)"
    team_json = team.as_json() if team is not None else None
    if team_json is not None:
        team_json["slug"] = team_slug
    return {"allowed": allowed, "user": user, "reason": reason, "enforcement": enforcement,
            "person": person.as_json() if person is not None else None, "team": team_json}


class BudgetChecker:
    def __init__(self, deps: Deps, cache_seconds: float = 5.0) -> None:
        self.deps = deps
        self.cache_seconds = cache_seconds
        self._directory: Directory | None = None
        self._directory_at = 0.0
        self._budgets: dict[str, dict[int, Any]] = {}
        self._spend: dict[tuple[str, int, int], tuple[float, int]] = {}  # (scope, id, month start hour) -> (at, spent)

    async def check(self, user: str) -> dict[str, Any]:
        directory = await self._fresh_directory()
        hit = directory.person_by_alias.get(user.strip().lower())
        allow_unknown = self.deps.settings.check_allow_unknown
        if hit is None:
            return decide(user, False, None, None, None, "soft", allow_unknown)
        person_id, team_id = hit
        person_budget = self._budgets["people"].get(person_id)
        team_info = self._budgets["teams"].get(team_id)
        tz = team_info["timezone"] if team_info else "UTC"
        now = self.deps.clock.now()
        start = month_start(now.astimezone(ZoneInfo(tz)))
        start_hour = int(start.timestamp()) // 3600
        month = f"{start:%Y-%m}"
        person_line = None
        if person_budget is not None:
            person_line = Line(person_budget + self._raise("person", person_id, month),
                               await self._spent("person", person_id, start_hour))
        team_line = None
        if team_info is not None:
            budget = team_info["budget"]
            team_line = Line(None if budget is None else budget + self._raise("team", team_id, month),
                             await self._spent("team", team_id, start_hour))
        return decide(user, True, person_line, team_line, team_info["slug"] if team_info else None,
                      team_info["enforcement"] if team_info else "soft", allow_unknown)

    async def _fresh_directory(self) -> Directory:
        now = time.monotonic()
        if self._directory is None or now - self._directory_at > self.cache_seconds:
            directory = await self.deps.ingestion.directory()
            if self._directory is None or directory.revision != self._directory.revision or not self._budgets:
                await self._load_budgets()
            elif now - self._directory_at > self.cache_seconds:
                await self._load_adjustments()  # approvals happen in any process
            self._directory, self._directory_at = directory, now
        return self._directory

    async def _load_budgets(self) -> None:
        async with self.deps.engine.connect() as conn:
            self._budgets["people"] = dict((await conn.execute(select(people.c.id, people.c.monthly_budget_micros)
                                                               .where(people.c.active))).all())
            self._budgets["teams"] = {r.id: {"slug": r.slug, "budget": r.monthly_budget_micros, "timezone": r.timezone,
                                             "enforcement": r.enforcement}
                                      for r in await conn.execute(select(teams).where(teams.c.active))}
        await self._load_adjustments()

    async def _load_adjustments(self) -> None:
        a = budget_adjustments
        async with self.deps.engine.connect() as conn:
            rows = await conn.execute(select(a.c.scope, a.c.subject_id, a.c.month, func.sum(a.c.amount_micros))
                                      .group_by(a.c.scope, a.c.subject_id, a.c.month))
            self._budgets["raises"] = {(scope, sid, month): int(total) for scope, sid, month, total in rows}

    def _raise(self, scope: str, subject: int, month: str) -> int:
        raises = self._budgets.get("raises", {})
        return raises.get((scope, subject, None), 0) + raises.get((scope, subject, month), 0)

    async def _spent(self, scope: str, subject: int, start_hour: int) -> int:
        key = (scope, subject, start_hour)
        cached = self._spend.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] <= self.cache_seconds:
            return cached[1]
        table, col = (usage_hourly, usage_hourly.c.person_id) if scope == "person" else (team_usage_hourly,
                                                                                        team_usage_hourly.c.team_id)
        async with self.deps.engine.connect() as conn:
            spent = int((await conn.execute(select(func.coalesce(func.sum(table.c.cost_micros), 0))
                                            .where(col == subject, table.c.hour >= start_hour))).scalar_one())
        self._spend[key] = (now, spent)
        return spent
