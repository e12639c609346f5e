"""Reading a provider's daily cost report (OpenAI `/v1/organization/costs`, Anthropic
`/v1/organizations/cost_report`) into `billed_costs`: pages of one-day buckets (UTC), `has_more`/`next_page`.

Only days that have ended are stored (an open day still grows). Bills are revised after the fact, so every poll reads
again from the start of the current UTC month (and at least the last `revise_days` days, so the end of last month is
read again early in a month) and a later figure replaces the stored one. The cursor (ingest_cursors) is the end of the
last range read completely; after an outage a poll starts from it instead (at most `max_backfill_days` back). Each
page is stored as soon as it is read, so an error mid-way keeps what was read; the next poll reads the range again."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import logging

import aiohttp

from bot.features.deps import Deps
from bot.pollers.common import TIMEOUT, PollError, Sleep, get_json, iso
from storage.stores.billing import DAY, BillingStore
from storage.stores.ingest_state import CursorStore

log = logging.getLogger(__name__)
REVISE_DAYS = 7
MAX_BACKFILL_DAYS = 92

ParamsFn = Callable[[int, int, str | None], list[tuple[str, str]]]
SpanFn = Callable[[dict[str, Any]], tuple[int, int]]
AmountFn = Callable[[dict[str, Any]], int]  # one result -> micro-USD (raises ValueError on a bad amount/currency)
LineFn = Callable[[dict[str, Any]], tuple[str, str]]  # one grouped result -> (model, billing dimension)


@dataclass
class CostPollReport:
    source: str
    new_days: int = 0
    revised_days: int = 0  # days stored before whose billed figure has changed since
    unchanged_days: int = 0
    pages: int = 0
    first_day: str | None = None  # the range read (UTC days, inclusive)
    last_day: str | None = None
    cursor: int | None = None  # read completely up to here (epoch seconds, UTC)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        span = "no closed day to read" if self.first_day is None else f"days {self.first_day}..{self.last_day}"
        upto = "nothing read yet" if self.cursor is None else f"read up to {iso(self.cursor)}"
        line = (f"{self.source}: {span}: {self.new_days:,} new, {self.revised_days:,} revised, "
                f"{self.unchanged_days:,} unchanged billed days, {self.pages:,} pages; {upto}")
        return line + (f"\n{self.source}: ERROR {self.error}" if self.error else "")


def day_str(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def month_start(ts: int) -> int:
    d = datetime.fromtimestamp(ts, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())


def usd_to_micros(value: Any) -> int:
    """A dollar amount (number or decimal string) -> micro-USD, exactly (no float arithmetic)."""
    return _to_micros(value, Decimal(1_000_000))


def cents_to_micros(value: Any) -> int:
    """An amount in cents as a decimal string ("123.45" = $1.2345) -> micro-USD."""
    return _to_micros(value, Decimal(10_000))


def _to_micros(value: Any, scale: Decimal) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"amount {value!r} is not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise ValueError(f"amount {value!r} is not a number")
    return int((amount * scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def read_range(now: int, stored_cursor: int | None, revise_days: int, max_backfill_days: int) -> tuple[int, int]:
    """[start, end) of the days to read: closed days only, from the current month's start (and at least
    `revise_days` back), or from an older cursor (at most `max_backfill_days` back)."""
    end = now // DAY * DAY
    start = min(month_start(now), end - revise_days * DAY)
    if stored_cursor is not None and stored_cursor < start:
        start = max(stored_cursor // DAY * DAY, end - max_backfill_days * DAY)
    return start, end


async def poll_daily_costs(deps: Deps, *, provider: str, source: str, label: str, url: str, headers: dict[str, str],
                           params: ParamsFn, span: SpanFn, amount: AmountFn, max_pages: int, sleep: Sleep,
                           line: LineFn | None = None,
                           revise_days: int = REVISE_DAYS, max_backfill_days: int = MAX_BACKFILL_DAYS
                           ) -> CostPollReport:
    report = CostPollReport(source=label)
    cursors = CursorStore(deps.engine)
    store = BillingStore(deps.engine)
    now = int(deps.clock.now().timestamp())
    report.cursor = await cursors.get(source)
    start, end = read_range(now, report.cursor, revise_days, max_backfill_days)
    if start >= end:
        return report
    report.first_day, report.last_day = day_str(start), day_str(end - DAY)
    figures: dict[str, int] = {}  # day -> billed micros, over all pages (a day is normally on one page only)
    lines: dict[tuple[str, str, str], int] = {}  # (day, model, dimension) -> billed micros
    page: str | None = None
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for _ in range(max_pages):
            try:
                data = await get_json(http, url, params=params(start, end, page), headers=headers, what=label,
                                      sleep=sleep)
                buckets = data.get("data") if isinstance(data, dict) else None
                if not isinstance(buckets, list):
                    raise PollError(f"{label} answered without a `data` list: {str(data)[:200]}")
                seen: set[str] = set()
                last_end: int | None = None
                for bucket in buckets:
                    b_start, b_end = span(bucket)
                    if b_end > end or b_start < start:
                        continue  # the day has not ended yet (or is outside the range asked for)
                    day = day_str(b_start)
                    results = bucket.get("results")
                    if not isinstance(results, list):  # never a silent $0 replacing the day's figure
                        raise PollError(f"{label} answered a bucket without a `results` list: {str(bucket)[:200]}")
                    total = 0
                    for r in results:
                        micros = amount(r)
                        total += micros
                        if line is not None:
                            key = (day, *line(r))
                            lines[key] = lines.get(key, 0) + micros
                    figures[day] = figures.get(day, 0) + total
                    seen.add(day)
                    last_end = b_end if last_end is None else max(last_end, b_end)
            except (PollError, KeyError, TypeError, ValueError) as exc:
                what = exc if isinstance(exc, PollError) else f"{label} answered an unexpected shape: {exc!r}"
                report.error = f"{what}; the days read before are kept, the next poll reads the range again"
                log.error("cost poll failed: %s", report.error)
                return report
            report.pages += 1
            if seen:
                counts = await store.upsert_days(provider, {d: figures[d] for d in seen}, now)
                if line is not None:
                    await store.replace_lines(provider, seen, {k: v for k, v in lines.items() if k[0] in seen}, now)
                report.new_days += counts.new
                report.revised_days += counts.revised
                report.unchanged_days += counts.unchanged
            next_page = data.get("next_page")
            if data.get("has_more") and next_page:
                page = next_page
                if last_end is not None and (report.cursor is None or last_end > report.cursor) and last_end < end:
                    await cursors.set(source, last_end, now)
                    report.cursor = last_end
                continue
            if report.cursor is None or end > report.cursor:
                await cursors.set(source, end, now)
                report.cursor = end
            return report
    report.error = f"{label}: stopped after {max_pages} pages; the next poll reads the range again"
    return report


def parse_rfc3339(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


__all__ = ["CostPollReport", "poll_daily_costs", "read_range", "usd_to_micros", "cents_to_micros", "day_str",
           "month_start", "parse_rfc3339", "REVISE_DAYS", "MAX_BACKFILL_DAYS"]
