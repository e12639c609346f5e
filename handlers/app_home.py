"""The App Home tab: the same figures as `/tokens me`, published when the person opens it."""
from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.identity import slack_error
from handlers.tokens_command import me

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_app_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        answer = await me(deps, client, user_id)
        try:
            await client.views_publish(user_id=user_id, view={"type": "home", "blocks": answer["blocks"]})
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user_id, slack_error(exc))

    app.event("app_home_opened")(on_app_home_opened)
