"""Reading a provider's hourly usage buckets (OpenAI and Anthropic admin usage APIs share the pattern): pages of
time buckets, each with one result per group, `has_more`/`next_page` to continue.

Only buckets that have ended, and ended at least `settle_s` ago, are asked for: an open bucket keeps growing, and its
deterministic event id would freeze the first, partial figure. Each bucket x group becomes one event whose id is
built from the bucket start and the group, so a bucket read twice is a duplicate, never a double count. The cursor
(the end of the last range read completely) is stored after the last page, and while paging it moves to the start of
the last bucket seen (that bucket may continue on the next page), so a failure mid-way resumes close to where it
stopped and re-reads nothing that could count twice."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import logging

import aiohttp

from bot.features.deps import Deps
from bot.pollers.common import TIMEOUT, PollError, PollReport, Sleep, get_json, iso
from bot.domain.price_rules import price_usage
from bot.domain.pricing import MICROS_PER_USD, Pricer
from storage.stores.ingest_state import CursorStore

HOUR = 3600
log = logging.getLogger(__name__)

ParamsFn = Callable[[int, int, str | None], list[tuple[str, str]]]
SpanFn = Callable[[dict[str, Any]], tuple[int, int]]
EventFn = Callable[[int, int, dict[str, Any]], dict[str, Any] | None]
Progress = Callable[[int, int], None]  # (hours read, hours to read): the CLI's progress bar


def first_start(now: int, lookback_days: int | None) -> int:
    """Where a poller without a cursor starts: the start of the current UTC month (so a fresh install reads every day
    of the month that reconciliation compares), or `lookback_days` back when that is set."""
    if lookback_days is not None:
        return (now - lookback_days * 86_400) // HOUR * HOUR
    d = datetime.fromtimestamp(now, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())


async def poll_hourly_buckets(deps: Deps, *, source: str, label: str, url: str, headers: dict[str, str],
                              params: ParamsFn, span: SpanFn, to_event: EventFn, settle_s: int,
                              max_pages: int, sleep: Sleep, since: int | None = None,
                              progress: Progress | None = None) -> PollReport:
    """Read [cursor, the last settled hour) -- or [since, ...) for a deliberate backfill, or from first_start() on
    a first run. A result of an unknown shape stops the read with an error (logged by the caller; the cursor stays, so
    the next poll reads it again): nothing is stored as $0."""
    report = PollReport(source=label)
    cursors = CursorStore(deps.engine)
    now = int(deps.clock.now().timestamp())
    end = (now - settle_s) // HOUR * HOUR
    stored = await cursors.get(source)
    # Hours this install read before usage was grouped by every billing dimension hold one event per model whose
    # figures include batch and priority usage; re-read now, those would come back as extra events beside it and
    # count twice. So a backfill does not go back past the hour the grouped reads began.
    grouped_key = f"{source}:grouped_from"
    grouped_from = await cursors.get(grouped_key)
    if grouped_from is None:
        grouped_from = 0 if stored is None else stored  # a fresh install never read the old way
        await cursors.set(grouped_key, grouped_from, now)
    if since is not None:
        start = since // HOUR * HOUR
        if start < grouped_from:
            log.warning("%s: not re-reading before %s: those hours were read before usage was grouped by billing "
                        "dimension, and reading them again would count batch and priority usage twice",
                        label, iso(grouped_from))
            report.notes.append(f"started at {iso(grouped_from)}, not {iso(start)}: the hours before were read "
                                "before usage was grouped by billing dimension (re-reading would count some twice)")
            start = grouped_from
    elif stored is not None:
        start = stored
    else:
        start = first_start(now, deps.settings.poll_first_lookback_days)
    report.cursor = start
    report.first = start
    if start >= end:
        return report
    page: str | None = None
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(max_pages):
            try:
                data = await get_json(http, url, params=params(start, end, page), headers=headers, what=label,
                                      sleep=sleep)
                buckets = data.get("data") if isinstance(data, dict) else None
                if not isinstance(buckets, list):
                    raise PollError(f"{label} answered without a `data` list: {str(data)[:200]}")
                items: list[dict[str, Any]] = []
                last_start: int | None = None
                for bucket in buckets:
                    b_start, b_end = span(bucket)
                    if b_end > end:
                        continue  # not over (or not settled) yet: read at a later poll
                    results = bucket.get("results")
                    if not isinstance(results, list):
                        raise PollError(f"{label} answered a bucket without a `results` list: {str(bucket)[:200]}")
                    for result in results:
                        if not isinstance(result, dict):
                            raise PollError(f"{label} answered a result that is not an object: {str(result)[:200]}")
                        event = to_event(b_start, b_end, result)
                        if event is not None:
                            items.append(event)
                    last_start = b_start if last_start is None else max(last_start, b_start)
            except (PollError, KeyError, TypeError, ValueError) as exc:
                report.error = (f"{exc if isinstance(exc, PollError) else f'{label} answered an unexpected shape: {exc!r}'}"
                                f"; what was read before is kept, the next poll resumes from {iso(report.cursor)}")
                log.error("usage poll failed: %s", report.error)
                return report
            if items:
                await deps.ingestion.directory()  # loads the org file's price overrides when they changed
                price_aggregates(deps.ledger.pricer, items)
                result = await deps.ingestion.ingest_items(items, source=source)
                report.add(result.accepted, result.duplicates, len(result.rejected))
            else:
                report.pages += 1
            next_page = data.get("next_page")
            if data.get("has_more") and next_page:
                page = next_page
                if last_start is not None and last_start > report.cursor:
                    if stored is None or last_start > stored:
                        await cursors.set(source, last_start, now)
                    report.cursor = last_start
                if progress is not None and last_start is not None:
                    progress((last_start - start) // HOUR, (end - start) // HOUR)
                continue
            if stored is None or end > stored:
                await cursors.set(source, end, now)
            report.cursor = end
            if progress is not None:
                progress((end - start) // HOUR, (end - start) // HOUR)
            return report
    report.error = f"{label}: stopped after {max_pages} pages; the next poll continues from {iso(report.cursor)}"
    return report


def price_aggregates(pricer: Pricer, events: list[dict[str, Any]]) -> None:
    """Price bucket events here, by the provider's billing dimensions (metadata["billing"]: batch, service tier,
    context window, cache writes, audio, web searches; bot/domain/price_rules.py), never as one huge request. The
    cost by dimension goes into metadata["cost_parts"] for reconciliation; a model without a known price is left
    without a cost (counted, flagged unknown)."""
    for e in events:
        if "cost_usd" in e:
            continue
        billing = e["metadata"].get("billing")
        if isinstance(billing, dict):
            priced = price_usage(pricer, e.get("provider") or "", e["model"], int(e["timestamp"]), billing)
            if priced is not None:
                e["cost_usd"] = priced.micros / MICROS_PER_USD
                e["metadata"]["cost_parts"] = priced.parts
                if priced.rules:
                    e["metadata"]["price_rules"] = list(priced.rules)
            continue
        micros = pricer.aggregate_cost_micros(e["model"], e.get("provider"), e["input_tokens"], e["output_tokens"],
                                              e.get("cached_input_tokens", 0), int(e["timestamp"]),
                                              int(e["metadata"].get("typical_request_input_tokens", 1)))
        if micros is not None:
            e["cost_usd"] = micros / MICROS_PER_USD


__all__ = ["poll_hourly_buckets", "price_aggregates", "first_start", "Progress", "HOUR"]
