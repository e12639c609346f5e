"""OpenAI organization usage (`GET /v1/organization/usage/completions`, an admin key) -> hourly events.

Asked for with `bucket_width=1h` and `group_by` user_id, api_key_id, model and project_id; each bucket
(`start_time`/`end_time` epoch seconds) holds one result per group with `input_tokens` (cached included),
`input_cached_tokens`, `output_tokens` and `num_model_requests`. Pages continue with `page=<next_page>` while
`has_more`. The event's `user` is the OpenAI user id, else the API key id: list those ids under a person's
`gateway_ids` in the org file. Costs are priced with genai-prices (provider "openai")."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.features.deps import Deps
from bot.pollers.buckets import poll_hourly_buckets
from bot.pollers.common import PollReport, Sleep

SOURCE = "openai_usage"
PATH = "/v1/organization/usage/completions"
GROUP_BY = ("user_id", "api_key_id", "model", "project_id")
BUCKETS_PER_PAGE = 168  # OpenAI's maximum for 1h buckets
SETTLE_S = 900
FIRST_LOOKBACK_S = 24 * 3600


def openai_result_to_event(bucket_start: int, bucket_end: int, r: dict[str, Any]) -> dict[str, Any] | None:
    """One bucket x group result -> a usage event (pure); None for an empty group."""
    input_tokens = _int(r.get("input_tokens"))
    output_tokens = _int(r.get("output_tokens"))
    requests = _int(r.get("num_model_requests"))
    if not (input_tokens or output_tokens or requests):
        return None
    user_id, key_id, project_id = r.get("user_id"), r.get("api_key_id"), r.get("project_id")
    model = r.get("model") or "unknown"
    metadata = {"source": SOURCE, "requests": requests, "bucket_end": bucket_end,
                # the price tier is chosen by one request's input, not by the bucket's sum
                "typical_request_input_tokens": input_tokens // max(requests, 1)}
    for k, v in (("user_id", user_id), ("api_key_id", key_id), ("project_id", project_id), ("batch", r.get("batch")),
                 ("service_tier", r.get("service_tier"))):
        if v is not None:
            metadata[k] = v
    return {
        "id": f"openai:{bucket_start}:{user_id or '-'}:{key_id or '-'}:{model}:{project_id or '-'}",
        "timestamp": bucket_start,
        "user": user_id or key_id or project_id or "openai:unattributed",
        "model": model,
        "provider": "openai",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": min(_int(r.get("input_cached_tokens")), input_tokens),
        "metadata": metadata,
    }


def openai_params(start: int, end: int, page: str | None) -> list[tuple[str, str]]:
    params = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", "1h"),
              ("limit", str(BUCKETS_PER_PAGE))] + [("group_by", g) for g in GROUP_BY]
    return params + ([("page", page)] if page else [])


async def poll_openai_usage(deps: Deps, *, settle_s: int = SETTLE_S, first_lookback_s: int = FIRST_LOOKBACK_S,
                            max_pages: int = 100, sleep: Sleep = asyncio.sleep) -> PollReport:
    s = deps.settings
    if s.openai_admin_key is None or not s.openai_api_url:
        return PollReport(source="openai", error="not configured: set TOKENBOT_OPENAI_ADMIN_KEY (an admin key)")
    return await poll_hourly_buckets(
        deps, source=SOURCE, label=f"OpenAI {PATH}", url=s.openai_api_url + PATH,
        headers={"Authorization": f"Bearer {s.openai_admin_key.get_secret_value()}"},
        params=openai_params, span=lambda b: (int(b["start_time"]), int(b["end_time"])),
        to_event=openai_result_to_event, settle_s=settle_s, first_lookback_s=first_lookback_s,
        max_pages=max_pages, sleep=sleep)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


__all__ = ["poll_openai_usage", "openai_result_to_event", "openai_params", "SOURCE"]
