"""Outcome events from GitHub webhooks and from other systems (`POST /v1/outcomes`) -> outcome_events, attributed
to people through the org file's aliases (emails, gateway ids, `github:<login>`); unknown ones are kept and move to
the person when the org file names them (`OutcomeStore.reattribute` at org sync)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain.outcomes import GithubDelivery, parse_github, parse_outcomes
from bot.domain.usage_events import Rejection
from bot.features.ingestion import Ingestion
from storage.stores.outcomes import OutcomeStore, RecordResult


@dataclass
class OutcomesReport:
    accepted: int = 0
    duplicates: int = 0
    reverted: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "reverted": self.reverted,
                "rejected_count": len(self.rejected),
                "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected[:1000]]}


class OutcomeIngest:
    def __init__(self, ingestion: Ingestion, recorder: OutcomeStore) -> None:
        self.ingestion = ingestion
        self.recorder = recorder

    async def github(self, event: str, delivery_id: str | None, payload: Any) -> tuple[GithubDelivery, RecordResult]:
        """One verified webhook delivery (GithubPayloadError: not GitHub's documented shape)."""
        now_ts = int(self.ingestion.clock.now().timestamp())
        parsed = parse_github(event, payload, now_ts)
        if parsed.ignored is not None:
            return parsed, RecordResult()
        result = await self.recorder.record(parsed.outcomes, await self.ingestion.directory(), now_ts,
                                            (delivery_id, event) if delivery_id else None)
        return parsed, result

    async def items(self, items: list[Any]) -> OutcomesReport:
        now_ts = int(self.ingestion.clock.now().timestamp())
        outcomes, rejections = parse_outcomes(items, now_ts)
        result = await self.recorder.record(outcomes, await self.ingestion.directory(), now_ts)
        await self.ingestion.ledger.dead_letter(rejections, "outcomes", now_ts)
        in_batch = len(items) - len(outcomes) - len(rejections)  # the same id twice in one batch
        return OutcomesReport(accepted=result.accepted, duplicates=result.duplicates + in_batch,
                              reverted=result.reverted, rejected=rejections)


__all__ = ["OutcomeIngest", "OutcomesReport"]
