"""Unclaimed spend (usage whose gateway id no person in the org file names), for `tokenbot usage unclaimed` and the
admins' App Home: a wrong gateway setup then shows on its first day, not at month end."""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot.domain.budget import usd
from bot.slack.blocks.me import escape
from storage.stores.unclaimed import Unclaimed, unclaimed_spend

HINT = ("Add the id to a person's `gateway_ids` in the org file (then `tokenbot org sync`); ids like `key:<hash>` mean "
        "the gateway sent no user: send the OpenAI `user` field, or use virtual keys with users.")
HOME_TOP = 5
SHOWN_ID_CHARS = 80  # a gateway id may be 320 characters; five of them escaped must fit one 3,000-character section


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
    return month, await unclaimed_spend(deps.engine, from_ts, to_ts, top)


def _requests(n: int) -> str:
    return f"{n:,} request" + ("" if n == 1 else "s")


def _plain_id(ref: str) -> str:
    # Printed to a terminal: an id with control characters (escape sequences) is shown quoted instead.
    return ref if ref.isprintable() else ascii(ref)


def unclaimed_plain(month: date, u: Unclaimed, now: datetime) -> str:
    """The CLI's summary: totals, one line per id, then what to do about them."""
    to_date = f" (to {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" if month == now.astimezone(UTC).date().replace(day=1) else ""
    if not u.requests:
        return f"No unclaimed spend in {month:%Y-%m}{to_date}: every request belongs to a person in the org file."
    unpriced = f" ({u.unpriced:,} with no known price, counted at $0)" if u.unpriced else ""
    lines = [f"Unclaimed spend in {month:%Y-%m}{to_date}: {usd(u.cost_micros)} in {_requests(u.requests)}{unpriced}"]
    for i in u.top:
        seen = datetime.fromtimestamp(i.last_ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(f"  {usd(i.cost_micros):>12}  {_requests(i.requests):>14}  last seen {seen}  {_plain_id(i.user_ref)}")
    rest = u.requests - sum(i.requests for i in u.top)
    if rest:  # more ids than shown; their total needs no third query
        shown = sum(i.cost_micros for i in u.top)
        lines.append(f"  {usd(u.cost_micros - shown):>12}  {_requests(rest):>14}  of other ids (see --top)")
    lines.append(HINT)
    return "\n".join(lines)


def _code(ref: str) -> str:
    """A gateway id as inline code: escaped (never a mention or link), cut to fit, and without backticks, which
    would end the code span early."""
    shown = ref if len(ref) <= SHOWN_ID_CHARS else ref[:SHOWN_ID_CHARS - 1] + "…"
    return "`" + escape(shown.replace("`", "'")) + "`"


def unclaimed_blocks(u: Unclaimed | None) -> list[dict[str, Any]]:
    """The admins' App Home section; nothing when all usage is claimed."""
    if u is None or not u.requests:
        return []
    unpriced = f", {u.unpriced:,} with no known price" if u.unpriced else ""
    lines = [f"*Unclaimed spend this month*\n{usd(u.cost_micros)} in {_requests(u.requests)}{unpriced} "
             "that no person in the org file claims"]
    lines += [f"• {_code(i.user_ref)}: {usd(i.cost_micros)} ({_requests(i.requests)})" for i in u.top[:HOME_TOP]]
    return [{"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(HINT)}]}]
