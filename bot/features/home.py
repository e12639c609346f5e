"""The App Home tab: gathered per viewer (everyone, approvers, admins), published on open and after changes."""
from __future__ import annotations

import logging


from bot.features import requests as request_flow
from bot.domain.budget import effective_budget, project, raised_in
from bot.features.deps import Deps
from bot.slack.blocks.home import TeamRisk, home_view
from bot.features.steering import with_steering
from bot.features.identity import find_person
from bot.slack.outbox import SlackSendError
from bot.slack.blocks.me import me_message, not_in_org_text, text_message
from bot.slack.blocks.warnings import warning_line
from storage.stores.alerts import AlertStore
from bot.features.me import me_report
from bot.features.roles import viewer
from bot.domain.summary import windows
from bot.domain.unclaimed import HOME_TOP
from bot.features.unclaimed import load_unclaimed
from bot.domain.org import Team
from storage.stores.budgets import BudgetStore

log = logging.getLogger(__name__)


async def team_risks(deps: Deps, teams: list[Team]) -> list[TeamRisk]:
    """Month to date and projection per team, one statement per timezone (months start at local midnight)."""
    now = deps.clock.now()
    by_tz: dict[str, list[Team]] = {}
    for t in teams:
        by_tz.setdefault(t.timezone, []).append(t)
    out = []
    raises = await BudgetStore(deps.engine).all_raises()
    for tz, group in by_tz.items():
        w = windows(now, tz)
        totals = await deps.insights.teams_window_totals([t.id for t in group], [w.last7_hour, w.month_hour], w.now_hour)
        for t in group:
            last7, month = totals.get(t.id, [0, 0])
            budget = effective_budget(t.monthly_budget_micros, raised_in(raises, "team", t.id, f"{w.now_local:%Y-%m}"))
            out.append(TeamRisk(t.name, month, budget, project(month, last7, w.now_local, budget).month_end_micros))
    return out


async def build_home(deps: Deps, user_id: str) -> dict:
    person, email = await find_person(deps.org, deps.slack, user_id)  # type: ignore[arg-type]
    who = await viewer(deps, user_id, person)
    if person is not None:
        team = await deps.org.team(person.team_id) if person.team_id else None
        me_blocks = (await with_steering(deps, me_message(await me_report(deps.ledger, person, team, deps.clock.now())),
                                         "person", person.id, team.timezone if team else "UTC"))["blocks"]
        my_requests = await deps.requests.for_person(person.id, limit=5)
    else:
        me_blocks = text_message(not_in_org_text(await deps.org.org_info(), email))["blocks"]
        my_requests = []
    pending = await request_flow.pending_for(deps, user_id)
    teams = await deps.org.active_teams() if (who.approves or who.is_admin) else []
    my_teams = await team_risks(deps, [t for t in teams if t.id in who.approves]) if who.approves else []
    all_teams = await team_risks(deps, teams) if who.is_admin else None
    warnings = await latest_warnings(deps) if who.is_admin else []
    if who.is_admin and (line := await reconciliation_line(deps)):
        warnings.insert(0, line)
    unclaimed = (await load_unclaimed(deps, top=HOME_TOP))[1] if who.is_admin else None  # UTC month to date
    return home_view(me_blocks, my_requests, pending, my_teams, all_teams, warnings, unclaimed)


async def latest_warnings(deps: Deps, limit: int = 10) -> list[str]:
    """The most recent spike warnings and budget lines crossed, as admins read them (App Home, admin digest)."""
    return [warning_line(w) for w in await AlertStore(deps.engine).latest_warnings(limit)]


async def reconciliation_line(deps: Deps) -> str | None:
    """Gateway estimate against the providers' bills, month to date (None before any bill was read)."""
    from bot.domain.reconcile import reconcile_summary_line
    from bot.features.reconciliation import load_reconciliation

    result = await load_reconciliation(deps)
    return reconcile_summary_line(result) if result is not None else None


async def publish_home(deps: Deps, user_id: str) -> None:
    if deps.slack is None:
        return
    try:
        await deps.slack.publish_home(user_id, await build_home(deps, user_id))
    except SlackSendError as exc:  # the next open of the tab (app_home_opened) publishes it again
        log.warning("views.publish for %s failed: %s", user_id, exc.code)
