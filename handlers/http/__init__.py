"""HTTP endpoints beside Slack's: health, usage ingestion (tokenbot's format and LiteLLM's), the gateway's budget
check and reservation, and OpenTelemetry's OTLP/HTTP (logs, metrics, traces)."""
from __future__ import annotations

from aiohttp import web

from bot.features.deps import Deps
from handlers.http import budget_check, health, litellm, otlp, outcomes, usage


def register(web_app: web.Application, deps: Deps) -> None:
    health.register(web_app, deps)
    usage.register(web_app, deps)
    budget_check.register(web_app, deps)
    litellm.register(web_app, deps)
    otlp.register(web_app, deps)
    outcomes.register(web_app, deps)
