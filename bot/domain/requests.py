"""Budget requests: parsing, policy and timers. Pure functions; the flow with I/O is bot/request_flow.py."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.domain.format import escape, usd
from bot.domain.pricing import MICROS_PER_USD

MAX_REASON = 500
_AMOUNT_RE = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$")


@dataclass(frozen=True)
class Timers:
    remind_at: int  # half the lifetime: approvers are reminded
    escalate_at: int  # three quarters: the fallback (finance) group is asked too
    expires_at: int


def parse_amount(text: str, ceiling_micros: int) -> int | str:
    """'50', '$50', '$1,250.50' -> micro-USD; otherwise the reason it is not an amount."""
    m = _AMOUNT_RE.match(text.strip())
    if not m:
        shown = escape(text.strip()[:20].replace("`", "'"))  # echoed to Slack: never a live mention or link
        return f"`{shown}` is not an amount in US dollars (try `50` or `$50`)"
    cents = int(m.group(1).replace(",", "")) * 100 + int((m.group(2) or "0").ljust(2, "0"))
    micros = cents * (MICROS_PER_USD // 100)
    if micros <= 0:
        return "the amount must be more than $0"
    if micros > ceiling_micros:
        return f"one request can be for at most {usd(ceiling_micros)}"
    return micros


def parse_reason(text: str) -> str | None:
    reason = " ".join(text.split())
    return reason[:MAX_REASON] if reason else None


def timers(created_at: int, ttl_hours: float) -> Timers:
    ttl = int(ttl_hours * 3600)
    return Timers(remind_at=created_at + ttl // 2, escalate_at=created_at + (ttl * 3) // 4, expires_at=created_at + ttl)


def auto_approvable(amount_micros: int, auto_limit_micros: int, auto_per_month: int, auto_used_this_month: int) -> bool:
    return 0 < amount_micros <= auto_limit_micros and auto_used_this_month < auto_per_month


def needs_finance(amount_micros: int, escalate_above_micros: int | None) -> bool:
    return escalate_above_micros is not None and amount_micros > escalate_above_micros


@dataclass(frozen=True)
class BudgetRequest:
    id: int
    person_id: int
    team_id: int | None
    requester_slack_id: str
    amount_micros: int
    reason: str
    period: str
    month: str
    scope: str
    status: str
    stage: str
    first_approver: str | None
    decided_by: str | None
    decided_at: int | None
    decision_reason: str | None
    created_at: int
    remind_at: int
    escalate_at: int
    expires_at: int
    reminded_at: int | None
    escalated_at: int | None
    context: dict[str, Any]


@dataclass(frozen=True)
class RequestMessage:
    id: int
    request_id: int
    kind: str
    recipient: str
    channel: str | None
    ts: str | None
    status: str
    attempts: int
    text: str | None
