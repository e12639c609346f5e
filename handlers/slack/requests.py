"""Budget-request buttons and modals. Every action is acknowledged at once, then re-checked on the server:
the button carries only the request id, never who may press it."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.features import requests as request_flow
from bot.features.deps import Deps
from bot.slack.client import slack_error
from bot.slack.blocks.me import REQUEST_BUDGET_ACTION
from bot.slack.blocks.requests import APPROVE, CANCEL, DENY, DENY_MODAL, REQUEST_MODAL, deny_modal, request_modal

log = logging.getLogger(__name__)


def _request_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def register(app: AsyncApp, deps: Deps) -> None:
    async def say_privately(respond, text: str) -> None:  # noqa: ANN001
        await respond(text=text, response_type="ephemeral", replace_original=False)

    async def on_approve(ack, body: dict[str, Any], respond) -> None:  # noqa: ANN001
        await ack()
        request_id = _request_id(body["actions"][0].get("value"))
        if request_id is None:
            await say_privately(respond, "That button is broken: it names no request.")
            return
        outcome = await request_flow.approve(deps, request_id, body["user"]["id"])
        await say_privately(respond, outcome.text)

    async def on_deny(ack, body: dict[str, Any], client: AsyncWebClient, respond) -> None:  # noqa: ANN001
        await ack()
        request = await request_flow.decidable(deps, _request_id(body["actions"][0].get("value")) or 0,
                                               body["user"]["id"], "deny")
        if isinstance(request, request_flow.Outcome):  # checked before the form opens, and again on submit
            await say_privately(respond, request.text)
            return
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=deny_modal(request.id))
        except SlackApiError as exc:
            log.warning("views.open (deny) failed: %s", slack_error(exc))
            await say_privately(respond, "Slack did not open the form; please try again.")

    async def on_deny_submit(ack, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:  # noqa: ANN001
        reason = (view["state"]["values"]["reason"]["reason"].get("value") or "").strip()
        if not reason:
            await ack(response_action="errors", errors={"reason": "Say why, so the requester knows what to change."})
            return
        await ack()
        outcome = await request_flow.deny(deps, int(view["private_metadata"]), body["user"]["id"], reason)
        await _dm(client, body["user"]["id"], outcome.text)

    async def on_cancel(ack, body: dict[str, Any], respond) -> None:  # noqa: ANN001
        await ack()
        request_id = _request_id(body["actions"][0].get("value"))
        outcome = await request_flow.cancel(deps, request_id or 0, body["user"]["id"])
        await say_privately(respond, outcome.text)

    async def on_open_request_modal(ack, body: dict[str, Any], client: AsyncWebClient, respond) -> None:  # noqa: ANN001
        await ack()
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=request_modal())
        except SlackApiError as exc:
            log.warning("views.open (request) failed: %s", slack_error(exc))
            await say_privately(respond, "Slack did not open the form; use `/tokens request <amount> <reason>`.")

    async def on_request_submit(ack, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:  # noqa: ANN001
        values = view["state"]["values"]
        amount = values["amount"]["amount"].get("value") or ""
        reason = values["reason"]["reason"].get("value") or ""
        period = ((values.get("period", {}).get("period") or {}).get("selected_option") or {}).get("value", "month")
        outcome = await request_flow.create_request(deps, body["user"]["id"], amount, reason, period)
        if not outcome.ok:
            # Errors about the input stay in the modal, next to the field, so nothing typed is lost.
            field = "amount" if "amount" in outcome.text or "$" in outcome.text else "reason"
            await ack(response_action="errors", errors={field: outcome.text[:150]})
            return
        await ack()
        await _dm(client, body["user"]["id"], outcome.text)

    app.action(APPROVE)(on_approve)
    app.action(DENY)(on_deny)
    app.action(CANCEL)(on_cancel)
    app.action(REQUEST_BUDGET_ACTION)(on_open_request_modal)
    app.view(DENY_MODAL)(on_deny_submit)
    app.view(REQUEST_MODAL)(on_request_submit)


async def _dm(client: AsyncWebClient, user_id: str, text: str) -> None:
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except SlackApiError as exc:
        log.warning("DM to %s failed: %s", user_id, slack_error(exc))
