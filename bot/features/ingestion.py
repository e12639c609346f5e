"""Usage ingestion: body -> validated events -> ledger, with rejected items dead-lettered (nothing valid is lost)."""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.clock import Clock
from bot.metrics import Metrics
from bot.domain.pricing import PriceOverride
from bot.domain.usage_events import Rejection, parse_events
from storage.stores.ledger import Ledger
from storage.stores.org import Directory, OrgStore


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

    async def directory(self) -> Directory:
        """The alias map, reloaded only when an org sync (in any process) has moved the revision."""
        revision = await self.org.revision()
        if self._directory is None or self._directory.revision != revision:
            self._directory = await self.org.directory()
            info = await self.org.org_info()
            self.ledger.pricer.set_overrides({m: PriceOverride(**o) for m, o in info.price_overrides.items()})
        return self._directory

    async def ingest_items(self, items: list[object], source: str = "api") -> IngestReport:
        now_ts = int(self.clock.now().timestamp())
        events, rejections = parse_events(items, now_ts)
        result = await self.ledger.ingest(events, await self.directory(), now_ts, source)
        await self.ledger.dead_letter(rejections, source, now_ts)
        if self.metrics is not None:
            dupes = result.duplicates + (len(items) - len(events) - len(rejections))
            for outcome, n in (("accepted", result.accepted), ("duplicate", dupes), ("rejected", len(rejections))):
                if n:
                    self.metrics.events.labels(source=source.split(":")[0], outcome=outcome).inc(n)
        return IngestReport(accepted=result.accepted, duplicates=result.duplicates + (len(items) - len(events) - len(rejections)),
                            rejected=rejections)
