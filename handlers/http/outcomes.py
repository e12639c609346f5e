"""Outcome events: `POST /v1/ingest/github` (GitHub webhooks, as GitHub sends them) and `POST /v1/outcomes` (the same
kind of event from other systems: a ticket closed, an incident resolved; bearer token, like `/v1/usage`).

GitHub: the signature (X-Hub-Signature-256, HMAC-SHA256 of the raw body with TOKENBOT_GITHUB_WEBHOOK_SECRET) is
checked before anything is parsed: missing or wrong is 401. `ping` is answered 200, events that are no outcome 202,
a stored delivery 200; a redelivery (same X-GitHub-Delivery) changes nothing. Both content types GitHub offers are
read: application/json and application/x-www-form-urlencoded (`payload=<json>`)."""
from __future__ import annotations

import logging
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from bot.domain.outcomes import GithubPayloadError, signature_ok
from bot.features.deps import Deps
from bot.features.outcome_ingest import OutcomeIngest
from handlers.http.guard import error, read_capped
from handlers.http.usage import handle_ingest
from storage.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


def _payload(body: bytes, content_type: str) -> object:
    """The delivery's JSON (ValueError when it is not JSON, in either of GitHub's content types)."""
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "strict"), strict_parsing=True)
        if len(fields.get("payload", [])) != 1:
            raise ValueError("a form-encoded delivery needs exactly one `payload` field")
        return orjson.loads(fields["payload"][0])
    return orjson.loads(body)


async def github_webhook(request: web.Request, deps: Deps, ingest: OutcomeIngest) -> web.Response:
    secret = deps.settings.github_webhook_secret
    if secret is None:
        return error(503, "GitHub ingestion is disabled: set TOKENBOT_GITHUB_WEBHOOK_SECRET")
    body = await read_capped(request, deps.settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    if not signature_ok(secret.get_secret_value().encode(), body, request.headers.get("X-Hub-Signature-256")):
        return error(401, "missing or wrong X-Hub-Signature-256: the webhook's secret must be "
                          "TOKENBOT_GITHUB_WEBHOOK_SECRET")
    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()[:100] or None
    if not event:
        return error(400, "missing X-GitHub-Event header")
    if event == "ping":
        return web.json_response({"ok": True, "event": "ping"})
    try:
        payload = _payload(body, request.content_type)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, f"the {event} delivery is not valid JSON: {str(exc)[:200]}")
    try:
        parsed, result = await ingest.github(event, delivery, payload)
    except GithubPayloadError as exc:
        return error(400, f"the {event} delivery is not shaped as GitHub documents it: {exc}")
    except DATABASE_UNAVAILABLE as exc:  # GitHub does not retry by itself; "Redeliver" (same delivery id) does
        log.warning("GitHub %s delivery not stored, database unavailable (%s)", event, type(exc).__name__)
        return error(503, "database unavailable; nothing was stored: redeliver")
    if parsed.ignored is not None:
        return web.json_response({"ignored": parsed.ignored}, status=202)
    return web.json_response({"event": event, "accepted": result.accepted, "duplicates": result.duplicates,
                              "reverted": result.reverted, "duplicate_delivery": result.duplicate_delivery})


def register(web_app: web.Application, deps: Deps) -> None:
    ingest = OutcomeIngest(deps.ingestion, deps.outcomes)

    async def post_github(request: web.Request) -> web.Response:
        return await github_webhook(request, deps, ingest)

    async def post_outcomes(request: web.Request) -> web.Response:
        return await handle_ingest(request, deps, "outcomes", ingest.items)  # type: ignore[arg-type]

    web_app.router.add_post("/v1/ingest/github", post_github)
    web_app.router.add_post("/v1/outcomes", post_outcomes)
