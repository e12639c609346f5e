"""Anthropic usage report (`GET /v1/organizations/usage_report/messages`, an admin key, `x-api-key` and
`anthropic-version: 2023-06-01`) -> hourly events.

Asked for with `bucket_width=1h` and `group_by[]` api_key_id, workspace_id, model, context_window (which
long-context price tier applies: a bucket sums many requests, so its own size says nothing), service_tier (batch is
billed at half price), inference_geo (US-only inference at 1.1x) and speed (fast mode); each bucket
(`starting_at`/`ending_at`, RFC 3339) holds one result per group with `uncached_input_tokens`,
`cache_read_input_tokens`, `cache_creation.ephemeral_5m_input_tokens`/`ephemeral_1h_input_tokens` (billed 1.25x and
2x input), `output_tokens` and `server_tool_use.web_search_requests` (billed per search). Pages continue with
`page=<next_page>` while `has_more`. The event's `user` is the API key id (else the workspace id; usage from the
Console has neither): list those ids under a person's `gateway_ids`. Costs: bot/domain/price_rules.py."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot.features.deps import Deps
from bot.pollers.buckets import Progress, poll_hourly_buckets
from bot.pollers.common import PollReport, Sleep, iso

SOURCE = "anthropic_usage"
PATH = "/v1/organizations/usage_report/messages"
ANTHROPIC_VERSION = "2023-06-01"
GROUP_BY = ("api_key_id", "workspace_id", "model", "context_window", "service_tier", "inference_geo", "speed")
BUCKETS_PER_PAGE = 168  # the maximum for 1h buckets
SETTLE_S = 900
STANDARD = {"service_tier": (None, "standard"), "inference_geo": (None, "global", "not_available"),
            "speed": (None, "standard", "not_available")}


def anthropic_result_to_event(bucket_start: int, bucket_end: int, r: dict[str, Any]) -> dict[str, Any] | None:
    """One bucket x group result -> a usage event (pure); None for an empty group. ValueError for a result that is
    not a messages usage result (the read fails loudly and is retried, never stored as $0).

    input_tokens = uncached + cache reads + cache writes (as our events count input); cached = cache reads. What is
    billed differently (cache writes by duration, web searches, tier, region, speed) is in metadata["billing"]."""
    if "uncached_input_tokens" not in r or "output_tokens" not in r:
        raise ValueError(f"a usage result without `uncached_input_tokens`/`output_tokens`: {str(r)[:200]}")
    uncached = _int(r.get("uncached_input_tokens"))
    cache_read = _int(r.get("cache_read_input_tokens"))
    creation = r.get("cache_creation") if isinstance(r.get("cache_creation"), dict) else {}
    write_5m = _int(creation.get("ephemeral_5m_input_tokens", r.get("cache_creation_5m_input_tokens")))
    write_1h = _int(creation.get("ephemeral_1h_input_tokens", r.get("cache_creation_1h_input_tokens")))
    output = _int(r.get("output_tokens"))
    tools = r.get("server_tool_use") if isinstance(r.get("server_tool_use"), dict) else {}
    searches = _int(tools.get("web_search_requests"))
    input_tokens = uncached + cache_read + write_5m + write_1h
    if not (input_tokens or output or searches):
        return None
    key_id, workspace_id, window = r.get("api_key_id"), r.get("workspace_id"), r.get("context_window")
    model = r.get("model") or "unknown"
    dims = {k: r.get(k) for k in STANDARD}
    billing: dict[str, Any] = {"text_input": uncached, "cache_read": cache_read, "cache_write_5m": write_5m,
                               "cache_write_1h": write_1h, "output": output, "web_searches": searches,
                               # the price tier: requests of more than 200k input tokens are priced higher
                               "long_context": window == "200k-1M"}
    if dims["service_tier"] == "batch":
        billing["batch"] = True
    for k, v in dims.items():
        if v not in STANDARD[k]:
            billing[k] = v
    metadata: dict[str, Any] = {"source": SOURCE, "bucket_end": bucket_end, "billing": billing}
    for k, v in (("api_key_id", key_id), ("workspace_id", workspace_id), ("context_window", window), *dims.items()):
        if v is not None:
            metadata[k] = v
    # Every group-by dimension is in the id, so re-reading never double counts; a standard group keeps the id it
    # had before service_tier, inference_geo and speed were grouped by.
    event_id = f"anthropic:{bucket_start}:{key_id or '-'}:{workspace_id or '-'}:{model}:{window or '-'}"
    if any(v not in STANDARD[k] for k, v in dims.items()):
        event_id += ":" + ":".join(str(v or "-") for v in dims.values())
    event = {
        "id": event_id,
        "timestamp": bucket_start,
        "user": key_id or workspace_id or "anthropic:console",
        "model": model,
        "provider": "anthropic",
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cached_input_tokens": cache_read,
        "metadata": metadata,
    }
    # The documented result has no request count: 0 (unknown) rather than one "request" per bucket and group.
    event["requests"] = _int(r.get("requests"))
    return event


def anthropic_params(start: int, end: int, page: str | None) -> list[tuple[str, str]]:
    params = [("starting_at", iso(start)), ("ending_at", iso(end)), ("bucket_width", "1h"),
              ("limit", str(BUCKETS_PER_PAGE))] + [("group_by[]", g) for g in GROUP_BY]
    return params + ([("page", page)] if page else [])


def anthropic_span(bucket: dict[str, Any]) -> tuple[int, int]:
    return _ts(bucket["starting_at"]), _ts(bucket["ending_at"])


async def poll_anthropic_usage(deps: Deps, *, settle_s: int = SETTLE_S, since: int | None = None,
                               max_pages: int = 1000, sleep: Sleep = asyncio.sleep,
                               progress: Progress | None = None) -> PollReport:
    s = deps.settings
    if s.anthropic_admin_key is None or not s.anthropic_api_url:
        return PollReport(source="anthropic", error="not configured: set TOKENBOT_ANTHROPIC_ADMIN_KEY (an admin key)")
    return await poll_hourly_buckets(
        deps, source=SOURCE, label=f"Anthropic {PATH}", url=s.anthropic_api_url + PATH,
        headers={"x-api-key": s.anthropic_admin_key.get_secret_value(), "anthropic-version": ANTHROPIC_VERSION},
        params=anthropic_params, span=anthropic_span, to_event=anthropic_result_to_event, settle_s=settle_s,
        since=since, max_pages=max_pages, sleep=sleep, progress=progress)


def _ts(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


__all__ = ["poll_anthropic_usage", "anthropic_result_to_event", "anthropic_params", "SOURCE"]
