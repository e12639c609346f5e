"""What handlers and jobs need, built once at start-up and passed in (never imported as globals)."""
from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.ingestion import Ingestion
from bot.metrics import Metrics
from bot.settings import Settings
from storage.ledger import Ledger
from storage.org_store import OrgStore
from storage.requests_store import RequestStore


@dataclass
class Deps:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    org: OrgStore
    ledger: Ledger
    ingestion: Ingestion
    requests: RequestStore
    metrics: Metrics = field(default_factory=Metrics)
    slack: AsyncWebClient | None = None  # for work outside a Slack request (timers, retries); None without a token
