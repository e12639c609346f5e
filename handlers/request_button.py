"""The "Request more budget" button on `/tokens me`. Until the approval workflow lands it tells the person exactly
whom to ask: their team's approvers, as listed in the org file."""
from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.identity import find_person
from bot.render import REQUEST_BUDGET_ACTION, escape, text_message
from handlers.tokens_command import not_in_org_text


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_request_button(ack, body: dict[str, Any], client: AsyncWebClient, respond) -> None:  # noqa: ANN001
        await ack()
        await respond(**await request_answer(deps, client, body["user"]["id"]), replace_original=False)

    app.action(REQUEST_BUDGET_ACTION)(on_request_button)


async def request_answer(deps: Deps, client: AsyncWebClient, user_id: str) -> dict[str, Any]:
    person, email = await find_person(deps.org, client, user_id)
    if person is None:
        return text_message(await not_in_org_text(deps, email))
    team = await deps.org.team(person.team_id) if person.team_id else None
    if team is None or not team.approvers:
        info = await deps.org.org_info()
        ask = " or ".join(f"<@{a}>" for a in info.admins) or escape(info.help_contact or "your FinOps team")
        return text_message(f"Your team has no budget approvers in the org file. Ask {ask}.")
    approvers = ", ".join(f"<@{a}>" for a in team.approvers if a != user_id) or "your FinOps admins"
    return text_message(f"Budget increases for *{escape(team.name)}* are approved by {approvers}. "
                        "Message them with the amount and what it is for.")
