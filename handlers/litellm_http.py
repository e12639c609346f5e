"""`POST /v1/ingest/litellm`: LiteLLM's generic API logger (`callback_type: generic_api`), bearer-token protected.

Takes what LiteLLM sends in any `log_format` (json_array, ndjson, single): StandardLoggingPayload items, mapped by
`bot.litellm`. LiteLLM never retries a batch, so the answer comes as soon as the batch is committed (a 500-item batch
is a few milliseconds of work); replays are harmless (ids are deduplicated)."""
from __future__ import annotations

from aiohttp import web

from bot.deps import Deps
from bot.litellm_ingest import ingest_litellm_items
from bot.usage_events import BodyError, split_body
from handlers.usage_http import bearer_ok, error, read_capped

SOURCE = "litellm"


def register(web_app: web.Application, deps: Deps) -> None:
    async def post_litellm(request: web.Request) -> web.Response:
        if not deps.settings.ingest_tokens:
            return error(503, "ingestion is disabled: set TOKENBOT_INGEST_TOKENS")
        if not bearer_ok(request, deps):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="tokenbot"'})
        body = await read_capped(request, deps.settings.max_body_bytes)
        if isinstance(body, web.Response):
            return body
        try:
            items = split_body(body)
        except BodyError as exc:
            await deps.ingestion.ledger.dead_letter_body(body, str(exc), SOURCE, int(deps.clock.now().timestamp()))
            return error(400, str(exc))
        report = await ingest_litellm_items(deps.ingestion, items, SOURCE)
        status = 200 if report.accepted or report.duplicates or not report.rejected else 422
        return web.json_response(report.as_json(), status=status)

    web_app.router.add_post("/v1/ingest/litellm", post_litellm)
