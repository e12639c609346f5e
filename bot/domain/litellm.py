"""LiteLLM -> tokenbot usage events: pure mapping, no I/O.

One mapper for both shapes LiteLLM produces for a request:
- the StandardLoggingPayload its generic API logger POSTs (`id`, `response_cost`, `startTime` as epoch float seconds,
  `metadata.user_api_key_*`), and
- a LiteLLM_SpendLogs row from `/spend/logs/ui|v2` or a SpendLogs CSV export (`request_id`, `spend`, `startTime` as an
  ISO datetime, `user`, `team_id`, `metadata` as an object or a JSON string).

Both carry LiteLLM's call id (`litellm_call_id`, the `x-litellm-call-id` answer header), so the event id
`litellm:<call id>` is the same whichever way a request arrives, and the ledger stores it once. The provider's
response id (`id`, `request_id`) is only the fallback for older LiteLLM versions that log no call id: providers and
mocks repeat response ids, so keying on them would count many calls once.

Attribution follows how LiteLLM is deployed (one rule, also used by the budget reservation, `identity`):
- the person: the virtual key's user (`user_api_key_user_id`), else its user's email, else the OpenAI `user` field
  the client sent (`end_user`; with a master key that is the only identity), else the key's alias, else `key:<hash>`.
  Placeholders LiteLLM fills in when there is no user (`default_user_id`, the proxy admin name) are no identity.
- the team: the key's team (alias), else `team` in the request's `spend_logs_metadata`, else a `team:<slug>` tag.
  The key's team is authenticated; the other two are the client's word and count only when the key has no team.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

ID_PREFIX = "litellm:"
_TEAM_SLUG_MAX = 64
# What LiteLLM puts where a user id would be when the caller has none (master key, keys without a user).
PLACEHOLDER_IDS = frozenset({"default_user_id", "litellm_proxy_admin_name", "litellm-proxy-admin", "admin",
                             "unknown", "none", "null", "anonymous"})


def identity(item: dict[str, Any], meta: dict[str, Any]) -> tuple[str | None, str | None]:
    """(gateway user id, team slug) of a LiteLLM request: a logging payload, a spend-log row, or the plugin's
    reservation (the same field names). None where the request names nobody."""
    user = _first_id(meta.get("user_api_key_user_id"), item.get("user"), meta.get("user_api_key_user_email"),
                     item.get("end_user"), meta.get("user_api_key_end_user_id"), meta.get("user_api_key_alias"))
    if user is None:
        key_hash = _first_id(meta.get("user_api_key_hash"), meta.get("user_api_key"), item.get("api_key"))
        if key_hash is not None:
            user = f"key:{key_hash}"  # kept (person unknown) rather than lost; an org file can claim it
    team = team_slug(_first_text(meta.get("user_api_key_team_alias"), meta.get("team_alias")))
    if team is None:
        team = team_slug(_client_team(meta, item))
    return user, team


def litellm_to_event(item: Any) -> dict[str, Any] | str:
    """A generic usage event (the dict `bot.domain.usage_events.parse_event` validates), or why the item cannot be one.

    A failed request (`status: "failure"`) becomes an event with cost 0, no tokens and `metadata.status = "failure"`:
    counted as a failed request, never as spend."""
    if not isinstance(item, dict):
        return "each LiteLLM log must be a JSON object"
    meta = _metadata(item.get("metadata"))
    request_id = _first_text(item.get("litellm_call_id"), meta.get("litellm_call_id"))
    if request_id is None:
        request_id = item.get("id") if item.get("id") not in (None, "") else item.get("request_id")
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        request_id = str(request_id)
    if not isinstance(request_id, str) or not request_id.strip():
        return "id: required (LiteLLM's call id `litellm_call_id`, or `id` / `request_id`)"

    ts = _timestamp(item.get("startTime") if item.get("startTime") is not None else item.get("endTime"))
    if ts is None:
        return "startTime: required, epoch seconds or an ISO 8601 datetime"

    user, team = identity(item, meta)
    if user is None:
        return "no user: the log names no user id, email, end user, key alias or key"

    model = _first_text(item.get("model"), item.get("model_group"))
    if model is None:
        return "model: required"
    provider = _first_text(item.get("custom_llm_provider"))
    team_alias = _first_text(meta.get("user_api_key_team_alias"), meta.get("team_alias"))
    team_id = _first_text(meta.get("user_api_key_team_id"), item.get("team_id"), meta.get("team_id"))

    status = _first_text(item.get("status"), meta.get("status")) or "success"
    out_meta: dict[str, Any] = {"source": "litellm", "status": status.lower()}
    for key, value in (("key_alias", meta.get("user_api_key_alias")), ("litellm_team_id", team_id),
                       ("litellm_team_alias", team_alias), ("model_group", item.get("model_group")),
                       ("call_type", item.get("call_type")), ("end_user", item.get("end_user")),
                       ("response_id", _response_id(item, request_id)),
                       ("prompt_fingerprint", _tokenbot_field(item, "prompt_fingerprint"))):
        if isinstance(value, str) and value:
            out_meta[key] = value[:200]

    event: dict[str, Any] = {"id": ID_PREFIX + request_id.strip(), "timestamp": ts, "user": user, "model": model,
                             "metadata": out_meta}
    if provider is not None:
        event["provider"] = provider[:64]
    if team is not None:
        event["team"] = team

    if out_meta["status"] == "failure":
        event |= {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "cost_usd": 0.0}
        error = item.get("error_str") or meta.get("error_information")
        if isinstance(error, dict):
            error = error.get("error_class") or error.get("error_code")
        if isinstance(error, str) and error:
            out_meta["error"] = error[:300]
        return event

    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if _negative(item.get(field)):
            return f"{field}: cannot be negative"
    input_tokens = _count(item.get("prompt_tokens"))
    output_tokens = _count(item.get("completion_tokens"))
    if input_tokens is None and output_tokens is None and _count(item.get("total_tokens")) is None:
        return "prompt_tokens/completion_tokens: required, whole numbers >= 0"
    input_tokens = input_tokens or 0
    output_tokens = output_tokens or 0
    event["input_tokens"] = input_tokens
    event["output_tokens"] = output_tokens
    event["cached_input_tokens"] = min(_cached_tokens(item, meta), input_tokens)

    cost = item.get("response_cost") if "response_cost" in item else item.get("spend")
    if isinstance(cost, str):
        try:
            cost = float(cost)
        except ValueError:
            cost = None
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and (not math.isfinite(cost) or cost < 0):
        # /v1/usage rejects these too: re-pricing them would hide a gateway bug behind a plausible figure.
        return f"{'response_cost' if 'response_cost' in item else 'spend'}: must be a finite number >= 0"
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        # LiteLLM logs 0 when it had no price for the model; then genai-prices prices it (or it is flagged unknown).
        # A cache hit of LiteLLM's own response cache is really free.
        cache_hit = item.get("cache_hit") in (True, "True", "true")
        if cost > 0 or cache_hit or not (input_tokens or output_tokens):
            event["cost_usd"] = float(cost)
    return event


def is_failure(event: dict[str, Any]) -> bool:
    meta = event.get("metadata")
    return isinstance(meta, dict) and meta.get("status") == "failure"


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)) and value:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _timestamp(value: Any) -> float | None:
    """Epoch seconds (LiteLLM's payload) or an ISO datetime (spend logs; naive means UTC, as LiteLLM stores it)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def _first_id(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip() and value.strip().lower() not in PLACEHOLDER_IDS:
            return value.strip()
    return None


def _response_id(item: dict[str, Any], call_id: str) -> str | None:
    response_id = _first_text(item.get("id"), item.get("request_id"))
    return response_id if response_id != call_id else None


def _client_team(meta: dict[str, Any], item: dict[str, Any]) -> str | None:
    """The team a client named for its request: `spend_logs_metadata.team`, or a `team:<slug>` tag."""
    extra = meta.get("spend_logs_metadata")
    if isinstance(extra, dict):
        team = _first_text(extra.get("team"), extra.get("team_slug"))
        if team is not None:
            return team
    tags = item.get("request_tags") or meta.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, str) and tag.lower().startswith(("team:", "team=")):
                return tag[5:]
    return None


def _tokenbot_field(item: dict[str, Any], name: str) -> Any:
    """What the tokenbot LiteLLM plugin adds to a payload (`tokenbot: {...}`)."""
    extra = item.get("tokenbot")
    return extra.get(name) if isinstance(extra, dict) else None


def _first_text(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _negative(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return False
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0


def _cached_tokens(item: dict[str, Any], meta: dict[str, Any]) -> int:
    """Cache reads, wherever this LiteLLM version put them (they are part of prompt_tokens)."""
    for usage in (item, meta.get("usage_object"), meta.get("additional_usage_values"), item.get("usage")):
        if not isinstance(usage, dict):
            continue
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict):
            cached = _count(details.get("cached_tokens"))
            if cached:
                return cached
        cached = _count(usage.get("cache_read_input_tokens"))
        if cached:
            return cached
    return 0


def team_slug(alias: str | None) -> str | None:
    """LiteLLM's team alias as a team slug ("Platform Team" -> "platform-team"); the ledger uses it only when the
    org file has that slug, otherwise the person's own team applies."""
    if alias is None:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", alias.lower()).strip("-")
    return slug[:_TEAM_SLUG_MAX] or None


__all__ = ["litellm_to_event", "identity", "team_slug", "is_failure", "ID_PREFIX", "PLACEHOLDER_IDS"]
