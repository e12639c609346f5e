"""OpenAI organization usage (`GET /v1/organization/usage/completions`, an admin key) -> hourly events.

Asked for with `bucket_width=1h` and `group_by` user_id, api_key_id, model, project_id, batch and service_tier (batch
jobs are billed at half price, flex at batch rates, priority above standard: a group must not mix them); each bucket
(`start_time`/`end_time` epoch seconds) holds one result per group with `input_tokens` (text, cached included),
`input_cached_tokens`, `output_tokens` (text), `input_audio_tokens`/`output_audio_tokens` (audio, counted apart from
the text tokens and priced at audio rates) and `num_model_requests`. Pages continue with `page=<next_page>` while
`has_more`. The event's `user` is the OpenAI user id, else the API key id: list those ids under a person's
`gateway_ids` in the org file. Costs: bot/domain/price_rules.py (genai-prices, provider "openai", and its table)."""
from __future__ import annotations

import asyncio
from typing import Any

from bot.features.deps import Deps
from bot.pollers.buckets import Progress, poll_hourly_buckets
from bot.pollers.common import PollReport, Sleep

SOURCE = "openai_usage"
PATH = "/v1/organization/usage/completions"
GROUP_BY = ("user_id", "api_key_id", "model", "project_id", "batch", "service_tier")
BUCKETS_PER_PAGE = 168  # OpenAI's maximum for 1h buckets
SETTLE_S = 900
STANDARD_TIERS = (None, "", "default", "auto", "standard")


def openai_result_to_event(bucket_start: int, bucket_end: int, r: dict[str, Any]) -> dict[str, Any] | None:
    """One bucket x group result -> a usage event (pure); None for an empty group. ValueError for a result that is
    not a completions usage result (the read fails loudly and is retried, never stored as $0)."""
    for k in ("input_tokens", "output_tokens"):
        if k not in r:
            raise ValueError(f"a usage result without `{k}`: {str(r)[:200]}")
    text_in = _int(r.get("input_tokens"))
    cached = min(_int(r.get("input_cached_tokens")), text_in)
    text_out = _int(r.get("output_tokens"))
    audio_in, audio_out = _int(r.get("input_audio_tokens")), _int(r.get("output_audio_tokens"))
    requests = _int(r.get("num_model_requests"))
    if not (text_in or text_out or audio_in or audio_out or requests):
        return None
    user_id, key_id, project_id = r.get("user_id"), r.get("api_key_id"), r.get("project_id")
    model = r.get("model") or "unknown"
    batch, tier = r.get("batch") is True, r.get("service_tier")
    billing: dict[str, Any] = {"text_input": text_in - cached, "cache_read": cached, "output": text_out,
                               "audio_input": audio_in, "audio_output": audio_out,
                               # the price tier is chosen by one request's input, not by the bucket's sum
                               "request_input_tokens": (text_in + audio_in) // max(requests, 1)}
    if batch:
        billing["batch"] = True
    if tier not in STANDARD_TIERS:
        billing["service_tier"] = str(tier)
    metadata: dict[str, Any] = {"source": SOURCE, "bucket_end": bucket_end, "billing": billing}
    for k, v in (("user_id", user_id), ("api_key_id", key_id), ("project_id", project_id), ("batch", r.get("batch")),
                 ("service_tier", tier)):
        if v is not None:
            metadata[k] = v
    # Every group-by dimension is in the id, so re-reading never double counts. A standard, non-batch group keeps
    # the id it had before batch and service_tier were grouped by.
    event_id = f"openai:{bucket_start}:{user_id or '-'}:{key_id or '-'}:{model}:{project_id or '-'}"
    if batch or tier not in STANDARD_TIERS:
        event_id += f":{'batch' if batch else '-'}:{tier or '-'}"
    return {
        "id": event_id,
        "timestamp": bucket_start,
        "user": user_id or key_id or project_id or "openai:unattributed",
        "model": model,
        "provider": "openai",
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "cached_input_tokens": cached,
        "requests": requests,
        "metadata": metadata,
    }


def openai_params(start: int, end: int, page: str | None) -> list[tuple[str, str]]:
    params = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", "1h"),
              ("limit", str(BUCKETS_PER_PAGE))] + [("group_by", g) for g in GROUP_BY]
    return params + ([("page", page)] if page else [])


async def poll_openai_usage(deps: Deps, *, settle_s: int = SETTLE_S, since: int | None = None,
                            max_pages: int = 1000, sleep: Sleep = asyncio.sleep,
                            progress: Progress | None = None) -> PollReport:
    s = deps.settings
    if s.openai_admin_key is None or not s.openai_api_url:
        return PollReport(source="openai", error="not configured: set TOKENBOT_OPENAI_ADMIN_KEY (an admin key)")
    return await poll_hourly_buckets(
        deps, source=SOURCE, label=f"OpenAI {PATH}", url=s.openai_api_url + PATH,
        headers={"Authorization": f"Bearer {s.openai_admin_key.get_secret_value()}"},
        params=openai_params, span=lambda b: (int(b["start_time"]), int(b["end_time"])),
        to_event=openai_result_to_event, settle_s=settle_s, since=since, max_pages=max_pages, sleep=sleep,
        progress=progress)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


__all__ = ["poll_openai_usage", "openai_result_to_event", "openai_params", "SOURCE"]
