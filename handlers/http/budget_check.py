"""`GET /v1/budget/check?user=ID` (a cached answer) and `POST /v1/budget/reserve` (the gateway's pre-call hook:
admit and hold a hard-capped request's estimated cost). Same bearer tokens as ingestion."""
from __future__ import annotations

import logging

import orjson
from aiohttp import web

from bot.features.budget_check import BudgetChecker, parse_reserve
from bot.features.deps import Deps
from handlers.http.guard import bearer_ok, error, read_capped
from storage.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)
_MAX_RESERVE_BODY = 64 * 1024


def register(web_app: web.Application, deps: Deps) -> None:
    checker = BudgetChecker(deps, deps.settings.check_cache_seconds)

    async def close_checker(_app: web.Application) -> None:
        await checker.close()

    web_app.on_cleanup.append(close_checker)

    def refused(request: web.Request) -> web.Response | None:
        if not deps.settings.ingest_tokens:
            return error(503, "the budget check is disabled: set TOKENBOT_INGEST_TOKENS")
        if not bearer_ok(request, deps):
            return error(401, "missing or wrong bearer token")
        return None

    async def budget_check(request: web.Request) -> web.Response:
        if (answer := refused(request)) is not None:
            return answer
        user = request.query.get("user", "").strip()
        if not user or len(user) > 320:
            return error(400, "give the gateway user id or email as ?user=")
        return web.json_response(await checker.check(user))

    async def budget_reserve(request: web.Request) -> web.Response:
        if (answer := refused(request)) is not None:
            return answer
        body = await read_capped(request, _MAX_RESERVE_BODY)
        if isinstance(body, web.Response):
            return body
        try:
            ask = parse_reserve(orjson.loads(body))
        except orjson.JSONDecodeError:
            return error(400, "the body must be a JSON object")
        if isinstance(ask, str):
            return error(400, ask)
        try:
            return web.json_response(await checker.reserve(ask))
        except DATABASE_UNAVAILABLE as exc:  # the gateway applies its fail-open / fail-closed setting
            log.warning("budget reservation not decided, database unavailable (%s)", type(exc).__name__)
            return error(503, "database unavailable: the reservation was not decided")

    web_app.router.add_get("/v1/budget/check", budget_check)
    web_app.router.add_post("/v1/budget/reserve", budget_reserve)
