"""Prometheus metrics, on a registry of the bot's own (so several bots in one test process never mix counts)."""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("tokenbot_usage_events_total", "Usage events received, by source and outcome",
                              ["source", "outcome"], registry=r)  # outcome: accepted | duplicate | rejected
        self.slack_calls = Counter("tokenbot_slack_calls_total", "Slack Web API calls, by method and outcome",
                                   ["method", "outcome"], registry=r)
        self.job_runs = Counter("tokenbot_job_runs_total", "Scheduled job runs, by job and outcome", ["job", "outcome"],
                                registry=r)
        self.job_lag = Gauge("tokenbot_job_lag_seconds", "How late the latest run of each job started", ["job"], registry=r)
        self.decisions = Counter("tokenbot_budget_request_decisions_total", "Budget requests ended, by outcome",
                                 ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MeteredWebClient(AsyncWebClient):
    """Slack's client, counting every call by method and outcome (ok, the Slack error code, or the exception)."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any):  # noqa: ANN201
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            data = exc.response.data
            self._count(api_method, str(data.get("error")) if isinstance(data, dict) else f"http_{exc.response.status_code}")
            raise
        except Exception as exc:
            self._count(api_method, type(exc).__name__)
            raise
        self._count(api_method, "ok")
        return response

    def _count(self, method: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.slack_calls.labels(method=method, outcome=outcome).inc()
