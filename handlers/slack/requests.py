"""Budget-request buttons and modals. Every action is acknowledged at once, then re-checked on the server:
the button carries only the request id, never who may press it. After a decision the App Home of everyone it
touched is published again (the feature says who)."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.features import requests as request_flow
from bot.features.deps import Deps
from bot.features.home import publish_home
from bot.slack.blocks.me import REQUEST_BUDGET_ACTION
from bot.slack.blocks.requests import APPROVE, CANCEL, DENY, DENY_MODAL, REQUEST_MODAL, deny_modal, request_modal
from bot.slack.client import slack_error
from bot.slack.outbox import SlackSendError

log = logging.getLogger(__name__)

_MAX_ID = 2**63 - 1  # request ids are BIGINTs: a longer number names no request


def request_id(value: Any) -> int | None:
    """The request id a button or a modal carries, or None when it is not one (tampered, truncated, absurd)."""
    text = str(value or "").strip()
    if not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        return None
    return int(text)


async def _say_privately(respond, text: str) -> None:  # noqa: ANN001
    await respond(text=text, response_type="ephemeral", replace_original=False)


async def _dm(deps: Deps, user_id: str, text: str) -> None:
    if deps.slack is None:
        return
    try:
        await deps.slack.post_message(user_id, text)
    except SlackSendError as exc:
        log.warning("DM to %s failed: %s", user_id, exc.code)


async def _refresh_homes(deps: Deps, outcome: request_flow.Outcome) -> None:
    for user_id in sorted(outcome.touched):
        await publish_home(deps, user_id)


async def on_approve(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    deps: Deps = context["deps"]
    rid = request_id(body["actions"][0].get("value"))
    if rid is None:
        await _say_privately(respond, "That button is broken: it names no request.")
        return
    outcome = await request_flow.approve(deps, rid, body["user"]["id"])
    await _say_privately(respond, outcome.text)
    await _refresh_homes(deps, outcome)


async def on_deny(ack, body: dict[str, Any], client: AsyncWebClient, respond, context) -> None:  # noqa: ANN001
    await ack()
    deps: Deps = context["deps"]
    request = await request_flow.decidable(deps, request_id(body["actions"][0].get("value")) or 0,
                                           body["user"]["id"], "deny")
    if isinstance(request, request_flow.Outcome):  # checked before the form opens, and again on submit
        await _say_privately(respond, request.text)
        return
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=deny_modal(request.id))
    except SlackApiError as exc:
        log.warning("views.open (deny) failed: %s", slack_error(exc))
        await _say_privately(respond, "Slack did not open the form; please try again.")


async def on_deny_submit(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    reason_block = (view.get("state", {}).get("values", {}).get("reason") or {}).get("reason") or {}
    reason = (reason_block.get("value") or "").strip()
    if not reason:
        await ack(response_action="errors", errors={"reason": "Say why, so the requester knows what to change."})
        return
    rid = request_id(view.get("private_metadata"))
    if rid is None:
        await ack(response_action="errors", errors={"reason": "This form names no request; open it again from the card."})
        return
    await ack()
    outcome = await request_flow.deny(deps, rid, body["user"]["id"], reason)
    await _dm(deps, body["user"]["id"], outcome.text)
    await _refresh_homes(deps, outcome)


async def on_cancel(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    deps: Deps = context["deps"]
    outcome = await request_flow.cancel(deps, request_id(body["actions"][0].get("value")) or 0, body["user"]["id"])
    await _say_privately(respond, outcome.text)
    await _refresh_homes(deps, outcome)


async def on_open_request_modal(ack, body: dict[str, Any], client: AsyncWebClient, respond) -> None:  # noqa: ANN001
    await ack()
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=request_modal())
    except SlackApiError as exc:
        log.warning("views.open (request) failed: %s", slack_error(exc))
        await _say_privately(respond, "Slack did not open the form; use `/tokens request <amount> <reason>`.")


def _field(values: dict[str, Any], block: str) -> str:
    return str(((values.get(block) or {}).get(block) or {}).get("value") or "")


async def on_request_submit(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    values = (view.get("state") or {}).get("values") or {}
    period = ((values.get("period", {}).get("period") or {}).get("selected_option") or {}).get("value", "month")
    outcome = await request_flow.create_request(deps, body["user"]["id"], _field(values, "amount"),
                                                _field(values, "reason"), period)
    if not outcome.ok:
        # Errors about the input stay in the modal, next to the field, so nothing typed is lost.
        field = "amount" if "amount" in outcome.text or "$" in outcome.text else "reason"
        await ack(response_action="errors", errors={field: outcome.text[:150]})
        return
    await ack()
    await _dm(deps, body["user"]["id"], outcome.text)
    await _refresh_homes(deps, outcome)


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(APPROVE)(on_approve)
    app.action(DENY)(on_deny)
    app.action(CANCEL)(on_cancel)
    app.action(REQUEST_BUDGET_ACTION)(on_open_request_modal)
    app.view(DENY_MODAL)(on_deny_submit)
    app.view(REQUEST_MODAL)(on_request_submit)
