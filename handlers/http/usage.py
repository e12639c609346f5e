"""`POST /v1/usage`: the gateway's usage events (JSON array, one object, or NDJSON), bearer-token protected."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.features.deps import Deps
from bot.features.ingestion import IngestReport
from bot.domain.usage_events import BodyError, split_body
from handlers.http.guard import bearer_ok, error, read_capped
from storage.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


async def handle_ingest(request: web.Request, deps: Deps, source: str,
                        ingest: Callable[[list[Any]], Awaitable[IngestReport]]) -> web.Response:
    """The shared shape of every ingestion endpoint: bearer token, size cap, body split, per-item report, 503 (retry)
    while the database is unreachable, dead letters for what cannot be read."""
    if not deps.settings.ingest_tokens:
        return error(503, "ingestion is disabled: set TOKENBOT_INGEST_TOKENS")
    if not bearer_ok(request, deps):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="tokenbot"'})
    body = await read_capped(request, deps.settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    try:
        try:
            items = split_body(body)
        except BodyError as exc:
            await deps.ingestion.ledger.dead_letter_body(body, str(exc), source, int(deps.clock.now().timestamp()))
            return error(400, str(exc))
        report = await ingest(items)
    except DATABASE_UNAVAILABLE as exc:  # the database is restarting or unreachable: nothing was stored
        log.warning("usage batch not stored, database unavailable (%s: %s)", type(exc).__name__, str(exc)[:200])
        resp = error(503, "database unavailable; nothing was stored: retry the batch")
        resp.headers["Retry-After"] = "1"
        return resp
    status = 200 if report.accepted or report.duplicates or not report.rejected else 422
    return web.json_response(report.as_json(), status=status)


def register(web_app: web.Application, deps: Deps) -> None:
    async def post_usage(request: web.Request) -> web.Response:
        return await handle_ingest(request, deps, "api", lambda items: deps.ingestion.ingest_items(items, source="api"))

    web_app.router.add_post("/v1/usage", post_usage)
