"""Reconciliation from the stores: the month's closed UTC days, estimated (the ledger) against billed (the providers'
cost endpoints), compared by the pure rules of bot.domain.reconcile."""
from __future__ import annotations

from datetime import UTC, date
from typing import Any

from bot.domain.reconcile import Reconciliation, Threshold, closed_days, day_start_ts, reconcile
from storage.stores.billing import BillingStore
from storage.stores.outcomes import OverlapTotal


async def load_reconciliation(deps: Any, month: date | None = None, provider: str | None = None
                              ) -> Reconciliation | None:
    """The month's closed UTC days (default: the current month to date); None when none has ended yet."""
    today = deps.clock.now().astimezone(UTC).date()
    month = month or today.replace(day=1)
    span = closed_days(month, today)
    if span is None:
        return None
    first, last = span
    estimated = await BillingStore(deps.engine).estimated_by_provider_day(day_start_ts(first), day_start_ts(last) + 86_400)
    billed = await BillingStore(deps.engine).billed(first.isoformat(), last.isoformat(), provider)
    return reconcile(first, last, estimated, billed, Threshold.from_settings(deps.settings), only=provider)


async def load_overlap(deps: Any, month: date | None = None) -> list[OverlapTotal]:
    """The month's (UTC) requests a non-authoritative source also reported, by source pair."""
    today = deps.clock.now().astimezone(UTC).date()
    month = month or today.replace(day=1)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return await deps.outcomes.overlap(day_start_ts(month), day_start_ts(following))


async def load_breakdown(deps: Any, month: date | None = None, provider: str | None = None) -> tuple[date, date, list]:
    """The month's closed UTC days: the estimate against the bill per provider, model and billing dimension."""
    from bot.domain.reconcile_breakdown import breakdown

    today = deps.clock.now().astimezone(UTC).date()
    month = month or today.replace(day=1)
    span = closed_days(month, today)
    if span is None:
        return month, month, []
    first, last = span
    store = BillingStore(deps.engine)
    estimated = await store.estimated_lines(day_start_ts(first), day_start_ts(last) + 86_400)
    billed = await store.billed_lines(first.isoformat(), last.isoformat())
    lines = breakdown(estimated, billed)
    return first, last, [g for g in lines if provider is None or g.provider == provider]
