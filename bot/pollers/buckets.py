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
from typing import Any

import aiohttp

from bot.features.deps import Deps
from bot.pollers.common import TIMEOUT, PollError, PollReport, Sleep, get_json, iso
from bot.domain.pricing import MICROS_PER_USD, Pricer
from storage.stores.ingest_state import CursorStore

HOUR = 3600

ParamsFn = Callable[[int, int, str | None], list[tuple[str, str]]]
SpanFn = Callable[[dict[str, Any]], tuple[int, int]]
EventFn = Callable[[int, int, dict[str, Any]], dict[str, Any] | None]


async def poll_hourly_buckets(deps: Deps, *, source: str, label: str, url: str, headers: dict[str, str],
                              params: ParamsFn, span: SpanFn, to_event: EventFn, settle_s: int,
                              first_lookback_s: int, max_pages: int, sleep: Sleep) -> PollReport:
    report = PollReport(source=label)
    cursors = CursorStore(deps.engine)
    now = int(deps.clock.now().timestamp())
    end = (now - settle_s) // HOUR * HOUR
    stored = await cursors.get(source)
    start = stored if stored is not None else (now - first_lookback_s) // HOUR * HOUR
    report.cursor = start
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
                    for result in bucket.get("results") or []:
                        event = to_event(b_start, b_end, result) if isinstance(result, dict) else None
                        if event is not None:
                            items.append(event)
                    last_start = b_start if last_start is None else max(last_start, b_start)
            except (PollError, KeyError, TypeError, ValueError) as exc:
                report.error = (f"{exc if isinstance(exc, PollError) else f'{label} answered an unexpected shape: {exc!r}'}"
                                f"; what was read before is kept, the next poll resumes from {iso(report.cursor)}")
                return report
            if items:
                price_aggregates(deps.ledger.pricer, items)
                result = await deps.ingestion.ingest_items(items, source=source)
                report.add(result.accepted, result.duplicates, len(result.rejected))
            else:
                report.pages += 1
            next_page = data.get("next_page")
            if data.get("has_more") and next_page:
                page = next_page
                if last_start is not None and last_start > report.cursor:
                    await cursors.set(source, last_start, now)
                    report.cursor = last_start
                continue
            await cursors.set(source, end, now)
            report.cursor = end
            return report
    report.error = f"{label}: stopped after {max_pages} pages; the next poll continues from {iso(report.cursor)}"
    return report


def price_aggregates(pricer: Pricer, events: list[dict[str, Any]]) -> None:
    """Price bucket events here, at the tier of a typical request (the ledger would price the bucket's sum as one
    huge request); a model without a known price is left without a cost (counted, flagged unknown)."""
    for e in events:
        if "cost_usd" in e:
            continue
        micros = pricer.aggregate_cost_micros(e["model"], e.get("provider"), e["input_tokens"], e["output_tokens"],
                                              e.get("cached_input_tokens", 0), int(e["timestamp"]),
                                              int(e["metadata"].get("typical_request_input_tokens", 1)))
        if micros is not None:
            e["cost_usd"] = micros / MICROS_PER_USD


__all__ = ["poll_hourly_buckets", "price_aggregates", "HOUR"]
