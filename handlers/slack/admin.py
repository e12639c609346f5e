"""`/tokens admin` (opened from the command router) and its modal's submission."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.features import admin as admin_flow
from bot.slack.blocks.admin import ADMIN_MODAL, admin_modal, submitted
from bot.features.deps import Deps
from bot.features.replays import first_delivery
from handlers.slack.guard import guarded
from bot.slack.client import slack_error
from bot.slack.outbox import SlackSendError
from bot.slack.blocks.me import text_message

log = logging.getLogger(__name__)


async def open_admin(deps: Deps, client: AsyncWebClient, user_id: str, trigger_id: str) -> dict[str, Any]:
    """The answer to `/tokens admin`: the modal for admins, a refusal for everyone else."""
    info = await deps.org.org_info()
    if user_id not in info.admins:
        await deps.requests.audit(int(deps.clock.now().timestamp()), user_id, "refused", None, {"action": "admin"})
        return text_message("Only the org admins listed in the org file can use `/tokens admin`.")
    teams = [(t.slug, t.name) for t in await deps.org.active_teams()]
    try:
        await client.views_open(trigger_id=trigger_id, view=admin_modal(teams))
    except SlackApiError as exc:
        log.warning("views.open (admin) failed: %s", slack_error(exc))
        return text_message("Slack did not open the admin form; please try again.")
    return text_message("Opening the admin form…")


async def on_admin_submit(ack, body: dict[str, Any], view: dict[str, Any], context, request) -> None:  # noqa: ANN001
    deps: Deps = context["deps"]
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    actor = user.get("id") if isinstance(user.get("id"), str) else ""
    state = view.get("state") if isinstance(view.get("state"), dict) else {}
    values = state.get("values") if isinstance(state.get("values"), dict) else {}
    if not await first_delivery(deps, request.headers):  # the same signed submission again: applied once
        await ack()
        return
    errors, confirmation = await admin_flow.apply(deps, actor, submitted(values))
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    if deps.slack is None:
        return
    try:
        await deps.slack.post_message(actor, f"Done: {confirmation}")
    except SlackSendError as exc:
        log.warning("admin confirmation DM failed: %s", exc.code)


def register(app: AsyncApp, deps: Deps) -> None:
    app.view(ADMIN_MODAL)(guarded(on_admin_submit))
