"""The figures behind `/tokens me`: one person's and their team's month, read from the rollups."""
from __future__ import annotations

from dataclasses import dataclass

from bot.domain.budget import BudgetLine, project
from bot.domain.summary import UsageSummary, load_summary, windows
from storage.stores.ledger import Ledger
from storage.stores.org import Person, Team
from storage.stores.requests import adjustment_totals


@dataclass(frozen=True)
class MeReport:
    person: Person
    team: Team | None
    usage: UsageSummary
    personal_budget: BudgetLine | None
    team_budget: BudgetLine | None
    team_usage: UsageSummary | None


async def me_report(ledger: Ledger, person: Person, team: Team | None, now) -> MeReport:  # noqa: ANN001
    tz = team.timezone if team else "UTC"
    w = windows(now, tz)
    usage = await load_summary(ledger, "person", person.id, w)
    # Budgets are the org file's plus approved raises (permanent ones, and this month's).
    person_raise, team_raise = await adjustment_totals(ledger.engine, person.id, team.id if team else None,
                                                       f"{w.now_local:%Y-%m}")
    personal = None
    if person.monthly_budget_micros is not None:
        budget = person.monthly_budget_micros + person_raise
        personal = BudgetLine("Your budget", budget, usage.month.cost_micros,
                              project(usage.month.cost_micros, usage.last7.cost_micros, w.now_local, budget))
    team_usage = team_line = None
    if team is not None:
        team_usage = await load_summary(ledger, "team", team.id, w)
        if team.monthly_budget_micros is not None:
            budget = team.monthly_budget_micros + team_raise
            team_line = BudgetLine(f"{team.name} budget", budget, team_usage.month.cost_micros,
                                   project(team_usage.month.cost_micros, team_usage.last7.cost_micros, w.now_local,
                                           budget))
    return MeReport(person=person, team=team, usage=usage, personal_budget=personal, team_budget=team_line,
                    team_usage=team_usage)


async def team_report_plain(ledger: Ledger, team: Team, now) -> str:  # noqa: ANN001
    from bot.domain.budget import bar, tokens, usd

    w = windows(now, team.timezone)
    usage = await load_summary(ledger, "team", team.id, w)
    lines = [f"{team.name} ({team.slug}) · {w.now_local:%Y-%m-%d %H:%M %Z}"]
    for label, t in (("today", usage.today), ("last 7 days", usage.last7), ("month to date", usage.month)):
        lines.append(f"  {label:<14} {usd(t.cost_micros):>12}  {tokens(t.tokens):>7} tokens  {t.requests:>8,} requests")
    if team.monthly_budget_micros is not None:
        line = BudgetLine("budget", team.monthly_budget_micros, usage.month.cost_micros,
                          project(usage.month.cost_micros, usage.last7.cost_micros, w.now_local, team.monthly_budget_micros))
        p = line.projection
        lines.append(f"  budget {usd(line.budget_micros)}: {line.fraction * 100:.0f}% {bar(line.fraction)}; "
                     f"projected {usd(p.month_end_micros)}"
                     + (f", runs out {p.runs_out_on:%Y-%m-%d}" if p.runs_out_on else ""))
    for model, t in usage.top_models:
        lines.append(f"  model {model}: {usd(t.cost_micros)}, {tokens(t.tokens)} tokens")
    return "\n".join(lines)
