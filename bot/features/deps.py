"""What handlers and jobs need, built once at start-up and passed in (never imported as globals)."""
from __future__ import annotations

from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.features.ingestion import Ingestion
from bot.features.slash_gate import SlashGate
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.outbox import SlackOutbox
from storage.stores.insights import InsightStore
from storage.stores.ledger import Ledger
from storage.stores.org import OrgStore
from storage.stores.outcomes import OutcomeStore
from storage.stores.requests import RequestStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class Deps:
    settings: Settings
    engine: AsyncEngine  # for the stores a feature builds on demand; features never run SQL themselves
    clock: Clock
    org: OrgStore
    ledger: Ledger
    ingestion: Ingestion
    requests: RequestStore
    metrics: Metrics = field(default_factory=Metrics)
    slack: SlackOutbox | None = None  # every send outside a listener's own answer; None without a token
    reads: AsyncEngine | None = None  # read-only answers (`/tokens me`): autocommit on PostgreSQL; else `engine`
    # Slash commands worked on at once (TOKENBOT_SLASH_MAX_IN_FLIGHT); built at wiring, a default for tests' Deps.
    slash_gate: SlashGate = field(default_factory=lambda: SlashGate(1000))

    @property
    def read_engine(self) -> AsyncEngine:
        return self.reads or self.engine

    async def close(self) -> None:
        """Dispose of the database pools (a no-op for a pool that never connected) and the SQLite writer's thread."""
        self.ledger.close()
        if self.reads is not None and self.reads is not self.engine:
            await self.reads.dispose()
        await self.engine.dispose()

    @property
    def outcomes(self) -> OutcomeStore:
        """Outcome events (OTLP counters, GitHub, other systems), OTLP counter state and the sources' overlap."""
        return OutcomeStore(self.engine, self.ledger.writer)

    @property
    def insights(self) -> InsightStore:
        """Read-only aggregates (per-member spend, spend by model, recent spenders, unclaimed spend)."""
        return InsightStore(self.engine)
