"""The outbox: every message, update, App Home view, file and user look-up tokenbot sends to Slack outside a listener's
own answer goes through this one class, and features see only its methods and `SlackSendError`, never slack_sdk.

Posts to one channel are spaced by `min_interval_s` (Slack allows about one per second per channel; the spacing is
per process and Slack's 429 answers, retried after Retry-After, cover any excess); the patient client retries 429s
and 5xx. What must survive a Slack outage beyond those retries (budget-request cards and their updates) is recorded
in the database by its feature and retried by the scheduler's tick."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.client import slack_client, slack_error

log = logging.getLogger(__name__)


class SlackSendError(Exception):
    """Slack refused or could not be reached (after the client's retries); `code` is Slack's error or the cause."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Posted:
    channel: str  # a DM posted to a user id comes back with the DM channel's id: updates need that one
    ts: str


class SlackOutbox:
    def __init__(self, client: AsyncWebClient, min_interval_s: float = 1.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic, quick_client: AsyncWebClient | None = None) -> None:
        self.client = client  # patient: nobody waits on these sends
        self.quick_client = quick_client or client  # look-ups made while a person waits
        self.min_interval_s = min_interval_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None,
                      min_interval_s: float | None = None) -> SlackOutbox:
        interval = settings.slack_min_post_interval_s if min_interval_s is None else min_interval_s
        return cls(slack_client(settings, metrics, patient=True), interval,
                   quick_client=slack_client(settings, metrics))

    async def post_message(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None,
                           **extra: Any) -> Posted:
        """chat.postMessage (links never unfurled: a message must not show a preview of what someone typed)."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            if self.min_interval_s > 0 and channel in self._last:
                wait = self._last[channel] + self.min_interval_s - self._monotonic()
                if wait > 0:
                    await self._sleep(wait)
            try:
                response = await self._call(self.client.chat_postMessage, channel=channel, text=text, blocks=blocks,
                                            unfurl_links=False, unfurl_media=False, **extra)
            finally:
                self._last[channel] = self._monotonic()
        return Posted(str(response.get("channel") or channel), str(response.get("ts")))

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await self._call(self.client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        await self._call(self.client.views_publish, user_id=user_id, view=view)

    async def upload_png(self, data: bytes, filename: str, title: str, alt_text: str) -> str:
        """Upload without sharing (files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal);
        a message then shows it with an image block. Returns the file id; an answer without one is an error."""
        response = await self._call(self.client.files_upload_v2, content=data, filename=filename, title=title,
                                    alt_txt=alt_text)
        file_id = (response.get("file") or {}).get("id") if isinstance(response.get("file"), dict) else None
        if not file_id:
            raise SlackSendError("upload_answer_without_file")
        return str(file_id)

    async def find_posted(self, channel: str, event_type: str, key: str, oldest_ts: int) -> str | None:
        """The ts of a message this app posted to `channel` since `oldest_ts` whose metadata carries `key`, or None.
        Needs channels:history (groups:history for private channels)."""
        response = await self._call(self.client.conversations_history, channel=channel, oldest=str(oldest_ts),
                                    limit=200, include_all_metadata=True)
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == event_type and (meta.get("event_payload") or {}).get("key") == key:
                return str(message.get("ts"))
        return None

    async def email_of(self, user_id: str) -> str | None:
        """The Slack profile email of a user (users.info), or None when Slack will not say."""
        try:
            info = await self._call(self.quick_client.users_info, user=user_id)
        except SlackSendError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.code)
            return None
        return ((info.get("user") or {}).get("profile") or {}).get("email") or None

    async def channel_problem(self, channel: str) -> str | None:
        """Why tokenbot cannot post to `channel` (conversations.info), in words for a form, or None when it can."""
        try:
            info = await self._call(self.quick_client.conversations_info, channel=channel)
        except SlackSendError as exc:
            if exc.code in ("channel_not_found", "not_in_channel", "invalid_channel"):
                return "Slack has no such channel that tokenbot can see: choose it from the list, or invite tokenbot."
            log.warning("conversations.info failed for %s: %s", channel, exc.code)
            return "Slack did not say whether that channel exists; please try again."
        if (info.get("channel") or {}).get("is_archived"):
            return "That channel is archived."
        return None

    async def user_id_for_email(self, email: str) -> str:
        """users.lookupByEmail; raises SlackSendError (`users_not_found`, ...) when there is none."""
        found = await self._call(self.client.users_lookupByEmail, email=email)
        user_id = (found.get("user") or {}).get("id")
        if not user_id:
            raise SlackSendError("users_not_found")
        return str(user_id)

    @staticmethod
    async def _call(method: Callable[..., Awaitable[Any]], **kwargs: Any) -> dict[str, Any]:
        try:
            response = await method(**kwargs)
        except SlackApiError as exc:
            raise SlackSendError(slack_error(exc)) from exc
        except (SlackRequestError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise SlackSendError(type(exc).__name__) from exc
        data = getattr(response, "data", response)
        return dict(data) if isinstance(data, dict) else {}


# What Slack answers for a token that will never work (mistyped, revoked, wrong kind): not worth retrying.
TOKEN_REFUSALS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                            "not_allowed_token_type", "no_permission", "missing_scope", "invalid_token"})


async def refused_tokens(settings: Settings) -> list[tuple[str, str]]:
    """(variable, Slack's answer) for each configured Slack token Slack refuses: the bot token (auth.test) and the
    app-level token (apps.connections.open, what Socket Mode calls). Slack being unreachable is not a refusal:
    start-up then goes on, and the first real call tells."""
    refused: list[tuple[str, str]] = []
    checks: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
    # One try each, 5 s at most: a Slack outage must delay start-up by seconds, not by a patient client's retries.
    if settings.slack_bot_token is not None:
        bot_client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url,
                                    timeout=5, retry_handlers=[])
        checks.append(("SLACK_BOT_TOKEN", bot_client.auth_test))
    if settings.slack_app_token is not None:
        app_client = AsyncWebClient(base_url=settings.slack_api_url, timeout=5, retry_handlers=[])
        app_token = settings.slack_app_token.get_secret_value()
        checks.append(("SLACK_APP_TOKEN", lambda: app_client.apps_connections_open(app_token=app_token)))
    for variable, call in checks:
        try:
            await SlackOutbox._call(lambda **_: call())
        except SlackSendError as exc:
            if exc.code in TOKEN_REFUSALS:
                refused.append((variable, exc.code))
            else:
                log.warning("could not check %s with Slack (%s); starting anyway", variable, exc.code)
    return refused
