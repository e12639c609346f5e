"""What handlers and jobs need, built once at start-up and passed in (never imported as globals)."""
from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock
from bot.features.ingestion import Ingestion
from bot.metrics import Metrics
from bot.settings import Settings
from storage.stores.ledger import Ledger
from storage.stores.org import OrgStore
from storage.stores.requests import RequestStore


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
