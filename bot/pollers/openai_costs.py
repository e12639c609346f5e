"""OpenAI organization costs (`GET /v1/organization/costs`, an admin key) -> billed cost per UTC day.

Asked for with `bucket_width=1d` (the only width), `start_time`/`end_time` epoch seconds (end exclusive) and `limit`
(buckets, at most 180); each bucket (`start_time`/`end_time`) holds results with `amount: {value, currency}` (`value`
in dollars, a number; `currency` lowercase ISO-4217, "usd"), `line_item` and `project_id` (null unless grouped by
them). Pages continue with `page=<next_page>` while `has_more`. A day's billed cost is the sum of its results."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.features.deps import Deps
from bot.pollers.costs import CostPollReport, poll_daily_costs, usd_to_micros
from bot.pollers.common import Sleep

PROVIDER = "openai"
SOURCE = "openai_costs"
PATH = "/v1/organization/costs"
BUCKETS_PER_PAGE = 180  # OpenAI's maximum


def openai_cost_micros(result: dict[str, Any]) -> int:
    """One cost result -> micro-USD (pure). A currency other than USD is an error, never silently summed."""
    amount = result.get("amount")
    if amount is None:  # an unknown shape: fail loudly, never a silent $0
        raise ValueError(f"a cost result without `amount`: {str(result)[:200]}")
    if not isinstance(amount, dict):
        raise ValueError(f"amount is not an object: {amount!r}")
    currency = str(amount.get("currency") or "usd").lower()
    if currency != "usd":
        raise ValueError(f"a cost in {currency.upper()}, not USD")
    if "value" not in amount:
        raise ValueError(f"a cost amount without `value`: {amount!r}")
    return usd_to_micros(amount["value"])


def openai_cost_line(result: dict[str, Any]) -> tuple[str, str]:
    """One cost result grouped by line_item ("<model>, <kind>", e.g. "gpt-4o-2024-08-06, cached input") -> (model,
    billing dimension) (pure). The reference documents line_item as a string without listing its values, so the kind
    is read by keyword: batch, cache, audio, tool/search, else text; a line naming no model is "other"."""
    item = str(result.get("line_item") or "")
    model, _, kind = item.partition(", ")
    kind = kind.lower() if kind else ""
    if not kind:
        return "", "tools" if "search" in item.lower() or "tool" in item.lower() else "other"
    for word, dimension in (("batch", "batch"), ("cache", "cache"), ("audio", "audio"), ("search", "tools"),
                            ("tool", "tools"), ("input", "text"), ("output", "text")):
        if word in kind:
            return model, dimension
    return model, "other"


def openai_cost_params(start: int, end: int, page: str | None) -> list[tuple[str, str]]:
    params = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", "1d"),
              ("limit", str(BUCKETS_PER_PAGE)), ("group_by", "line_item")]
    return params + ([("page", page)] if page else [])


async def poll_openai_costs(deps: Deps, *, max_pages: int = 20, sleep: Sleep = asyncio.sleep,
                            **kwargs: int) -> CostPollReport:
    s = deps.settings
    if s.openai_admin_key is None or not s.openai_api_url:
        return CostPollReport(source="openai costs",
                              error="not configured: set TOKENBOT_OPENAI_ADMIN_KEY (an admin key)")
    return await poll_daily_costs(
        deps, provider=PROVIDER, source=SOURCE, label=f"OpenAI {PATH}", url=s.openai_api_url + PATH,
        headers={"Authorization": f"Bearer {s.openai_admin_key.get_secret_value()}"},
        params=openai_cost_params, span=lambda b: (int(b["start_time"]), int(b["end_time"])),
        amount=openai_cost_micros, line=openai_cost_line, max_pages=max_pages, sleep=sleep, **kwargs)


__all__ = ["poll_openai_costs", "openai_cost_micros", "openai_cost_params", "openai_cost_line", "SOURCE", "PROVIDER"]
