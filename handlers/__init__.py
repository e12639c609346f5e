"""Slack listeners and HTTP endpoints: one small module each, registered explicitly by `register(app, deps)`."""
from __future__ import annotations

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers import admin, app_home, budget_check, budget_requests, health, tokens_command, usage_http
from handlers import litellm_http  # noqa: E402


def register_slack(app: AsyncApp, deps: Deps) -> None:
    tokens_command.register(app, deps)
    budget_requests.register(app, deps)
    app_home.register(app, deps)
    admin.register(app, deps)


def register_http(web_app: web.Application, deps: Deps) -> None:
    health.register(web_app, deps)
    usage_http.register(web_app, deps)
    budget_check.register(web_app, deps)
    litellm_http.register(web_app, deps)
