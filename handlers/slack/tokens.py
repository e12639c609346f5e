"""`/tokens`: the slash command router. The answer goes back in the ack body, so it is one round trip."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.features.deps import Deps
from bot.features.home import publish_home
from bot.features.identity import find_person
from bot.domain.format import escape
from bot.slack.blocks.me import help_message, me_message, not_in_org_text, text_message
from bot.features.me import me_for
from bot.slack.blocks.requests import pending_list, requests_list
from bot.features import requests as request_flow
from bot.features import team as team_views
from bot.features.roles import viewer

log = logging.getLogger(__name__)


async def on_tokens(ack, command: dict[str, Any], client: AsyncWebClient, context) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    touched: set[str] = set()
    await ack(**await answer(deps, client, command, touched))
    for user_id in sorted(touched):  # after the answer: App Home can wait, the person cannot
        await publish_home(deps, user_id)


def register(app: AsyncApp, deps: Deps) -> None:
    app.command("/tokens")(on_tokens)


async def answer(deps: Deps, client: AsyncWebClient, command: dict[str, Any],
                 touched: set[str] | None = None) -> dict[str, Any]:
    """The answer to one `/tokens` command; Slack users whose App Home it changed are added to `touched`."""
    words = (command.get("text") or "").split()
    sub = words[0].lower() if words else "me"
    if sub == "me":
        return await me(deps, command["user_id"])
    if sub in ("help", "?"):
        return help_message()
    if sub == "request":
        if len(words) < 2:
            return help_message("Usage: `/tokens request <amount> <reason>`, e.g. `/tokens request 50 eval runs`.")
        outcome = await request_flow.create_request(deps, command["user_id"], words[1], " ".join(words[2:]))
        if touched is not None:
            touched |= outcome.touched
        return text_message(outcome.text)
    if sub == "requests":
        person, email = await find_person(deps.org, deps.slack, command["user_id"])
        if person is None:
            return text_message(not_in_org_text(await deps.org.org_info(), email))
        return requests_list(await deps.requests.for_person(person.id))
    if sub == "pending":
        return pending_list(await request_flow.pending_for(deps, command["user_id"]))
    if sub == "admin":
        from handlers.slack.admin import open_admin

        return await open_admin(deps, client, command["user_id"], command.get("trigger_id", ""))
    if sub in ("team", "top", "models", "impact"):
        if len(words) > 2:
            return help_message(f"`/tokens {sub}` takes at most one team slug.")
        person, _email = await find_person(deps.org, deps.slack, command["user_id"])
        who = await viewer(deps, command["user_id"], person)
        view = {"team": team_views.team_view, "top": team_views.top_view, "models": team_views.models_view,
                "impact": team_views.impact_view}[sub]
        return await view(deps, who, words[1] if len(words) == 2 else None)
    return help_message(f"I don't know `/tokens {escape(sub[:40])}`.")


async def me(deps: Deps, user_id: str) -> dict[str, Any]:
    report, email = await me_for(deps, user_id)
    if report is None:
        return text_message(not_in_org_text(await deps.org.org_info(), email))
    return me_message(report)
