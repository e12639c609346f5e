"""Posting outside a Slack request (digests, warnings): at most one message per second per channel, Slack's retry
handlers for 429 (waits Retry-After) and 5xx, and the chart upload through Slack's external-upload flow."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings


class AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a 502 or 504 from Slack's edge is as transient."""

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        return response is not None and 500 <= response.status_code < 600


def poster_client(settings: Settings) -> AsyncWebClient:
    """A Web API client for scheduled posting. Unlike a slash-command answer nobody is waiting, so it keeps
    retrying longer: 429s up to 8 times (each after Slack's Retry-After plus up to 1 s of jitter), 5xx 3 times
    with exponential back-off, dropped connections 3 times."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=30,
                          retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=3),
                                          AsyncRateLimitErrorRetryHandler(max_retry_count=8),
                                          AnyServerErrorRetryHandler(max_retry_count=3)])


class SlackPoster:
    """Spaces messages to one channel by `min_interval_s` (Slack allows about one per second per channel).
    The spacing is per process; Slack's 429 answers, retried after Retry-After, cover any excess beyond it."""

    def __init__(self, client: AsyncWebClient, min_interval_s: float = 1.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.min_interval_s = min_interval_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackPoster:
        return cls(poster_client(settings), settings.slack_min_post_interval_s)

    async def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None,
                           **extra: Any) -> dict[str, Any]:
        """chat.postMessage; raises slack_sdk's SlackApiError when Slack refuses (after the retries)."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            if self.min_interval_s > 0 and channel in self._last:
                wait = self._last[channel] + self.min_interval_s - self._monotonic()
                if wait > 0:
                    await self._sleep(wait)
            try:
                response = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                                              unfurl_links=False, unfurl_media=False, **extra)
            finally:
                self._last[channel] = self._monotonic()
        return dict(response.data)  # type: ignore[arg-type]

    async def upload_png(self, data: bytes, filename: str, title: str, alt_text: str) -> str:
        """Upload without sharing (files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal);
        the message then shows it with an image block. Returns the file id."""
        response = await self.client.files_upload_v2(content=data, filename=filename, title=title, alt_txt=alt_text)
        return str(response["file"]["id"])

    async def find_posted(self, channel: str, event_type: str, key: str, oldest_ts: int) -> str | None:
        """The ts of a message this app posted to `channel` since `oldest_ts` whose metadata carries `key`, or None.
        Needs channels:history (groups:history for private channels)."""
        response = await self.client.conversations_history(channel=channel, oldest=str(oldest_ts), limit=200,
                                                           include_all_metadata=True)
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") == key:
                return str(message.get("ts"))
        return None
