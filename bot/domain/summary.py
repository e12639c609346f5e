"""A person's (or team's) usage summary from hourly rollup rows: pure, so it is tested without a database."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.budget import Totals, day_start, month_start
from bot.domain.budget import BudgetLine
from bot.domain.impact import Impact
from bot.domain.org import Person, Team


@dataclass(frozen=True)
class UsageSummary:
    now_local: datetime
    today: Totals
    last7: Totals
    month: Totals
    top_models: list[tuple[str, Totals]]  # this month, by cost


@dataclass(frozen=True)
class Windows:
    """The hour ranges (epoch hours, UTC) a summary needs."""

    now_local: datetime
    today_hour: int
    last7_hour: int
    month_hour: int
    now_hour: int

    @property
    def starts(self) -> tuple[int, int, int]:
        return (self.today_hour, self.last7_hour, self.month_hour)


def windows(now: datetime, timezone: str) -> Windows:
    now_local = now.astimezone(ZoneInfo(timezone))

    def hour(dt: datetime) -> int:
        return int(dt.timestamp()) // 3600

    return Windows(now_local=now_local, today_hour=hour(day_start(now_local)), last7_hour=hour(day_start(now_local, 6)),
                   month_hour=hour(month_start(now_local)), now_hour=hour(now))


def summarize(by_model: dict[str, list[tuple[int, int, int, int]]], w: Windows, top: int = 3) -> UsageSummary:
    """`by_model` is what Ledger.window_totals returns for the starts (today, last 7 days, month)."""
    sums = [[0, 0, 0, 0] for _ in range(3)]
    for per_window in by_model.values():
        for acc, values in zip(sums, per_window):
            for i, v in enumerate(values):
                acc[i] += v
    ranked = sorted(by_model.items(), key=lambda kv: (-kv[1][2][0], -kv[1][2][1], kv[0]))
    top_models = [(m, Totals(*v[2])) for m, v in ranked if v[2][2] > 0][:top]
    return UsageSummary(now_local=w.now_local, today=Totals(*sums[0]), last7=Totals(*sums[1]),
                        month=Totals(*sums[2]), top_models=top_models)


@dataclass(frozen=True)
class MeReport:
    person: Person
    team: Team | None
    usage: UsageSummary
    personal_budget: BudgetLine | None
    team_budget: BudgetLine | None
    team_usage: UsageSummary | None
    impact: tuple[Impact, Impact] | None = None  # cost per outcome, last 7 and 30 days (bot.domain.impact)
    team_impact: tuple[Impact, Impact] | None = None
