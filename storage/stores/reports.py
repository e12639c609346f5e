"""`/tokens me` in two statements on one connection: who is asking (person and team, one join), then everything the
answer shows (the person's and the team's window totals per model, and the raises approved for both) in one
UNION ALL. Given the autocommit read pool (`make_engine(..., autocommit=True)`), PostgreSQL sees three round trips:
the checkout's ping and the two statements, no BEGIN/ROLLBACK."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, case, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.impact import Impact
from bot.domain.org import Person, Team
from storage.stores.impact import impact_parts, impacts_from_rows
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
        parts = [window_sums(usage_hourly, usage_hourly.c.person_id == person_id, starts, to_hour,
                             literal("p").label("kind")),
                 _raised("person", person_id, month, "rp", len(starts))]
        if team_id is not None:
            parts += [window_sums(team_usage_hourly, team_usage_hourly.c.team_id == team_id, starts, to_hour,
                                  literal("t").label("kind")),
                      _raised("team", team_id, month, "rt", len(starts))]
        # Cost per outcome rides in the same statement (its rows are labelled ip*/it*).
        parts += impact_parts("person", person_id, to_hour, 4 * len(starts), "ip")
        if team_id is not None:
            parts += impact_parts("team", team_id, to_hour, 4 * len(starts), "it")
        rows = (await conn.execute(union_all(*parts))).all()
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


def window_sums(table: Table, where, starts: Sequence[int], to_hour: int, *lead):  # noqa: ANN001, ANN201, ANN002
    """SELECT *lead, model, then per start hour (cost, tokens, requests, unpriced) summed from it to `to_hour`: one
    indexed range scan of a rollup table, grouped by model (the ledger's window totals use it too)."""
    columns = []
    for start in starts:
        inside = table.c.hour >= start
        for expr in (table.c.cost_micros, table.c.input_tokens + table.c.output_tokens, table.c.requests,
                     table.c.unpriced_requests):
            columns.append(func.coalesce(func.sum(case((inside, expr), else_=0)), 0))
    return (select(*lead, table.c.model.label("model"), *columns)
            .where(where, table.c.hour.between(min(starts), to_hour)).group_by(table.c.model))


def window_values(row: Sequence, windows: int) -> list[tuple[int, int, int, int]]:
    """The per-window sums of a `window_sums` row after its model (PostgreSQL sums BIGINT as NUMERIC: ints here)."""
    values = [int(v or 0) for v in row]
    return [tuple(values[4 * i:4 * i + 4]) for i in range(windows)]  # type: ignore[misc]


def _raised(scope: str, subject_id: int, month: str, kind: str, windows: int):  # noqa: ANN202
    # Same columns as _windows: the raise in the first, zeros after.
    total = func.coalesce(func.sum(adj.c.amount_micros), 0)
    return (select(literal(kind).label("kind"), null().label("model"), total, *[literal(0)] * (4 * windows - 1))
            .where(adj.c.scope == scope, adj.c.subject_id == subject_id, adj.c.month.is_(None) | (adj.c.month == month)))
