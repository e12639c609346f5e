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
from bot.slack.blocks.team import models_message, team_message, top_message
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


async def _spenders(deps: Deps, team: Team, w) -> list[tuple[str, int]]:  # noqa: ANN001
    spenders = await deps.insights.team_spenders(team.id, w.month_hour, w.now_hour + 1)
    # Labels are mrkdwn-safe here: a Slack mention, or the escaped name of someone not (yet) linked to Slack.
    return [(f"<@{s.slack_user_id}>" if s.slack_user_id else escape(s.name), s.cost_micros) for s in spenders]


async def team_view(deps: Deps, viewer: Viewer, arg: str | None) -> dict[str, Any]:
    team = await resolve_team(deps, viewer, arg)
    if isinstance(team, str):
        return text_message(team)
    w = windows(deps.clock.now(), team.timezone)
    usage = await load_summary(deps.ledger, "team", team.id, w)
    spenders = await _spenders(deps, team, w)
    people = spenders if viewer.may_see_people_of(team) else None
    message = team_message(team.name, usage, await team_budget_line(deps.ledger, team, usage, f"{team.name} budget"),
                           people, len(spenders))
    return await with_steering(deps, message, "team", team.id, team.timezone)


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
