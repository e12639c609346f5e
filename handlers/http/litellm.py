"""`POST /v1/ingest/litellm`: LiteLLM's generic API logger (`callback_type: generic_api`), bearer-token protected.

Takes what LiteLLM sends in any `log_format` (json_array, ndjson, single): StandardLoggingPayload items, mapped by
`bot.domain.litellm`. LiteLLM never retries a batch, so the answer comes as soon as the batch is committed (a 500-item batch
is a few milliseconds of work); replays are harmless (ids are deduplicated)."""
from __future__ import annotations

from aiohttp import web

from bot.features.deps import Deps
from bot.features.litellm_ingest import ingest_litellm_items
from handlers.http.usage import handle_ingest

SOURCE = "litellm"


def register(web_app: web.Application, deps: Deps) -> None:
    async def post_litellm(request: web.Request) -> web.Response:
        return await handle_ingest(request, deps, SOURCE,
                                   lambda items: ingest_litellm_items(deps.ingestion, items, SOURCE))

    web_app.router.add_post("/v1/ingest/litellm", post_litellm)
