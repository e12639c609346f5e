"""The App Home tab, published when the person opens it."""
from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.features.deps import Deps
from handlers.slack.guard import guarded
from bot.features.home import publish_home


async def on_app_home_opened(event: dict[str, Any], context) -> None:  # noqa: ANN001
    user = event.get("user")
    if event.get("tab", "home") == "home" and isinstance(user, str) and user:
        await publish_home(context["deps"], user)


def register(app: AsyncApp, deps: Deps) -> None:
    app.event("app_home_opened")(guarded(on_app_home_opened))
