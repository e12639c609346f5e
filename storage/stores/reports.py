"""`/tokens me` in two statements on one connection: who is asking (person and team, one join), then everything the
answer shows (the person's and the team's window totals per model, and the raises approved for both) in one
UNION ALL. Given the autocommit read pool (`make_engine(..., autocommit=True)`), PostgreSQL sees three round trips:
the checkout's ping and the two statements, no BEGIN/ROLLBACK."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import (BigInteger, CompoundSelect, Integer, String, Table, bindparam, case, func, literal, null, select,
                        union_all)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.impact import Impact
from bot.domain.org import Person, Team
from storage.stores.impact import impact_hours, impact_selects, impacts_from_rows
from storage.tables.core import people, team_usage_hourly, teams, usage_hourly
from storage.tables.requests import budget_adjustments as adj

WindowTotals = dict[str, list[tuple[int, int, int, int]]]  # model -> per window (cost, tokens, requests, unpriced)


@dataclass(frozen=True)
class MeFigures:
    person: WindowTotals
    team: WindowTotals
    person_raised: int
    team_raised: int
    person_impact: tuple[Impact, Impact] | None = None  # cost per outcome over 7 and 30 days (storage.stores.impact)
    team_impact: tuple[Impact, Impact] | None = None


# What a report reads for a person whose team's timezone is known: (window start hours, to_hour, "YYYY-MM").
Plan = Callable[[Team | None], tuple[Sequence[int], int, str]]


class ReportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def me(self, slack_user_id: str, plan: Plan) -> tuple[Person, Team | None, MeFigures] | None:
        """Who is asking and their figures, on one connection; None when no active person has this Slack id.
        `plan` turns their team (its timezone) into the windows to read: a pure function of the caller's."""
        async with self.engine.connect() as conn:
            asker = await self._asker(conn, slack_user_id)
            if asker is None:
                return None
            person, team = asker
            starts, to_hour, month = plan(team)
            return person, team, await self._figures(conn, person.id, team.id if team else None, starts, to_hour,
                                                     month)

    async def asker(self, slack_user_id: str) -> tuple[Person, Team | None] | None:
        """The active person with this Slack id and their team (approvers not loaded), or None."""
        async with self.engine.connect() as conn:
            return await self._asker(conn, slack_user_id)

    async def me_figures(self, person_id: int, team_id: int | None, starts: Sequence[int], to_hour: int,
                         month: str) -> MeFigures:
        """Window totals per model from each start hour to `to_hour` for the person and (if any) their team, and
        the approved raises of both that apply in `month`: one statement."""
        async with self.engine.connect() as conn:
            return await self._figures(conn, person_id, team_id, starts, to_hour, month)

    @staticmethod
    async def _asker(conn: AsyncConnection, slack_user_id: str) -> tuple[Person, Team | None] | None:
        stmt = (select(people.c.id, people.c.email, people.c.slack_user_id, people.c.name, people.c.team_id,
                       people.c.monthly_budget_micros, *[c.label(f"t_{c.name}") for c in teams.c])
                .select_from(people.outerjoin(teams, teams.c.id == people.c.team_id))
                .where(people.c.slack_user_id == slack_user_id, people.c.active))
        row = (await conn.execute(stmt)).mappings().first()
        if row is None:
            return None
        person = Person(row["id"], row["email"], row["slack_user_id"], row["name"], row["team_id"],
                        row["monthly_budget_micros"])
        if row["t_id"] is None:
            return person, None
        fields = set(Team.__dataclass_fields__) - {"approvers"}
        team = Team(**{k: row[f"t_{k}"] for k in fields}, approvers=())
        return person, team

    @staticmethod
    async def _figures(conn: AsyncConnection, person_id: int, team_id: int | None, starts: Sequence[int],
                       to_hour: int, month: str) -> MeFigures:
        short_from, long_from, impact_to = impact_hours(to_hour)
        params = {f"start{i}": start for i, start in enumerate(starts)} | {
            "from_hour": min(starts), "to_hour": to_hour, "month": month, "person": person_id, "team": team_id,
            "short_from": short_from, "long_from": long_from, "impact_to": impact_to}
        rows = (await conn.execute(_figures_statement(len(starts), team_id is not None), params)).all()
        out: dict[str, WindowTotals] = {"p": {}, "t": {}}
        raised = {"rp": 0, "rt": 0}
        n = len(starts)
        impact_rows = []
        for row in rows:
            kind, model = row[0], row[1]
            if kind.startswith("i"):
                impact_rows.append(row)
            elif kind in raised:
                raised[kind] = int(row[2] or 0)
            else:
                out[kind][model] = window_values(row[2:], n)
        return MeFigures(out["p"], out["t"], raised["rp"], raised["rt"], impacts_from_rows(impact_rows, "ip"),
                         impacts_from_rows(impact_rows, "it") if team_id is not None else None)


@functools.lru_cache(maxsize=8)
def _figures_statement(windows: int, with_team: bool) -> CompoundSelect:
    """The one statement of `/tokens me` (ReportStore._figures) for a number of windows, with or without a team, built
    once: every figure in it is a bound parameter. Building and keying a UNION of ~100 columns took SQLAlchemy about
    5 ms of the event loop per answer, more than the database took to run it."""
    starts = [bindparam(f"start{i}", type_=Integer) for i in range(windows)]
    from_hour, to_hour = bindparam("from_hour", type_=Integer), bindparam("to_hour", type_=Integer)
    month = bindparam("month", type_=String)
    # BIGINT: the outcome windows multiply hours by 3600 in SQL, past 32 bits in 2038.
    impact = [bindparam(name, type_=BigInteger) for name in ("short_from", "long_from", "impact_to")]
    person, team = bindparam("person", type_=Integer), bindparam("team", type_=Integer)
    parts = [window_sums(usage_hourly, usage_hourly.c.person_id == person, starts, to_hour,
                         literal("p").label("kind"), from_hour=from_hour),
             _raised("person", person, month, "rp", windows)]
    if with_team:
        parts += [window_sums(team_usage_hourly, team_usage_hourly.c.team_id == team, starts, to_hour,
                              literal("t").label("kind"), from_hour=from_hour),
                  _raised("team", team, month, "rt", windows)]
    # Cost per outcome rides in the same statement (its rows are labelled ip*/it*).
    parts += impact_selects("person", person, *impact, 4 * windows, "ip")
    if with_team:
        parts += impact_selects("team", team, *impact, 4 * windows, "it")
    return union_all(*parts)


def window_sums(table: Table, where, starts: Sequence, to_hour, *lead, from_hour=None):  # noqa: ANN001, ANN201, ANN002
    """SELECT *lead, model, then per start hour (cost, tokens, requests, unpriced) summed from it to `to_hour`: one
    indexed range scan of a rollup table, grouped by model (the ledger's window totals use it too). Hours are values,
    or bound parameters with `from_hour` the earliest start."""
    columns = []
    for start in starts:
        inside = table.c.hour >= start
        for expr in (table.c.cost_micros, table.c.input_tokens + table.c.output_tokens, table.c.requests,
                     table.c.unpriced_requests):
            columns.append(func.coalesce(func.sum(case((inside, expr), else_=0)), 0))
    return (select(*lead, table.c.model.label("model"), *columns)
            .where(where, table.c.hour.between(min(starts) if from_hour is None else from_hour, to_hour))
            .group_by(table.c.model))


def window_values(row: Sequence, windows: int) -> list[tuple[int, int, int, int]]:
    """The per-window sums of a `window_sums` row after its model (PostgreSQL sums BIGINT as NUMERIC: ints here)."""
    values = [int(v or 0) for v in row]
    return [tuple(values[4 * i:4 * i + 4]) for i in range(windows)]  # type: ignore[misc]


def _raised(scope: str, subject_id, month, kind: str, windows: int):  # noqa: ANN001, ANN202
    # Same columns as _windows: the raise in the first, zeros after.
    total = func.coalesce(func.sum(adj.c.amount_micros), 0)
    return (select(literal(kind).label("kind"), null().label("model"), total, *[literal(0)] * (4 * windows - 1))
            .where(adj.c.scope == scope, adj.c.subject_id == subject_id, adj.c.month.is_(None) | (adj.c.month == month)))
