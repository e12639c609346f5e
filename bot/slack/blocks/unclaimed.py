"""The admins' App Home section on unclaimed spend."""
from __future__ import annotations

from typing import Any

from bot.domain.format import escape, usd
from bot.domain.unclaimed import HINT, HOME_TOP, SHOWN_ID_CHARS, Unclaimed, requests_text



def unclaimed_blocks(u: Unclaimed | None) -> list[dict[str, Any]]:
    """The admins' App Home section; nothing when all usage is claimed."""
    if u is None or not u.requests:
        return []
    unpriced = f", {u.unpriced:,} with no known price" if u.unpriced else ""
    lines = [f"*Unclaimed spend this month*\n{usd(u.cost_micros)} in {requests_text(u.requests)}{unpriced} "
             "that no person in the org file claims"]
    lines += [f"• {_code(i.user_ref)}: {usd(i.cost_micros)} ({requests_text(i.requests)})" for i in u.top[:HOME_TOP]]
    return [{"type": "divider"},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(HINT)}]}]


def _code(ref: str) -> str:
    """A gateway id as inline code: escaped (never a mention or link), cut to fit, and without backticks, which
    would end the code span early."""
    shown = ref if len(ref) <= SHOWN_ID_CHARS else ref[:SHOWN_ID_CHARS - 1] + "…"
    return "`" + escape(shown.replace("`", "'")) + "`"
