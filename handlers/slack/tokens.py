"""`/tokens`: a table from subcommand to callback. The answer goes back in the acknowledgement (one round trip) when
it is ready within the ack budget (TOKENBOT_SLASH_ACK_BUDGET_S); otherwise, or when every worker is busy, the command
is acknowledged at once ("working on it") and answered through its response_url, so nothing on the answer's path (a
slow users.info, Slack's 429 back-off, a burst of commands) can make Slack show the user an error. At most
TOKENBOT_SLASH_MAX_IN_FLIGHT commands are accepted at once; beyond that the user is told to try again."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.format import escape
from bot.features import requests as request_flow
from bot.features import team as team_views
from bot.features.deps import Deps
from handlers.slack.guard import guarded
from bot.features.home import publish_home
from bot.features.identity import find_person
from bot.features.me import me_for
from bot.features.replays import first_delivery
from bot.features.roles import viewer
from bot.features.steering import with_steering
from bot.slack.blocks.me import help_message, me_message, not_in_org_text, text_message
from bot.slack.blocks.requests import pending_list, requests_list

log = logging.getLogger(__name__)

WORKING = "Working on it… the answer will appear here in a moment."
BUSY = "I'm busy with many requests right now: please try again in a few seconds."
FAILED = "Something went wrong while answering; please try again. (The error is logged for the admins.)"
REPLAYED = "That command was already received; it was not done twice. `/tokens requests` shows your requests."


@dataclass
class Command:
    """One `/tokens` invocation: who, the words after the subcommand, and what it needs from Slack."""
    user_id: str
    sub: str
    args: list[str]
    trigger_id: str
    headers: dict[str, Any]
    client: AsyncWebClient
    touched: set[str] = field(default_factory=set)  # Slack users whose App Home the command changed


Answer = dict[str, Any]


async def _me(deps: Deps, cmd: Command) -> Answer:
    report, email = await me_for(deps, cmd.user_id)
    if report is None:
        return text_message(not_in_org_text(await deps.org.org_info(), email))
    return await with_steering(deps, me_message(report), "person", report.person.id,
                               report.team.timezone if report.team else "UTC")


async def _help(_deps: Deps, _cmd: Command) -> Answer:
    return help_message()


async def _request(deps: Deps, cmd: Command) -> Answer:
    if not cmd.args:
        return help_message("Usage: `/tokens request <amount> <reason>`, e.g. `/tokens request 50 eval runs`.")
    if not await first_delivery(deps, cmd.headers):  # a replayed signed request creates nothing
        return text_message(REPLAYED)
    outcome = await request_flow.create_request(deps, cmd.user_id, cmd.args[0], " ".join(cmd.args[1:]))
    cmd.touched |= outcome.touched
    return text_message(outcome.text)


async def _requests(deps: Deps, cmd: Command) -> Answer:
    person, email = await find_person(deps.org, deps.slack, cmd.user_id)
    if person is None:
        return text_message(not_in_org_text(await deps.org.org_info(), email))
    return requests_list(await deps.requests.for_person(person.id))


async def _pending(deps: Deps, cmd: Command) -> Answer:
    return pending_list(await request_flow.pending_for(deps, cmd.user_id))


async def _admin(deps: Deps, cmd: Command) -> Answer:
    from handlers.slack.admin import open_admin

    return await open_admin(deps, cmd.client, cmd.user_id, cmd.trigger_id)


def _team_view(sub: str) -> Callable[[Deps, Command], Awaitable[Answer]]:
    view = {"team": team_views.team_view, "top": team_views.top_view, "models": team_views.models_view,
            "impact": team_views.impact_view}[sub]

    async def answer(deps: Deps, cmd: Command) -> Answer:
        if len(cmd.args) > 1:
            return help_message(f"`/tokens {sub}` takes at most one team slug.")
        person, _email = await find_person(deps.org, deps.slack, cmd.user_id)
        who = await viewer(deps, cmd.user_id, person)
        return await view(deps, who, cmd.args[0] if cmd.args else None)

    return answer


ROUTES: dict[str, Callable[[Deps, Command], Awaitable[Answer]]] = {
    "me": _me,
    "help": _help,
    "?": _help,
    "request": _request,
    "requests": _requests,
    "pending": _pending,
    "admin": _admin,
    "team": _team_view("team"),
    "top": _team_view("top"),
    "models": _team_view("models"),
    "impact": _team_view("impact"),
}


def parse(command: dict[str, Any], client: AsyncWebClient, headers: dict[str, Any] | None = None) -> Command:
    words = str(command.get("text") or "").split()
    return Command(user_id=str(command.get("user_id") or ""), sub=words[0].lower() if words else "me",
                   args=words[1:], trigger_id=str(command.get("trigger_id") or ""), headers=headers or {},
                   client=client)


async def answer(deps: Deps, client: AsyncWebClient, command: dict[str, Any],
                 touched: set[str] | None = None, headers: dict[str, Any] | None = None) -> Answer:
    """The answer to one `/tokens` command; Slack users whose App Home it changed are added to `touched`."""
    cmd = parse(command, client, headers)
    route = ROUTES.get(cmd.sub)
    if route is None:
        return help_message(f"I don't know `/tokens {escape(cmd.sub[:40])}`.")
    result = await route(deps, cmd)
    if touched is not None:
        touched |= cmd.touched
    return result


async def _safe_answer(deps: Deps, client: AsyncWebClient, command: dict[str, Any], touched: set[str],
                       headers: dict[str, Any], claimed: bool) -> Answer:
    gate = deps.slash_gate
    if not claimed:
        await gate.claim()
    try:
        return await answer(deps, client, command, touched, headers)
    except Exception as exc:  # noqa: BLE001 - the user gets an answer; the admins get the log line
        log.exception("/tokens failed (%s)", type(exc).__name__)
        return text_message(FAILED)
    finally:
        gate.release()


async def on_tokens(ack, command: dict[str, Any], client: AsyncWebClient, context, respond, request) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    gate = deps.slash_gate
    if not gate.admit():
        await ack(**text_message(BUSY))
        return
    touched: set[str] = set()
    try:
        # With a worker free the answer usually fits in the acknowledgement; with none, the command waits its turn,
        # so say so at once rather than spend Slack's 3 seconds waiting.
        claimed = gate.try_claim()
        work = asyncio.create_task(_safe_answer(deps, client, command, touched, dict(request.headers), claimed))
        done, _ = (await asyncio.wait({work}, timeout=deps.settings.slash_ack_budget_s) if claimed
                   else (set(), set()))
        if done:
            await ack(**work.result())
        else:
            await ack(**text_message(WORKING))
            result = await work
            try:
                await respond(**result)
            except Exception as exc:  # noqa: BLE001 - Slack's response_url is gone or down: nothing more to do
                log.warning("/tokens answer through response_url failed (%s)", type(exc).__name__)
    finally:
        gate.done()
    for user_id in sorted(touched):  # after the answer: App Home can wait, the person cannot
        await publish_home(deps, user_id)


def register(app: AsyncApp, deps: Deps) -> None:
    app.command("/tokens")(guarded(on_tokens))
