"""Anthropic cost report (`GET /v1/organizations/cost_report`, an admin key, `x-api-key` and
`anthropic-version: 2023-06-01`) -> billed cost per UTC day.

Asked for with `bucket_width=1d`, `starting_at`/`ending_at` RFC 3339 (buckets that end by `ending_at`) and `limit`
(buckets, at most 31); each bucket (`starting_at`/`ending_at`) holds results whose `amount` is a decimal STRING in
the currency's lowest unit, cents ("123.45" with `currency` "USD" is $1.2345), and, when grouped, `workspace_id`,
`description`, `cost_type`, `model`, ... Pages continue with `page=<next_page>` while `has_more`. A day's billed cost
is the sum of its results. Anthropic documents that Priority Tier costs are not in this report."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.features.deps import Deps
from bot.pollers.common import Sleep, iso
from bot.pollers.costs import CostPollReport, cents_to_micros, parse_rfc3339, poll_daily_costs

PROVIDER = "anthropic"
SOURCE = "anthropic_costs"
PATH = "/v1/organizations/cost_report"
ANTHROPIC_VERSION = "2023-06-01"
BUCKETS_PER_PAGE = 31  # the maximum for 1d buckets


def anthropic_cost_micros(result: dict[str, Any]) -> int:
    """One cost result -> micro-USD (pure). A currency other than USD is an error, never silently summed."""
    currency = str(result.get("currency") or "USD").upper()
    if currency != "USD":
        raise ValueError(f"a cost in {currency}, not USD")
    amount = result.get("amount")
    if amount is None:  # an unknown shape: fail loudly, never a silent $0
        raise ValueError(f"a cost result without `amount`: {str(result)[:200]}")
    return cents_to_micros(amount)


def anthropic_cost_line(result: dict[str, Any]) -> tuple[str, str]:
    """One cost result grouped by description -> (model, billing dimension) (pure): web searches and other server
    tools are "tools", batch tokens "batch", cache reads and writes "cache", other tokens "text"."""
    model = str(result.get("model") or "")
    cost_type, token_type = result.get("cost_type"), str(result.get("token_type") or "")
    if cost_type not in (None, "tokens"):
        return model, "tools" if cost_type in ("web_search", "code_execution") else "other"
    if result.get("service_tier") == "batch":
        return model, "batch"
    if token_type.startswith("cache"):
        return model, "cache"
    return model, "text" if token_type else "other"


def anthropic_cost_params(start: int, end: int, page: str | None) -> list[tuple[str, str]]:
    # grouped by description: each result names its model, cost_type, token_type and service_tier
    params = [("starting_at", iso(start)), ("ending_at", iso(end)), ("bucket_width", "1d"),
              ("limit", str(BUCKETS_PER_PAGE)), ("group_by[]", "description")]
    return params + ([("page", page)] if page else [])


def anthropic_cost_span(bucket: dict[str, Any]) -> tuple[int, int]:
    return parse_rfc3339(bucket["starting_at"]), parse_rfc3339(bucket["ending_at"])


async def poll_anthropic_costs(deps: Deps, *, max_pages: int = 20, sleep: Sleep = asyncio.sleep,
                               **kwargs: int) -> CostPollReport:
    s = deps.settings
    if s.anthropic_admin_key is None or not s.anthropic_api_url:
        return CostPollReport(source="anthropic costs",
                              error="not configured: set TOKENBOT_ANTHROPIC_ADMIN_KEY (an admin key)")
    return await poll_daily_costs(
        deps, provider=PROVIDER, source=SOURCE, label=f"Anthropic {PATH}", url=s.anthropic_api_url + PATH,
        headers={"x-api-key": s.anthropic_admin_key.get_secret_value(), "anthropic-version": ANTHROPIC_VERSION},
        params=anthropic_cost_params, span=anthropic_cost_span, amount=anthropic_cost_micros,
        line=anthropic_cost_line, max_pages=max_pages,
        sleep=sleep, **kwargs)


__all__ = ["poll_anthropic_costs", "anthropic_cost_micros", "anthropic_cost_params", "anthropic_cost_line", "SOURCE", "PROVIDER"]
