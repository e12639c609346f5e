"""The one Slack Web API client factory, metered (every call counted by method and outcome)."""
from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics
from bot.settings import Settings


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer was not Slack's JSON (a proxy page, a 5xx)."""
    data = exc.response.data
    if isinstance(data, dict):
        return str(data.get("error") or "unknown_error")
    return f"http_{exc.response.status_code}"


class AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a 502 or 504 from Slack's edge is as transient."""

    async def _can_retry_async(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        return response is not None and 500 <= response.status_code < 600


class MeteredWebClient(AsyncWebClient):
    """Slack's client, counting every call by method and outcome (ok, the Slack error code, or the exception)."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any):  # noqa: ANN201
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self._count(api_method, slack_error(exc))
            raise
        except Exception as exc:
            self._count(api_method, type(exc).__name__)
            raise
        self._count(api_method, "ok")
        return response

    def _count(self, method: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.slack_calls.labels(method=method, outcome=outcome).inc()


def slack_client(settings: Settings, metrics: Metrics | None = None, *, patient: bool = False) -> AsyncWebClient:
    """Someone waits on an interactive call (a slash command, a button): 429s 3 times, 5xx and dropped connections
    twice. Nobody waits on a patient one (digests, warnings, card updates): 429s up to 8 times (each after Slack's
    Retry-After plus up to 1 s of jitter), 5xx and dropped connections 3 times with exponential back-off."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    retries = ([AsyncConnectionErrorRetryHandler(max_retry_count=3), AsyncRateLimitErrorRetryHandler(max_retry_count=8),
                AnyServerErrorRetryHandler(max_retry_count=3)] if patient else
               [AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncServerErrorRetryHandler(max_retry_count=2)])
    client = MeteredWebClient(token=token, base_url=settings.slack_api_url, timeout=30 if patient else 10,
                              retry_handlers=retries)
    client.metrics = metrics
    return client
