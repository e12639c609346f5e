"""Unclaimed spend (usage whose gateway id no person in the org file names), for `tokenbot usage unclaimed` and the
admins' App Home: a wrong gateway setup then shows on its first day, not at month end."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.domain.format import usd
from bot.domain.unclaimed import HINT, Unclaimed, requests_text



def month_window(now: datetime, month: date | None = None) -> tuple[date, int, int]:
    """A UTC month as [from_ts, to_ts): the whole month, or up to now for the current one (month to date).
    UTC, not a team's timezone: unclaimed usage has no person, so often no team either."""
    today = now.astimezone(UTC).date()
    month = month or today.replace(day=1)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return month, int(start.timestamp()), min(int(end.timestamp()), int(now.timestamp()) + 1)


async def load_unclaimed(deps: Any, month: date | None = None, top: int = 10) -> tuple[date, Unclaimed]:
    month, from_ts, to_ts = month_window(deps.clock.now(), month)
    return month, await deps.insights.unclaimed_spend(from_ts, to_ts, top)




def _plain_id(ref: str) -> str:
    # Printed to a terminal: an id with control characters (escape sequences) is shown quoted instead.
    return ref if ref.isprintable() else ascii(ref)


def unclaimed_plain(month: date, u: Unclaimed, now: datetime) -> str:
    """The CLI's summary: totals, one line per id, then what to do about them."""
    to_date = f" (to {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if month == now.astimezone(UTC).date().replace(day=1) else ""
    if not u.requests:
        return f"No unclaimed spend in {month:%Y-%m}{to_date}: every request belongs to a person in the org file."
    unpriced = f" ({u.unpriced:,} with no known price, counted at $0)" if u.unpriced else ""
    lines = [f"Unclaimed spend in {month:%Y-%m}{to_date}: {usd(u.cost_micros)} in {requests_text(u.requests)}{unpriced}"]
    for i in u.top:
        seen = datetime.fromtimestamp(i.last_ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"  {usd(i.cost_micros):>12}  {requests_text(i.requests):>14}  last seen {seen}  {_plain_id(i.user_ref)}")
    rest = u.requests - sum(i.requests for i in u.top)
    if rest:  # more ids than shown; their total needs no third query
        shown = sum(i.cost_micros for i in u.top)
        lines.append(f"  {usd(u.cost_micros - shown):>12}  {requests_text(rest):>14}  of other ids (see --top)")
    lines.append(HINT)
    return "\n".join(lines)


