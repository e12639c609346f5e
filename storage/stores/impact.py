"""Cost per outcome: spend (from the hourly rollups) and outcomes (with the reverted ones) of a person or a team over
the trailing 7 and 30 days. `impact_parts` are SELECTs shaped to join another UNION ALL (so `/tokens me` stays one
statement); `ImpactStore` runs them on their own for the team views, the digest and `/tokens impact`."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, case, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.impact import WINDOWS, Impact, OutcomeCount, impact_of, window_hours
from storage.tables.core import team_usage_hourly, usage_hourly
from storage.tables.otlp import outcome_events
from storage.tables.outcomes import outcome_reverts

SHORT, LONG = WINDOWS  # 7 and 30 days


def _sum(expr):  # noqa: ANN001, ANN202
    return func.coalesce(func.sum(expr), 0)


def impact_hours(now_hour: int) -> tuple[int, int, int]:
    """(first hour of the 7-day window, of the 30-day window, last hour of both)."""
    short_from, to_hour = window_hours(now_hour, SHORT)
    return short_from, window_hours(now_hour, LONG)[0], to_hour


def impact_parts(scope: str, key: int, now_hour: int, numbers: int, label: str) -> list:
    """Two SELECTs of (label + "s" | label + "o", model-or-kind, `numbers` integers): the spend of the 7- and 30-day
    windows, then per outcome kind (count 7 d, reverted 7 d, count 30 d, reverted 30 d). `scope` is person or team."""
    return impact_selects(scope, key, *impact_hours(now_hour), numbers, label)


def impact_selects(scope: str, key, short_from, long_from, to_hour, numbers: int, label: str) -> list:  # noqa: ANN001
    """impact_parts with its hours given: values, or bound parameters of a statement built once (ReportStore)."""
    rollup = usage_hourly if scope == "person" else team_usage_hourly
    owner = rollup.c.person_id if scope == "person" else rollup.c.team_id
    spend = (select(literal(label + "s").label("kind"), null().label("model"),
                    _sum(case((rollup.c.hour >= short_from, rollup.c.cost_micros), else_=0)),
                    _sum(rollup.c.cost_micros), *[literal(0)] * (numbers - 2))
             .where(owner == key, rollup.c.hour.between(long_from, to_hour)))
    o, r = outcome_events, outcome_reverts
    who = o.c.person_id if scope == "person" else o.c.team_id
    recent = o.c.occurred_at >= short_from * 3600
    undone = r.c.outcome_id.is_not(None)
    outcomes = (select(literal(label + "o").label("kind"), o.c.kind.label("model"),
                       _sum(case((recent, o.c.count), else_=0)), _sum(case((and_(recent, undone), o.c.count), else_=0)),
                       _sum(o.c.count), _sum(case((undone, o.c.count), else_=0)), *[literal(0)] * (numbers - 4))
                .select_from(o.outerjoin(r, r.c.outcome_id == o.c.id))
                .where(who == key, o.c.occurred_at >= long_from * 3600, o.c.occurred_at < (to_hour + 1) * 3600)
                .group_by(o.c.kind))
    return [spend, outcomes]


def impacts_from_rows(rows: Iterable[Sequence], label: str) -> tuple[Impact, Impact]:
    """The (7-day, 30-day) figures from the rows `impact_parts(..., label)` returned (other rows are skipped)."""
    spend = [0, 0]
    counts: list[dict[str, OutcomeCount]] = [{}, {}]
    for row in rows:
        if row[0] == label + "s":
            spend = [int(row[2] or 0), int(row[3] or 0)]
        elif row[0] == label + "o":
            n7, r7, n30, r30 = (int(v or 0) for v in row[2:6])
            counts[0][row[1]] = OutcomeCount(n7, r7)
            counts[1][row[1]] = OutcomeCount(n30, r30)
    return impact_of(SHORT, spend[0], counts[0]), impact_of(LONG, spend[1], counts[1])


class ImpactStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def impacts(self, scope: str, key: int, now_hour: int) -> tuple[Impact, Impact]:
        """A person's or a team's cost per outcome over the last 7 and 30 days: one statement."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(union_all(*impact_parts(scope, key, now_hour, 4, "x")))).all()
        return impacts_from_rows(rows, "x")

    async def members(self, team_id: int, person_ids: Sequence[int], from_hour: int, to_hour: int,
                      days: int) -> dict[int, Impact]:
        """Per person, on the team's account: spend in hours [from_hour, to_hour] and the outcomes they made for the
        team in that time (people with neither are left out)."""
        if not person_ids:
            return {}
        ids = list(person_ids)
        spend: dict[int, int] = defaultdict(int)
        counts: dict[int, dict[str, OutcomeCount]] = defaultdict(dict)
        u, o, r = usage_hourly, outcome_events, outcome_reverts
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for pid, cost in await conn.execute(
                        select(u.c.person_id, _sum(u.c.cost_micros))
                        .where(u.c.person_id.in_(chunk), u.c.hour.between(from_hour, to_hour), u.c.team_id == team_id)
                        .group_by(u.c.person_id)):
                    spend[pid] = int(cost or 0)
                for pid, kind, n, undone in await conn.execute(
                        select(o.c.person_id, o.c.kind, _sum(o.c.count),
                               _sum(case((r.c.outcome_id.is_not(None), o.c.count), else_=0)))
                        .select_from(o.outerjoin(r, r.c.outcome_id == o.c.id))
                        .where(o.c.person_id.in_(chunk), o.c.team_id == team_id,
                               o.c.occurred_at >= from_hour * 3600, o.c.occurred_at < (to_hour + 1) * 3600)
                        .group_by(o.c.person_id, o.c.kind)):
                    counts[pid][kind] = OutcomeCount(int(n or 0), int(undone or 0))
        return {pid: impact_of(days, spend.get(pid, 0), counts.get(pid, {}))
                for pid in ids if spend.get(pid) or pid in counts}


__all__ = ["ImpactStore", "impact_hours", "impact_parts", "impact_selects", "impacts_from_rows"]
