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
from handlers.slack.guard import guarded
from bot.features.home import publish_home
from bot.features.replays import first_delivery
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def action_value(body: dict[str, Any]) -> Any:
    """The clicked button's value; None when the payload carries no action (forged or truncated)."""
    actions = body.get("actions")
    return _dict(actions[0]).get("value") if isinstance(actions, list) and actions else None


def user_of(body: dict[str, Any]) -> str:
    user_id = _dict(body.get("user")).get("id")
    return user_id if isinstance(user_id, str) else ""


BROKEN_BUTTON = "That button is broken: it names no request."


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


async def _decide_from_button(deps: Deps, body: dict[str, Any], respond, decide) -> None:  # noqa: ANN001
    """Approve or Cancel: the button names the request; the flow re-checks who pressed it and decides."""
    rid = request_id(action_value(body))
    if rid is None:
        await _say_privately(respond, BROKEN_BUTTON)
        return
    outcome = await decide(deps, rid, user_of(body))
    await _say_privately(respond, outcome.text)
    await _refresh_homes(deps, outcome)


async def on_approve(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    await _decide_from_button(context["deps"], body, respond, request_flow.approve)


async def on_deny(ack, body: dict[str, Any], client: AsyncWebClient, respond, context) -> None:  # noqa: ANN001
    await ack()
    deps: Deps = context["deps"]
    rid = request_id(action_value(body))
    if rid is None:
        await _say_privately(respond, BROKEN_BUTTON)
        return
    request = await request_flow.decidable(deps, rid, user_of(body), "deny")
    if isinstance(request, request_flow.Outcome):  # checked before the form opens, and again on submit
        await _say_privately(respond, request.text)
        return
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=deny_modal(request.id))
    except SlackApiError as exc:
        log.warning("views.open (deny) failed: %s", slack_error(exc))
        await _say_privately(respond, "Slack did not open the form; please try again.")


async def on_deny_submit(ack, body: dict[str, Any], view: dict[str, Any], context, request) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    reason = _field(_dict(_dict(view.get("state")).get("values")), "reason").strip()
    if not reason:
        await ack(response_action="errors", errors={"reason": "Say why, so the requester knows what to change."})
        return
    rid = request_id(view.get("private_metadata"))
    if rid is None:
        await ack(response_action="errors", errors={"reason": "This form names no request; open it again from the card."})
        return
    if not await first_delivery(deps, request.headers):  # the same signed submission again: denied once
        await ack()
        return
    await ack()
    outcome = await request_flow.deny(deps, rid, user_of(body), reason)
    await _dm(deps, user_of(body), outcome.text)
    await _refresh_homes(deps, outcome)


async def on_cancel(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    await _decide_from_button(context["deps"], body, respond, request_flow.cancel)


async def on_open_request_modal(ack, body: dict[str, Any], client: AsyncWebClient, respond) -> None:  # noqa: ANN001
    await ack()
    try:
        await client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=request_modal())
    except SlackApiError as exc:
        log.warning("views.open (request) failed: %s", slack_error(exc))
        await _say_privately(respond, "Slack did not open the form; use `/tokens request <amount> <reason>`.")


def _field(values: dict[str, Any], block: str) -> str:
    value = _dict(_dict(values.get(block)).get(block)).get("value")
    return value[:3000] if isinstance(value, str) else ""


async def on_request_submit(ack, body: dict[str, Any], view: dict[str, Any], context, request) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    values = _dict(_dict(view.get("state")).get("values"))
    if "amount" not in values or "reason" not in values:  # not the form tokenbot sent: say so in it
        await ack(response_action="errors", errors={"reason": "This form is incomplete; open it again from /tokens."})
        return
    period = _dict(_dict(_dict(values.get("period")).get("period")).get("selected_option")).get("value")
    period = period if period in ("month", "permanent") else "month"
    if not await first_delivery(deps, request.headers):  # the same signed submission again: one request
        await ack()
        return
    outcome = await request_flow.create_request(deps, user_of(body), _field(values, "amount"),
                                                _field(values, "reason"), period)
    if not outcome.ok:
        # Errors about the input stay in the modal, next to the field, so nothing typed is lost.
        field = "amount" if "amount" in outcome.text or "$" in outcome.text else "reason"
        await ack(response_action="errors", errors={field: outcome.text[:150]})
        return
    await ack()
    await _dm(deps, user_of(body), outcome.text)
    await _refresh_homes(deps, outcome)


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(APPROVE)(guarded(on_approve))
    app.action(DENY)(guarded(on_deny))
    app.action(CANCEL)(guarded(on_cancel))
    app.action(REQUEST_BUDGET_ACTION)(guarded(on_open_request_modal))
    app.view(DENY_MODAL)(guarded(on_deny_submit))
    app.view(REQUEST_MODAL)(guarded(on_request_submit))
