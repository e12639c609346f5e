"""Read-only aggregate queries over the rollups and raw events: per-member spend for digests and `/tokens top`,
who spent recently (the warning scan), spend by model (`/tokens models`), window totals for App Home, and the
spend nobody in the org file claims."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.alternatives import ModelUse
from bot.domain.focus import SpendLine
from bot.domain.unclaimed import Unclaimed, UnclaimedId
from storage.tables.core import people, team_usage_hourly, teams, usage_events, usage_hourly


@dataclass(frozen=True)
class Spender:
    person_id: int
    name: str
    slack_user_id: str | None
    cost_micros: int
    tokens: int


class InsightStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def team_spenders(self, team_id: int, from_hour: int, to_hour: int) -> list[Spender]:
        """Spend per member of the team on the team's account, hours in [from_hour, to_hour), biggest first.

        Reads usage_hourly by its primary key prefix (person_id, hour), so the cost follows the team's size, not the
        table's."""
        async with self.engine.connect() as conn:
            members = (await conn.execute(select(people.c.id, people.c.name, people.c.email, people.c.slack_user_id)
                                          .where(people.c.team_id == team_id, people.c.active))).all()
        if not members:
            return []
        t = usage_hourly
        by_id = {m.id: m for m in members}
        out: list[Spender] = []
        async with self.engine.connect() as conn:
            ids = list(by_id)
            for start in range(0, len(ids), 500):
                rows = await conn.execute(
                    select(t.c.person_id, func.sum(t.c.cost_micros), func.sum(t.c.input_tokens + t.c.output_tokens))
                    .where(t.c.person_id.in_(ids[start:start + 500]), t.c.hour >= from_hour, t.c.hour < to_hour,
                           t.c.team_id == team_id)
                    .group_by(t.c.person_id))
                for pid, cost, toks in rows:
                    p = by_id[pid]
                    out.append(Spender(pid, p.name or p.email, p.slack_user_id, int(cost or 0), int(toks or 0)))
        return sorted((s for s in out if s.cost_micros > 0 or s.tokens > 0), key=lambda s: (-s.cost_micros, s.name))

    async def recent_spend(self, since_ts: int) -> tuple[dict[int, int], dict[int, int]]:
        """Cost per person and per team of the raw events since `since_ts` (an indexed range scan on usage_events.ts):
        the warning scan only looks closer at those who spent anything recently."""
        e = usage_events
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(e.c.person_id, e.c.team_id, func.sum(e.c.cost_micros))
                                       .where(e.c.ts >= since_ts).group_by(e.c.person_id, e.c.team_id))).all()
        per_person: dict[int, int] = {}
        per_team: dict[int, int] = {}
        for pid, tid, cost in rows:
            cost = int(cost or 0)
            if pid is not None:
                per_person[pid] = per_person.get(pid, 0) + cost
            if tid:
                per_team[tid] = per_team.get(tid, 0) + cost
        return per_person, per_team

    async def spend_since(self, scope: str, ids: list[int], from_hour: int) -> dict[int, int]:
        """Cost per subject from `from_hour` on, for many subjects at once (primary-key range scans)."""
        table, col = (usage_hourly, usage_hourly.c.person_id) if scope == "person" else (team_usage_hourly,
                                                                                        team_usage_hourly.c.team_id)
        out: dict[int, int] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = await conn.execute(select(col, func.sum(table.c.cost_micros))
                                          .where(col.in_(ids[start:start + 500]), table.c.hour >= from_hour).group_by(col))
                out.update({k: int(v or 0) for k, v in rows})
        return out

    async def model_usage(self, scope: str, key: int | None, from_hour: int, to_hour: int) -> list[ModelUse]:
        """Per model: requests, tokens and cost of a person, a team, or (key None, scope "org") everyone."""
        t = usage_hourly if scope == "person" else team_usage_hourly
        stmt = select(t.c.model, func.sum(t.c.requests), func.sum(t.c.input_tokens), func.sum(t.c.output_tokens),
                      func.sum(t.c.cached_input_tokens), func.sum(t.c.cost_micros)).where(
            t.c.hour.between(from_hour, to_hour)).group_by(t.c.model)
        if scope == "person":
            stmt = stmt.where(t.c.person_id == key)
        elif scope == "team":
            stmt = stmt.where(t.c.team_id == key)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        uses = [ModelUse(m, int(r), int(i), int(o), int(c), int(cost)) for m, r, i, o, c, cost in rows]
        return sorted(uses, key=lambda u: (-u.cost_micros, u.model))

    async def teams_window_totals(self, team_ids: Sequence[int], starts: Sequence[int], to_hour: int
                                  ) -> dict[int, list[int]]:
        """Cost per team summed from each start hour to `to_hour`, for many teams in one statement."""
        t = team_usage_hourly
        sums = [func.coalesce(func.sum(case((t.c.hour >= s, t.c.cost_micros), else_=0)), 0) for s in starts]
        out: dict[int, list[int]] = {}
        async with self.engine.connect() as conn:
            for i in range(0, len(team_ids), 500):
                rows = await conn.execute(select(t.c.team_id, *sums).where(
                    t.c.team_id.in_(team_ids[i:i + 500]), t.c.hour.between(min(starts), to_hour)).group_by(t.c.team_id))
                out.update({r[0]: [int(v) for v in r[1:]] for r in rows})
        return out

    async def unclaimed_spend(self, from_ts: int, to_ts: int, top: int = 10) -> Unclaimed:
        """Unclaimed events with from_ts <= ts < to_ts: totals, and the `top` ids by cost, then requests, then id.

        Reads raw events, not rollups: the rollups keep no user_ref. Unclaimed events are few once the org file is right,
        and the partial index ix_usage_events_unmapped covers exactly them."""
        e = usage_events
        unclaimed = (e.c.person_id.is_(None), e.c.ts >= from_ts, e.c.ts < to_ts)
        cost = func.coalesce(func.sum(func.coalesce(e.c.cost_micros, 0)), 0)
        # Requests as the events count them (a provider usage bucket: the provider's own count).
        requests_of = func.coalesce(func.sum(e.c.requests), 0)
        unpriced_of = func.coalesce(func.sum(case((e.c.cost_micros.is_(None), e.c.requests), else_=0)), 0)
        totals = select(cost, func.count(), requests_of, unpriced_of).where(*unclaimed)
        id_cost = cost.label("cost")
        id_requests = requests_of.label("requests")
        by_id = (select(e.c.user_ref, id_cost, id_requests, func.max(e.c.ts)).where(*unclaimed).group_by(e.c.user_ref)
                 .order_by(id_cost.desc(), id_requests.desc(), e.c.user_ref).limit(top))
        async with self.engine.connect() as conn:
            total_cost, events, requests, unpriced = (await conn.execute(totals)).one()
            rows = (await conn.execute(by_id)).all() if events else []
        # int(): PostgreSQL sums BIGINT as NUMERIC (Decimal); SQLite gives int.
        return Unclaimed(int(total_cost), int(requests), int(unpriced),
                         [UnclaimedId(ref, int(c), int(n), int(last)) for ref, c, n, last in rows])

    async def spend_lines(self, from_hour: int, to_hour: int) -> list[SpendLine]:
        """Usage per (team, person, model) in hours [from_hour, to_hour), for chargeback: from the person rollups,
        which hold every event (unclaimed ones under person 0), so the lines add up to the ledger."""
        u = usage_hourly
        stmt = (select(teams.c.slug, teams.c.name, people.c.email, u.c.model, func.sum(u.c.requests),
                       func.sum(u.c.input_tokens), func.sum(u.c.output_tokens), func.sum(u.c.cost_micros),
                       func.sum(u.c.unpriced_requests))
                .select_from(u.outerjoin(people, people.c.id == u.c.person_id).outerjoin(teams, teams.c.id == u.c.team_id))
                .where(u.c.hour >= from_hour, u.c.hour < to_hour)
                .group_by(teams.c.slug, teams.c.name, people.c.email, u.c.model)
                .order_by(teams.c.slug, people.c.email, u.c.model))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [SpendLine(slug, name, email, model, None, int(n), int(i), int(o), int(c), int(up))
                for slug, name, email, model, n, i, o, c, up in rows]

    async def total_cost(self, from_hour: int, to_hour: int) -> int:
        """Everyone's spend in hours [from_hour, to_hour), from the team rollups."""
        t = team_usage_hourly
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.coalesce(func.sum(t.c.cost_micros), 0))
                                           .where(t.c.hour >= from_hour, t.c.hour < to_hour))).scalar_one())
