"""Slack listeners: the `/tokens` command, budget-request buttons and modals, App Home, the admin modal, the warnings' Snooze and Expected buttons. Each module's
`register(app, deps)` maps its commands and actions to callbacks defined at module level."""
from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.features.deps import Deps
from handlers.slack import admin, app_home, requests, tokens, warnings


def register(app: AsyncApp, deps: Deps) -> None:
    tokens.register(app, deps)
    requests.register(app, deps)
    app_home.register(app, deps)
    admin.register(app, deps)
    warnings.register(app, deps)
