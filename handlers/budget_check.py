"""`GET /v1/budget/check?user=ID`: the gateway asks before each request (same bearer tokens as ingestion)."""
from __future__ import annotations

from aiohttp import web

from bot.budget_check import BudgetChecker
from bot.deps import Deps
from handlers.usage_http import bearer_ok, error


def register(web_app: web.Application, deps: Deps) -> None:
    checker = BudgetChecker(deps, deps.settings.check_cache_seconds)

    async def budget_check(request: web.Request) -> web.Response:
        if not deps.settings.ingest_tokens:
            return error(503, "the budget check is disabled: set TOKENBOT_INGEST_TOKENS")
        if not bearer_ok(request, deps):
            return error(401, "missing or wrong bearer token")
        user = request.query.get("user", "").strip()
        if not user or len(user) > 320:
            return error(400, "give the gateway user id or email as ?user=")
        return web.json_response(await checker.check(user))

    web_app.router.add_get("/v1/budget/check", budget_check)
