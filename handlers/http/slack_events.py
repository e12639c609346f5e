"""`POST /slack/events` (HTTP mode): the signature is checked on the raw bytes before anything parses them; a request
that is not Slack's gets a 401 and one log line (method, path, size, reason: never the body, which anyone can fill);
a signed body that Slack would never send gets a 400. Only then does bolt see it."""
from __future__ import annotations

import logging
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.domain.slack_request import body_problem, signature_problem
from bot.features.deps import Deps
from handlers.http.guard import read_capped

log = logging.getLogger(__name__)

# Slack's largest payloads (a modal's state, a message with its blocks) stay far below this.
MAX_SLACK_BODY_BYTES = 1024 * 1024


def _refuse(request: web.Request, size: int, status: int, reason: str) -> web.Response:
    log.info("slack request refused (%d): %s %s, %d bytes: %s", status, request.method, request.path, size, reason)
    return web.json_response({"error": reason}, status=status)


def register(web_app: web.Application, deps: Deps, bolt_app: AsyncApp) -> None:
    assert deps.settings.slack_signing_secret is not None
    secret = deps.settings.slack_signing_secret.get_secret_value()

    async def slack_events(request: web.Request) -> web.Response:
        body = await read_capped(request, MAX_SLACK_BODY_BYTES)
        if isinstance(body, web.Response):
            log.info("slack request refused (%d): %s %s, %s bytes", body.status, request.method, request.path,
                     request.content_length if request.content_length is not None else "unknown")
            return body
        # Slack's timestamps are real time, whatever clock the features run on (bolt checks them the same way).
        problem = signature_problem(secret, body, request.headers.get("X-Slack-Request-Timestamp"),
                                    request.headers.get("X-Slack-Signature"), time.time())
        if problem:
            return _refuse(request, len(body), 401, problem)
        problem = body_problem(body, request.content_type)
        if problem:
            return _refuse(request, len(body), 400, problem)
        bolt_request = AsyncBoltRequest(body=body.decode("utf-8"), query=request.query_string,
                                        headers=request.headers)  # type: ignore[arg-type]
        response = await bolt_app.async_dispatch(bolt_request)
        if response.status >= 500:  # bolt failed on a payload the checks above let through: the request's fault
            return _refuse(request, len(body), 400, "Slack payload could not be handled")
        return await to_aiohttp_response(response)

    web_app.router.add_post("/slack/events", slack_events)
