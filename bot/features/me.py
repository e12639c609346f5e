"""The figures behind `/tokens me`: one person's and their team's month, read from the rollups."""
from __future__ import annotations

from bot.domain.budget import BudgetLine, budget_line
from bot.domain.summary import MeReport, UsageSummary, Windows, summarize, windows
from bot.features.deps import Deps
from bot.features.identity import find_person
from storage.stores.ledger import Ledger
from bot.domain.org import Person, Team
from storage.stores.budgets import BudgetStore
from storage.stores.reports import MeFigures, ReportStore


async def me_for(deps: Deps, slack_user_id: str) -> tuple[MeReport | None, str | None]:
    """`/tokens me` for a Slack user: (the report, or None when the org file does not name them; the email looked at).
    The common case is one connection and two statements (ReportStore.me) on the read pool."""
    now = deps.clock.now()

    def plan(team: Team | None) -> tuple[tuple[int, int, int], int, str]:
        w = windows(now, team.timezone if team else "UTC")
        return w.starts, w.now_hour, f"{w.now_local:%Y-%m}"

    found = await ReportStore(deps.read_engine).me(slack_user_id, plan)
    if found is not None:
        person, team, figures = found
        return report_from(person, team, figures, windows(now, team.timezone if team else "UTC")), person.email
    # Not linked yet: their Slack profile email, then the org file (the link is remembered for next time).
    linked, email = await find_person(deps.org, deps.slack, slack_user_id)
    if linked is None:
        return None, email
    team = await deps.org.team(linked.team_id) if linked.team_id else None
    return await me_report(deps.ledger, linked, team, now), linked.email


async def me_report(ledger: Ledger, person: Person, team: Team | None, now) -> MeReport:  # noqa: ANN001
    """Everything `/tokens me` shows for a known person, read in one statement (ReportStore.me_figures)."""
    w = windows(now, team.timezone if team else "UTC")
    figures = await ReportStore(ledger.engine).me_figures(person.id, team.id if team else None, w.starts,
                                                          w.now_hour, f"{w.now_local:%Y-%m}")
    return report_from(person, team, figures, w)


def report_from(person: Person, team: Team | None, figures: MeFigures, w: Windows) -> MeReport:
    usage = summarize(figures.person, w)
    personal = budget_line("Your budget", person.monthly_budget_micros, figures.person_raised,
                           usage.month.cost_micros, usage.last7.cost_micros, w.now_local)
    team_usage = team_line = None
    if team is not None:
        team_usage = summarize(figures.team, w)
        team_line = budget_line(f"{team.name} budget", team.monthly_budget_micros, figures.team_raised,
                                team_usage.month.cost_micros, team_usage.last7.cost_micros, w.now_local)
    return MeReport(person=person, team=team, usage=usage, personal_budget=personal, team_budget=team_line,
                    team_usage=team_usage, impact=figures.person_impact, team_impact=figures.team_impact)


async def team_budget_line(ledger: Ledger, team: Team, usage: UsageSummary, label: str) -> BudgetLine | None:
    """The team's effective budget this month (org file plus approved raises) against its usage summary."""
    if team.monthly_budget_micros is None:
        return None
    raised = await BudgetStore(ledger.engine).raised("team", team.id, f"{usage.now_local:%Y-%m}")
    return budget_line(label, team.monthly_budget_micros, raised, usage.month.cost_micros, usage.last7.cost_micros,
                       usage.now_local)


async def team_report_plain(ledger: Ledger, team: Team, now) -> str:  # noqa: ANN001
    from bot.domain.format import bar, tokens, usd

    w = windows(now, team.timezone)
    usage = await load_summary(ledger, "team", team.id, w)
    lines = [f"{team.name} ({team.slug}) · {w.now_local:%Y-%m-%d %H:%M %Z}"]
    for label, t in (("today", usage.today), ("last 7 days", usage.last7), ("month to date", usage.month)):
        lines.append(f"  {label:<14} {usd(t.cost_micros):>12}  {tokens(t.tokens):>7} tokens  {t.requests:>8,} requests")
    if (line := await team_budget_line(ledger, team, usage, "budget")) is not None:
        p = line.projection
        lines.append(f"  budget {usd(line.budget_micros)}: {line.fraction * 100:.0f}% {bar(line.fraction)}; "
                     f"projected {usd(p.month_end_micros)}"
                     + (f", runs out {p.runs_out_on:%Y-%m-%d}" if p.runs_out_on else ""))
    for model, t in usage.top_models:
        lines.append(f"  model {model}: {usd(t.cost_micros)}, {tokens(t.tokens)} tokens")
    return "\n".join(lines)


async def load_summary(ledger: Ledger, scope: str, key: int, w: Windows) -> UsageSummary:
    return summarize(await ledger.window_totals(scope, key, w.starts, w.now_hour), w)
