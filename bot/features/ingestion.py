"""Usage ingestion: body -> validated events -> ledger, with rejected items dead-lettered (nothing valid is lost)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.clock import Clock
from bot.metrics import Metrics
from bot.domain.pricing import PriceOverride
from bot.domain.usage_events import DEFAULT_MAX_EVENT_COST_USD, Rejection, UsageEvent, parse_events
from storage.stores.ledger import Ledger
from storage.stores.ledger import IngestResult, StaleDirectory
from storage.stores.org import Directory, OrgStore

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected_count": len(self.rejected),
                "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected[:1000]]}


class Ingestion:
    def __init__(self, ledger: Ledger, org: OrgStore, clock: Clock) -> None:
        self.ledger = ledger
        self.org = org
        self.clock = clock
        self._directory: Directory | None = None
        self.metrics: Metrics | None = None
        self.max_event_cost_usd = DEFAULT_MAX_EVENT_COST_USD  # TOKENBOT_MAX_EVENT_COST_USD, set at wiring

    async def directory(self) -> Directory:
        """The alias map, reloaded only when an org sync (in any process) has moved the revision. (Usage batches do
        not call this: `_store` lets the ledger check the revision inside the batch's transaction.)"""
        revision = await self.org.revision()
        if self._directory is None or self._directory.revision != revision:
            self._directory = await self.org.directory()
            info = await self.org.org_info()
            self.ledger.pricer.set_overrides({m: PriceOverride(**o) for m, o in info.price_overrides.items()})
        return self._directory

    async def ingest_items(self, items: list[object], source: str = "api") -> IngestReport:
        now_ts = int(self.clock.now().timestamp())
        events, rejections = parse_events(items, now_ts, self.max_event_cost_usd)
        in_batch_duplicates = len(items) - len(events) - len(rejections)  # the same id twice in one batch
        try:
            result = await self._store(events, now_ts, source)
        except Exception as exc:  # noqa: BLE001 - re-raised below unless the database is up and one item is at fault
            result = await self._one_by_one(events, now_ts, source, exc, rejections)
        await self.ledger.dead_letter(rejections, source, now_ts)
        dupes = result.duplicates + in_batch_duplicates
        if self.metrics is not None:
            for outcome, n in (("accepted", result.accepted), ("duplicate", dupes), ("rejected", len(rejections))):
                if n:
                    self.metrics.events.labels(source=source.split(":")[0], outcome=outcome).inc(n)
        rejections.sort(key=lambda r: r.index)
        return IngestReport(accepted=result.accepted, duplicates=dupes, rejected=rejections)

    async def _store(self, events: list[UsageEvent], now_ts: int, source: str) -> IngestResult:
        """Attributed with the directory held in memory; the ledger checks in the batch's own transaction that the
        org file has not changed since (no query of its own per batch). If it has: reload, attribute again."""
        directory = self._directory or await self.directory()
        for _ in range(3):
            try:
                return await self.ledger.ingest(events, directory, now_ts, source, check_revision=True)
            except StaleDirectory:
                directory = await self.directory()
        # The org file changed three times while this batch was stored: store it with the latest directory anyway.
        return await self.ledger.ingest(events, await self.directory(), now_ts, source)

    async def _one_by_one(self, events: list[UsageEvent], now_ts: int, source: str,
                          batch_error: Exception, rejections: list[Rejection]) -> IngestResult:
        """The batch's transaction failed. If the database is down, that is the answer (503, retry); otherwise one
        item was at fault: store each event in its own transaction and dead-letter the ones that still fail, so no
        single item can lose the others."""
        if not await self.ledger.reachable():
            raise batch_error
        log.warning("usage batch of %d failed (%s); storing its events one by one", len(events),
                    type(batch_error).__name__)
        accepted = duplicates = 0
        for event in events:
            try:
                one = await self._store([event], now_ts, source)
            except Exception as exc:  # noqa: BLE001 - the item is dead-lettered with the reason; nothing is lost
                if not await self.ledger.reachable():
                    raise
                rejections.append(Rejection(event.index, f"could not be stored ({type(exc).__name__})",
                                            {"id": event.id, "user": event.user, "model": event.model}))
                continue
            accepted += one.accepted
            duplicates += one.duplicates
        return IngestResult(accepted, duplicates)
