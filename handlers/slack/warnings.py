"""The Snooze and Expected buttons on spike and budget warnings. Acknowledged at once; the feature re-checks on the
server who may press them and stores the first press per warning; the presser's card then shows who did what."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.warnings import EXPECTED, SNOOZE
from bot.features import warning_feedback
from bot.features.deps import Deps
from handlers.slack.guard import guarded
from bot.slack.blocks.warnings import EXPECTED_ACTION, SNOOZE_ACTION, feedback_blocks, feedback_note
from bot.slack.outbox import SlackSendError

log = logging.getLogger(__name__)


async def on_snooze(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    await _press(body, respond, context["deps"], SNOOZE)


async def on_expected(ack, body: dict[str, Any], respond, context) -> None:  # noqa: ANN001
    await ack()
    await _press(body, respond, context["deps"], EXPECTED)


async def _press(body: dict[str, Any], respond, deps: Deps, action: str) -> None:  # noqa: ANN001
    value = _dict((body.get("actions") or [{}])[0]).get("value")
    user_id = _dict(body.get("user")).get("id")
    outcome = await warning_feedback.give(deps, user_id if isinstance(user_id, str) else "", action, value)
    message = _dict(body.get("message"))
    channel = _dict(body.get("container")).get("channel_id") or _dict(body.get("channel")).get("id")
    channel = channel if isinstance(channel, str) else None
    if outcome.new and outcome.feedback and deps.slack is not None and channel and message.get("ts"):
        note = feedback_note(outcome.feedback, outcome.level_text)
        try:
            await deps.slack.update_message(channel, str(message["ts"]), str(message.get("text") or ""),
                                            feedback_blocks(_blocks(message), note))
        except SlackSendError as exc:  # the feedback is stored and in force; only the card shows the old buttons
            log.warning("chat.update of a warning card failed: %s", exc.code)
    await respond(text=outcome.text, response_type="ephemeral", replace_original=False)


def _blocks(message: dict[str, Any]) -> list[Any]:
    blocks = message.get("blocks")
    return list(blocks) if isinstance(blocks, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def register(app: AsyncApp, deps: Deps) -> None:
    app.action(SNOOZE_ACTION)(guarded(on_snooze))
    app.action(EXPECTED_ACTION)(guarded(on_expected))
