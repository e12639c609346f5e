"""OTLP export requests -> the ledger (usage events, priced like any event), outcome events, and the overlap.

An OTLP request's records go through the same validation, ledger and dead letters as `/v1/usage`; on top:
- re-pricing: where the org file prices a model itself, Claude Code's own `cost_usd` (list price) is replaced by the
  org's price (kept in the event's metadata as `reported_cost_usd`);
- precedence: where the org file's `sources:` names another source as authoritative for the person, team or
  provider, the request is not spend (that source counts it) and is kept as overlap for reconciliation;
- outcome counters (pull requests, commits) become outcome events, cumulative series counted by their growth."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.org import SourceRule, authoritative_source
from bot.domain.otlp import map_request
from bot.domain.pricing import MICROS_PER_USD
from bot.domain.usage_events import Rejection, UsageEvent, parse_events
from bot.features.ingestion import Ingestion
from storage.stores.org import Directory
from storage.stores.outcomes import OutcomeStore

SOURCE = "otlp"


@dataclass
class OtlpReport:
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    overlap: int = 0
    outcomes: int = 0
    ignored: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class OtlpIngest:
    def __init__(self, ingestion: Ingestion, outcomes: OutcomeStore, user_attributes: tuple[str, ...]) -> None:
        self.ingestion = ingestion
        self.outcomes = outcomes
        self.user_attributes = user_attributes
        self._rules: tuple[int, tuple[SourceRule, ...], dict[int, str], dict[int, str]] | None = None

    async def ingest(self, signal: str, request: Any) -> OtlpReport:
        """One decoded export request (`bot.domain.otlp.decode_request`) stored; what was rejected, and why."""
        ingestion = self.ingestion
        now_ts = int(ingestion.clock.now().timestamp())
        directory = await ingestion.directory()
        mapping = map_request(signal, request, directory.person_by_alias, self.user_attributes)
        events, rejections = parse_events(mapping.events, now_ts)
        pricer = ingestion.ledger.pricer
        # The org's own price wins over the figure Claude Code computed at list price.
        events = [replace(e, cost_usd=None) if e.cost_usd is not None and pricer.has_override(e.model) else e
                  for e in events]
        counted, overlap = await self._split_by_precedence(events, directory)
        result = await ingestion.ledger.ingest(counted, directory, now_ts, SOURCE)
        await ingestion.ledger.dead_letter(rejections, SOURCE, now_ts)
        overlap_added = await self.outcomes.record_overlap([self._overlap_row(e, by, directory, now_ts)
                                                            for e, by in overlap])
        outcomes = await self.outcomes.record_points(mapping.points, directory, now_ts, SOURCE)
        in_batch_dupes = len(mapping.events) - len(events) - len(rejections)
        report = OtlpReport(records=mapping.records, accepted=result.accepted,
                            duplicates=result.duplicates + in_batch_dupes + (len(overlap) - overlap_added),
                            overlap=overlap_added, outcomes=outcomes, ignored=mapping.ignored, rejected=rejections)
        if ingestion.metrics is not None:
            for outcome, n in (("accepted", report.accepted), ("duplicate", report.duplicates),
                               ("rejected", len(rejections)), ("overlap", overlap_added)):
                if n:
                    ingestion.metrics.events.labels(source=SOURCE, outcome=outcome).inc(n)
        return report

    async def _split_by_precedence(self, events: list[UsageEvent], directory: Directory
                                   ) -> tuple[list[UsageEvent], list[tuple[UsageEvent, str]]]:
        rules, emails, slugs = await self._precedence(directory)
        if not rules:
            return events, []
        counted: list[UsageEvent] = []
        overlap: list[tuple[UsageEvent, str]] = []
        for e in events:
            person_id, team_id = directory.attribute(e.user, e.team)
            email = emails.get(person_id) if person_id is not None else e.user
            source = authoritative_source(rules, email, slugs.get(team_id), e.provider)
            if source is None or source == SOURCE:
                counted.append(e)
            else:
                overlap.append((e, source))
        return counted, overlap

    async def _precedence(self, directory: Directory) -> tuple[tuple[SourceRule, ...], dict[int, str], dict[int, str]]:
        """The org file's source rules, with person ids -> emails and team ids -> slugs, reloaded per org revision."""
        if self._rules is None or self._rules[0] != directory.revision:
            info = await self.ingestion.org.org_info()
            people = await self.ingestion.org.people_by_id(sorted({pid for pid, _t in directory.person_by_alias.values()}))
            emails = {pid: person.email for pid, person in people.items()}
            slugs = {tid: slug for slug, tid in directory.team_by_slug.items()}
            self._rules = (directory.revision, info.source_precedence, emails, slugs)
        return self._rules[1], self._rules[2], self._rules[3]

    def _overlap_row(self, e: UsageEvent, counted_by: str, directory: Directory, now_ts: int) -> dict[str, Any]:
        if e.cost_usd is not None:
            cost: int | None = round(e.cost_usd * MICROS_PER_USD)
        else:
            cost = self.ingestion.ledger.pricer.cost_micros(e.model, e.provider, e.input_tokens, e.output_tokens,
                                                            e.cached_input_tokens, e.ts)
        person_id, _team = directory.attribute(e.user, e.team)
        return {"id": e.id, "ts": e.ts, "source": SOURCE, "counted_by": counted_by, "user_ref": e.user,
                "person_id": person_id, "model": e.model, "provider": e.provider, "input_tokens": e.input_tokens,
                "output_tokens": e.output_tokens, "cost_micros": cost, "received_at": now_ts}


__all__ = ["OtlpIngest", "OtlpReport", "SOURCE"]
