"""What the runaway and tokenmaxxing signals read: recent requests (with the fingerprint and session id their metadata
carries), hourly and daily spend per person, outcome days, and the signals already sent (job_runs `signal:` keys)."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.signals import DAY_S, Request, request_of
from storage.tables.alerts import job_runs
from storage.tables.core import usage_events, usage_hourly
from storage.tables.otlp import outcome_events


class SignalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def requests_since(self, from_ts: int, to_ts: int) -> list[Request]:
        """Requests of people the org file names, in [from_ts, to_ts]."""
        t = usage_events
        stmt = (select(t.c.ts, t.c.person_id, t.c.cost_micros, t.c.model, t.c.metadata)
                .where(t.c.ts >= from_ts, t.c.ts <= to_ts, t.c.person_id.is_not(None)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [request_of(int(ts), int(pid), cost, model, json.loads(meta) if isinstance(meta, str) else meta)
                for ts, pid, cost, model, meta in rows]

    async def hourly(self, person_ids: Sequence[int], from_hour: int, to_hour: int) -> dict[int, list[int]]:
        """Per person: the spend of each hour with any, in [from_hour, to_hour)."""
        if not person_ids:
            return {}
        t = usage_hourly
        stmt = (select(t.c.person_id, t.c.hour, func.sum(t.c.cost_micros))
                .where(t.c.person_id.in_(list(person_ids)), t.c.hour >= from_hour, t.c.hour < to_hour)
                .group_by(t.c.person_id, t.c.hour))
        out: dict[int, list[int]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for pid, _hour, cost in await conn.execute(stmt):
                out[int(pid)].append(int(cost or 0))
        return out

    async def daily(self, from_day: int, min_micros: int) -> dict[int, dict[int, int]]:
        """Per person and UTC day (epoch days) from `from_day`: spend, for people with a day of at least `min_micros`."""
        t = usage_hourly
        day = t.c.hour // 24  # integer division on both databases
        cost = func.sum(t.c.cost_micros)
        # The threshold is applied in the database (each person's peak day, a window over the grouped days): the rows
        # come back to the event loop, and at 10,000 people x 3 weeks reading them all blocked it for ~130 ms.
        days = (select(t.c.person_id, day.label("day"), cost.label("cost"),
                       func.max(cost).over(partition_by=t.c.person_id).label("peak"))
                .where(t.c.hour >= from_day * 24, t.c.person_id != 0).group_by(t.c.person_id, "day").subquery())
        stmt = select(days.c.person_id, days.c.day, days.c.cost).where(days.c.peak >= min_micros)
        out: dict[int, dict[int, int]] = defaultdict(dict)
        async with self.engine.connect() as conn:
            for pid, d, spent in await conn.execute(stmt):
                out[int(pid)][int(d)] = int(spent or 0)
        return dict(out)

    async def outcome_days(self, from_day: int) -> tuple[dict[int, set[int]], dict[int, dict[int, int]]]:
        """(person -> UTC days with an outcome, team -> day -> outcomes) from `from_day`."""
        t = outcome_events
        stmt = select(t.c.person_id, t.c.team_id, t.c.occurred_at, t.c.count).where(t.c.occurred_at >= from_day * DAY_S)
        people: dict[int, set[int]] = defaultdict(set)
        teams: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        async with self.engine.connect() as conn:
            for pid, team, at, count in await conn.execute(stmt):
                d = int(at) // DAY_S
                if pid is not None:
                    people[int(pid)].add(d)
                if team:
                    teams[int(team)][d] += int(count)
        return people, teams

    async def sent(self, key: str) -> dict | None:
        """A signal sent (its RunLog row done): the details it was sent with, else None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(job_runs.c.detail).where(
                job_runs.c.key == f"signal:{key}", job_runs.c.status == "done"))).first()
        if row is None:
            return None
        try:
            detail = json.loads(row[0] or "{}")
        except ValueError:
            return {}
        return detail if isinstance(detail, dict) else {}

    async def sent_since(self, prefix: str, since_ts: int) -> set[str]:
        """Keys (without `signal:`) of signals starting with `prefix` claimed since `since_ts`."""
        stmt = select(job_runs.c.key).where(job_runs.c.key.like(f"signal:{prefix}%"), job_runs.c.claimed_at >= since_ts)
        async with self.engine.connect() as conn:
            return {k.removeprefix("signal:") for k in (await conn.execute(stmt)).scalars()}


__all__ = ["SignalStore"]
