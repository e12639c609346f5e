"""Prometheus metrics, on a registry of the bot's own (so several bots in one test process never mix counts)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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
        self.db_statements = Counter("tokenbot_db_statements_total", "SQL statements sent to the database", registry=r)
        self.decisions = Counter("tokenbot_budget_request_decisions_total", "Budget requests ended, by outcome",
                                 ["outcome"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
