"""What every HTTP endpoint checks before it reads a request: bearer tokens (constant time, several valid at once
for rotation) and the body (a size cap on the wire and once inflated, a read timeout), with the JSON error answers.
One home, so every endpoint refuses the same way."""
from __future__ import annotations

import asyncio
import hmac
import logging
import zlib

from aiohttp import web

from bot.features.deps import Deps

log = logging.getLogger(__name__)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bearer_ok(request: web.Request, deps: Deps) -> bool:
    return token_ok(request, deps.settings.ingest_tokens)


def token_ok(request: web.Request, tokens: list) -> bool:  # noqa: ANN001
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    presented = token.strip().encode()
    # Check every configured token, in constant time, so rotation (old and new both valid) works.
    ok = False
    for allowed in tokens:
        ok |= hmac.compare_digest(presented, allowed.get_secret_value().encode())
    return ok


def too_large(message: str) -> web.Response:
    resp = error(413, message)
    resp.force_close()  # the sender may still be uploading; don't keep reading what we refused
    return resp


# Seconds a client may take to send a request's body (TOKENBOT_BODY_READ_TIMEOUT_S, set at wiring).
BODY_READ_TIMEOUT = web.AppKey("body_read_timeout_s", float)


async def read_capped(request: web.Request, limit: int) -> bytes | web.Response:
    """The body, at most `limit` bytes on the wire and once inflated (gzip or deflate, `Content-Encoding`), or the
    answer refusing it: 413 above `limit`, 400 for a corrupt compressed body, 408 when the client is too slow to send
    it (a slow upload must not hold a connection and its memory open for ever). The server does not inflate bodies
    itself (`app_runner`): its decoder drops the connection on a corrupt body instead of letting us answer, and it
    would not cap what a small compressed body inflates to."""
    if request.content_length is not None and request.content_length > limit:
        return too_large(f"body is {request.content_length} bytes; the limit is {limit} bytes: send smaller batches")
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        return error(415, f"Content-Encoding {encoding!r} is not supported: send gzip, deflate or none")
    inflater = zlib.decompressobj(wbits=47) if encoding else None  # 47: gzip or zlib header, detected
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(request.app.get(BODY_READ_TIMEOUT, 30.0)):
            async for chunk in request.content.iter_chunked(65536):
                if inflater is not None:
                    try:
                        chunk = inflater.decompress(chunk, limit + 1 - size)
                    except zlib.error as exc:
                        return error(400, f"body is not valid {encoding} (Content-Encoding): {exc}")
                    if inflater.unconsumed_tail:
                        return too_large(f"body inflates past the limit of {limit} bytes: send smaller batches")
                size += len(chunk)
                if size > limit:
                    return too_large(f"body exceeds the limit of {limit} bytes: send smaller batches")
                chunks.append(chunk)
    except TimeoutError:
        log.info("request body too slow: %s %s after %d bytes", request.method, request.path, size)
        resp = error(408, "the request body was not sent in time")
        resp.force_close()
        return resp
    if inflater is not None and not inflater.eof:
        return error(400, f"body is not valid {encoding} (Content-Encoding): it ends before the compressed stream does")
    return b"".join(chunks)
