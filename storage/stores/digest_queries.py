"""Read-only queries the digest and the warning scan need beyond the Ledger's: teams, per-person spend of a team,
who spent recently, pending budget requests."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.stores.org import Person, Team
from storage.tables.core import metadata, people, teams, usage_events, usage_hourly


@dataclass(frozen=True)
class Spender:
    person_id: int
    name: str
    slack_user_id: str | None
    cost_micros: int
    tokens: int


async def active_teams(engine: AsyncEngine) -> list[Team]:
    """Every active team (approvers are not loaded: digests and warnings do not need them)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(teams).where(teams.c.active).order_by(teams.c.id))).mappings().all()
    fields = set(Team.__dataclass_fields__)
    return [Team(**{k: v for k, v in r.items() if k in fields}, approvers=()) for r in rows]


async def team_people(engine: AsyncEngine, team_id: int) -> list[Person]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(people).where(people.c.team_id == team_id, people.c.active)
                                   .order_by(people.c.id))).mappings().all()
    return [Person(id=r["id"], email=r["email"], slack_user_id=r["slack_user_id"], name=r["name"],
                   team_id=r["team_id"], monthly_budget_micros=r["monthly_budget_micros"]) for r in rows]


async def people_by_id(engine: AsyncEngine, ids: list[int]) -> dict[int, Person]:
    if not ids:
        return {}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(people).where(people.c.id.in_(ids)))).mappings().all()
    return {r["id"]: Person(id=r["id"], email=r["email"], slack_user_id=r["slack_user_id"], name=r["name"],
                            team_id=r["team_id"], monthly_budget_micros=r["monthly_budget_micros"]) for r in rows}


async def team_spenders(engine: AsyncEngine, team_id: int, from_hour: int, to_hour: int) -> list[Spender]:
    """Spend per member of the team on the team's account, hours in [from_hour, to_hour), biggest first.

    Reads usage_hourly by its primary key prefix (person_id, hour), so the cost follows the team's size, not the
    table's."""
    members = await team_people(engine, team_id)
    if not members:
        return []
    t = usage_hourly
    by_id = {p.id: p for p in members}
    out: list[Spender] = []
    async with engine.connect() as conn:
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


async def recent_spend(engine: AsyncEngine, since_ts: int) -> tuple[dict[int, int], dict[int, int]]:
    """Cost per person and per team of the raw events since `since_ts` (an indexed range scan on usage_events.ts):
    the warning scan only looks closer at those who spent anything recently."""
    e = usage_events
    async with engine.connect() as conn:
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


async def pending_request_count(engine: AsyncEngine, team_id: int) -> int:
    """Pending budget requests of a team; 0 where the budget_requests table does not exist (yet)."""
    table = metadata.tables.get("budget_requests")
    if table is None:
        return 0
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(
            table.c.team_id == team_id, table.c.status == "pending"))).scalar_one())


async def budgeted_people(engine: AsyncEngine) -> list[Person]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(people).where(people.c.active, people.c.monthly_budget_micros.is_not(None))
                                   .order_by(people.c.id))).mappings().all()
    return [Person(id=r["id"], email=r["email"], slack_user_id=r["slack_user_id"], name=r["name"],
                   team_id=r["team_id"], monthly_budget_micros=r["monthly_budget_micros"]) for r in rows]


async def spend_since(engine: AsyncEngine, scope: str, ids: list[int], from_hour: int) -> dict[int, int]:
    """Cost per subject from `from_hour` on, for many subjects at once (primary-key range scans)."""
    from storage.tables.core import team_usage_hourly

    table, col = (usage_hourly, usage_hourly.c.person_id) if scope == "person" else (team_usage_hourly,
                                                                                    team_usage_hourly.c.team_id)
    out: dict[int, int] = {}
    async with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            rows = await conn.execute(select(col, func.sum(table.c.cost_micros))
                                      .where(col.in_(ids[start:start + 500]), table.c.hour >= from_hour).group_by(col))
            out.update({k: int(v or 0) for k, v in rows})
    return out
