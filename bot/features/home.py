"""The App Home tab: gathered per viewer (everyone, approvers, admins), published on open and after changes."""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError

from bot.features import requests as request_flow
from bot.domain.budget import project
from bot.features.deps import Deps
from bot.slack.blocks.home import TeamRisk, home_view
from bot.slack.identity import find_person, slack_error
from bot.slack.blocks.me import escape, me_message, text_message
from bot.features.me import me_report
from bot.features.roles import viewer
from bot.domain.summary import windows
from bot.features.unclaimed import HOME_TOP, load_unclaimed
from storage.stores.digest_queries import active_teams
from storage.stores.insights import teams_window_totals
from storage.stores.org import Team
from storage.stores.requests import adjustment_totals

log = logging.getLogger(__name__)


async def team_risks(deps: Deps, teams: list[Team]) -> list[TeamRisk]:
    """Month to date and projection per team, one statement per timezone (months start at local midnight)."""
    now = deps.clock.now()
    by_tz: dict[str, list[Team]] = {}
    for t in teams:
        by_tz.setdefault(t.timezone, []).append(t)
    out = []
    for tz, group in by_tz.items():
        w = windows(now, tz)
        totals = await teams_window_totals(deps.engine, [t.id for t in group], [w.last7_hour, w.month_hour], w.now_hour)
        for t in group:
            last7, month = totals.get(t.id, [0, 0])
            budget = t.monthly_budget_micros
            if budget is not None:
                budget += (await adjustment_totals(deps.engine, None, t.id, f"{now.astimezone(ZoneInfo(tz)):%Y-%m}"))[1]
            out.append(TeamRisk(t.name, month, budget, project(month, last7, w.now_local, budget).month_end_micros))
    return out


async def build_home(deps: Deps, user_id: str) -> dict:
    person, email = await find_person(deps.org, deps.slack, user_id)  # type: ignore[arg-type]
    who = await viewer(deps, user_id, person)
    if person is not None:
        team = await deps.org.team(person.team_id) if person.team_id else None
        me_blocks = me_message(await me_report(deps.ledger, person, team, deps.clock.now()))["blocks"]
        my_requests = await deps.requests.for_person(person.id, limit=5)
    else:
        from handlers.slack.tokens import not_in_org_text

        me_blocks = text_message(await not_in_org_text(deps, email))["blocks"]
        my_requests = []
    pending = await request_flow.pending_for(deps, user_id)
    teams = await active_teams(deps.engine) if (who.approves or who.is_admin) else []
    my_teams = await team_risks(deps, [t for t in teams if t.id in who.approves]) if who.approves else []
    all_teams = await team_risks(deps, teams) if who.is_admin else None
    warnings = await latest_warnings(deps) if who.is_admin else []
    if who.is_admin and (line := await reconciliation_line(deps)):
        warnings.insert(0, line)
    unclaimed = (await load_unclaimed(deps, top=HOME_TOP))[1] if who.is_admin else None  # UTC month to date
    return home_view(me_blocks, my_requests, pending, my_teams, all_teams, warnings, unclaimed)


async def latest_warnings(deps: Deps, limit: int = 10) -> list[str]:
    """The most recent spike warnings (their headlines, as the scan recorded them) and budget lines crossed."""
    from sqlalchemy import select

    from bot.slack.blocks.requests import slack_date
    from storage.tables.core import people, teams
    from storage.tables.alerts import budget_alerts, job_runs

    async with deps.engine.connect() as conn:
        spikes = (await conn.execute(select(job_runs.c.done_at, job_runs.c.detail).where(
            job_runs.c.kind == "spike", job_runs.c.status == "done").order_by(job_runs.c.done_at.desc())
            .limit(limit))).all()
        lines = (await conn.execute(select(budget_alerts).order_by(budget_alerts.c.fired_at.desc()).limit(limit))).mappings().all()
        team_names = dict((await conn.execute(select(teams.c.id, teams.c.name))).all())
        person_names = {pid: name or email for pid, name, email in await conn.execute(
            select(people.c.id, people.c.name, people.c.email))}
    items = [(at, f"{slack_date(at, '{date_short} {time}')} {escape(detail or 'spike')}") for at, detail in spikes]
    for a in lines:
        who = team_names.get(a["subject_id"], "?") if a["scope"] == "team" else person_names.get(a["subject_id"], "?")
        items.append((a["fired_at"], f"{slack_date(a['fired_at'], '{date_short} {time}')} {escape(who)} crossed "
                                     f"{a['threshold_pct']}% of its {a['period']} budget"))
    return [text for _, text in sorted(items, key=lambda x: -x[0])[:limit]]


async def reconciliation_line(deps: Deps) -> str | None:
    """Gateway estimate against the providers' bills, month to date (None before any bill was read)."""
    from bot.domain.reconcile import load_reconciliation, reconcile_summary_line

    result = await load_reconciliation(deps)
    return reconcile_summary_line(result) if result is not None else None


async def publish_home(deps: Deps, user_id: str) -> None:
    if deps.slack is None:
        return
    try:
        await deps.slack.views_publish(user_id=user_id, view=await build_home(deps, user_id))
    except SlackApiError as exc:
        log.warning("views.publish for %s failed: %s", user_id, slack_error(exc))
