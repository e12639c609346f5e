"""Steering to preferred models: the share line in `/tokens me` and `/tokens team`, and the friendly monthly DM to a
person whose share of spend on other models is over their team's line (once per person and month: the key
`steer:<person>:<YYYY-MM>` in the RunLog). Nothing here when the org file names no preferred models."""
from __future__ import annotations

import logging
from typing import Any

from bot.domain.format import escape
from bot.domain.org import Team
from bot.domain.signals import short_hash
from bot.domain.steering import SteeringFigures, figures, needs_nudge, nudge_text, steering_line
from bot.domain.summary import windows
from bot.features.deps import Deps
from bot.slack.outbox import SlackOutbox
from storage.stores.runs import RunLog

log = logging.getLogger(__name__)


async def month_figures(deps: Deps, scope: str, key: int, timezone: str) -> SteeringFigures | None:
    """This month's (in `timezone`) steering figures for a person or team; None without preferred models."""
    info = await deps.org.org_info()
    if not info.preferred_models:
        return None
    now = deps.clock.now()
    w = windows(now, timezone)
    uses = await deps.insights.model_usage(scope, key, w.month_hour, w.now_hour)
    return figures(uses, info.preferred_models, deps.ledger.pricer, int(now.timestamp()))


async def with_steering(deps: Deps, message: dict[str, Any], scope: str, key: int, timezone: str) -> dict[str, Any]:
    """The message with the preferred-models line added before its context and buttons."""
    f = await month_figures(deps, scope, key, timezone)
    line = steering_line(f) if f is not None else None
    if line is None:
        return message
    blocks = list(message.get("blocks") or [])
    at = next((i for i, b in enumerate(blocks) if b.get("type") in ("context", "actions")), len(blocks))
    blocks.insert(at, {"type": "section", "text": {"type": "mrkdwn", "text": line}})
    return message | {"blocks": blocks}


async def announce_routes(deps: Deps, poster: SlackOutbox | None = None, runs: RunLog | None = None) -> int:
    """Tell a team's channel (or its approvers) once that the LiteLLM plugin now routes some of its requests to a
    preferred model, and audit it (`steering_route`). Once per team and route set: a changed route is announced
    again. Returns the announcements made."""
    poster = poster or deps.slack
    info = await deps.org.org_info()
    if poster is None or not info.steering:
        return 0
    runs = runs or RunLog(deps.engine)
    now_ts = int(deps.clock.now().timestamp())
    made = 0
    for team in await deps.org.active_teams():
        steering = info.steering.get(team.slug)
        if steering is None or not steering.route:
            continue
        key = f"route:{team.id}:{short_hash(repr(steering.route), 12)}"
        if not await runs.claim(key, now_ts, 300):
            continue
        pairs = ", ".join(f"`{escape(a)}` → `{escape(b)}`" for a, b in steering.route)
        text = (f":twisted_rightwards_arrows: *{escape(team.name)}* opted in to steering: requests through the company "
                f"gateway for {pairs} are now sent to the preferred model instead (org file `steering.route`; remove "
                "it there to stop).")
        targets = [team.channel] if team.channel else list((await deps.org.team(team.id) or team).approvers)
        try:
            for target in targets:
                await poster.post_message(target, text.replace("*", ""), [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        except Exception as exc:  # noqa: BLE001 - the next run tries again
            await runs.fail(key, now_ts, f"{type(exc).__name__}: {exc}")
            continue
        await deps.requests.audit(now_ts, "org file", "steering_route", None,
                                  {"team": team.slug, "route": [list(r) for r in steering.route], "told": targets})
        await runs.complete(key, now_ts, pairs[:500])
        made += 1
    return made


async def run_nudges(deps: Deps, poster: SlackOutbox | None = None, runs: RunLog | None = None) -> int:
    """DM each person over their team's line, once per month. Returns the DMs sent."""
    poster = poster or deps.slack
    info = await deps.org.org_info()
    if poster is None or not info.preferred_models or not info.steering:
        return 0
    runs = runs or RunLog(deps.engine)
    now = deps.clock.now()
    now_ts = int(now.timestamp())
    sent = 0
    for team in await deps.org.active_teams():
        steering = info.steering.get(team.slug)
        if steering is None:
            continue
        month = f"{windows(now, team.timezone).now_local:%Y-%m}"
        for person in await deps.org.team_people(team.id):
            if not person.slack_user_id:
                continue
            f = await month_figures(deps, "person", person.id, team.timezone)
            if f is None or not needs_nudge(f, steering):
                continue
            key = f"steer:{person.id}:{month}"
            if not await runs.claim(key, now_ts, 300):
                continue  # told this month already
            text = nudge_text(f, _month_name(team, now), info.preferred_models, steering)
            try:
                await poster.post_message(person.slack_user_id, text.splitlines()[0].replace("*", ""),
                                          [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
            except Exception as exc:  # noqa: BLE001 - the next run tries again
                await runs.fail(key, now_ts, f"{type(exc).__name__}: {exc}")
                continue
            await runs.complete(key, now_ts, f"other {f.other_micros} of {f.total_micros}")
            sent += 1
    return sent


def _month_name(team: Team, now) -> str:  # noqa: ANN001
    return f"{windows(now, team.timezone).now_local:%B}"
