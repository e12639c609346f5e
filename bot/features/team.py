"""`/tokens team`, `/tokens top` and `/tokens models`: load what the viewer may see, then render."""
from __future__ import annotations

import re
from typing import Any

from bot.domain.alternatives import cheaper_alternative
from bot.features.deps import Deps
from bot.domain.format import escape
from bot.slack.blocks.me import text_message
from bot.features.roles import Viewer
from bot.domain.summary import windows
from bot.features.me import load_summary, team_budget_line
from bot.features.steering import with_steering
from bot.slack.blocks.team import impact_message, models_message, team_message, top_message
from bot.domain.impact import outcomes_text, window_hours
from storage.stores.impact import ImpactStore
from bot.domain.org import Team

MENTION_RE = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


async def resolve_team(deps: Deps, viewer: Viewer, arg: str | None) -> Team | str:
    """The team named by `arg` (a slug), or the viewer's own; a string is what to tell the user instead."""
    if arg is None:
        if viewer.person is None or viewer.person.team_id is None:
            return "You are not in a team in the org file; name one: `/tokens team <slug>`."
        team = await deps.org.team(viewer.person.team_id)
        return team if team is not None else "Your team is not in the org file any more."
    if MENTION_RE.match(arg):
        return "That is a person, not a team: use a team slug, e.g. `/tokens team platform`."
    slug = arg.lower()
    if not SLUG_RE.match(slug):
        return f"`{escape(arg[:40])}` is not a team slug (letters, digits, - and _)."
    team = await deps.org.team_by_slug(slug)
    if team is None:
        return f"There is no team `{escape(slug)}`."
    if not viewer.may_see_team(team):
        return f"Only members, approvers of `{escape(slug)}` and FinOps admins can see its spend."
    return team


def _label(slack_user_id: str | None, name: str) -> str:
    # mrkdwn-safe: a Slack mention, or the escaped name of someone not (yet) linked to Slack.
    return f"<@{slack_user_id}>" if slack_user_id else escape(name)


async def _spenders(deps: Deps, team: Team, w) -> list[tuple[str, int, str]]:  # noqa: ANN001
    """This month's spenders on the team's account, each with what they shipped for the team this month beside."""
    spenders = await deps.insights.team_spenders(team.id, w.month_hour, w.now_hour + 1)
    shipped = await ImpactStore(deps.read_engine).members(team.id, [s.person_id for s in spenders], w.month_hour,
                                                          w.now_hour, 30)
    return [(_label(s.slack_user_id, s.name), s.cost_micros,
             outcomes_text(shipped[s.person_id]) if s.person_id in shipped else "no recorded outcomes")
            for s in spenders]


async def team_view(deps: Deps, viewer: Viewer, arg: str | None) -> dict[str, Any]:
    team = await resolve_team(deps, viewer, arg)
    if isinstance(team, str):
        return text_message(team)
    w = windows(deps.clock.now(), team.timezone)
    usage = await load_summary(deps.ledger, "team", team.id, w)
    spenders = await _spenders(deps, team, w)
    people = spenders if viewer.may_see_people_of(team) else None
    impacts = await ImpactStore(deps.read_engine).impacts("team", team.id, w.now_hour)
    message = team_message(team.name, usage, await team_budget_line(deps.ledger, team, usage, f"{team.name} budget"),
                           people, len(spenders), impacts)
    return await with_steering(deps, message, "team", team.id, team.timezone)


async def impact_view(deps: Deps, viewer: Viewer, arg: str | None) -> dict[str, Any]:
    """`/tokens impact [slug]`: the same team and per-person rules as `/tokens top`."""
    team = await resolve_team(deps, viewer, arg)
    if isinstance(team, str):
        return text_message(team)
    now_hour = int(deps.clock.now().timestamp()) // 3600
    store = ImpactStore(deps.read_engine)
    impacts = await store.impacts("team", team.id, now_hour)
    from_hour, to_hour = window_hours(now_hour, 30)
    members = await deps.org.team_people(team.id)
    per_person = await store.members(team.id, [p.id for p in members], from_hour, to_hour, 30)
    shown = None
    if viewer.may_see_people_of(team):
        by_name = sorted((p for p in members if p.id in per_person), key=lambda p: (p.name or p.email).lower())
        shown = [(_label(p.slack_user_id, p.name or p.email), per_person[p.id]) for p in by_name]
    return impact_message(team.name, impacts, shown, len(per_person))


async def top_view(deps: Deps, viewer: Viewer, arg: str | None) -> dict[str, Any]:
    team = await resolve_team(deps, viewer, arg)
    if isinstance(team, str):
        return text_message(team)
    w = windows(deps.clock.now(), team.timezone)
    spenders = await _spenders(deps, team, w)
    return top_message(team.name, spenders if viewer.may_see_people_of(team) else None, len(spenders))


async def models_view(deps: Deps, viewer: Viewer, arg: str | None) -> dict[str, Any]:
    now = deps.clock.now()
    now_hour = int(now.timestamp()) // 3600
    if arg is None:
        if viewer.person is None:
            return text_message("You are not in the org file, so I have no usage of yours.")
        scope, key, title = "person", viewer.person.id, "Your spend by model"
    else:
        team = await resolve_team(deps, viewer, arg)
        if isinstance(team, str):
            return text_message(team)
        scope, key, title = "team", team.id, f"{team.name}: spend by model"
    uses = await deps.insights.model_usage(scope, key, now_hour - 30 * 24, now_hour)
    ts = int(now.timestamp())
    return models_message(title, [(u, cheaper_alternative(u, deps.ledger.pricer, ts)) for u in uses])
