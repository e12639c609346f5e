"""Parsing and validating usage events: pure functions, no I/O, written for the ingestion hot path.

A hand-written validator rather than a pydantic model: it is ~4x faster per event, and every rejection reason
names the field and what was wrong in words an integrator can act on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

MAX_ID_LEN = 255
MAX_REF_LEN = 320
MAX_MODEL_LEN = 200
MAX_METADATA_BYTES = 8192
# 2000-01-01: anything earlier is a unit mistake (or zero), not usage.
MIN_TS = 946_684_800
FUTURE_SLACK_S = 24 * 3600


@dataclass(slots=True)
class UsageEvent:
    id: str
    ts: int  # epoch seconds, UTC
    user: str  # gateway user id or email, lower-cased
    team: str | None
    model: str
    provider: str | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_usd: float | None
    metadata: dict[str, Any] | None
    requests: int = 1  # model requests this record sums (a provider's usage bucket: its own count)


@dataclass(slots=True)
class Rejection:
    index: int
    reason: str
    raw: Any


class BodyError(ValueError):
    """The body as a whole cannot be read (empty, not JSON, wrong top-level shape)."""


def split_body(body: bytes) -> list[Any | Rejection]:
    """A JSON array, a single JSON object, or NDJSON (one object per line) -> items.

    An NDJSON line that is not JSON becomes a Rejection, so one bad line loses nothing else."""
    stripped = body.strip()
    if not stripped:
        raise BodyError("body is empty: send a JSON array, a JSON object or NDJSON")
    if stripped[:1] in (b"[", b"{"):
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            doc = _NOT_JSON
        if doc is not _NOT_JSON:
            if isinstance(doc, list):
                return doc
            if isinstance(doc, dict):
                return [doc]
    lines = [line for line in stripped.split(b"\n") if line.strip()]
    if len(lines) == 1:
        raise BodyError("body is not valid JSON: send a JSON array, a JSON object or NDJSON")
    items: list[Any | Rejection] = []
    for i, line in enumerate(lines):
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(Rejection(i, f"line {i + 1} is not valid JSON ({exc.args[0] if exc.args else 'syntax'})",
                                   line.decode("utf-8", "replace")[:2000]))
    return items


_NOT_JSON = object()


def parse_events(items: list[Any], now_ts: int) -> tuple[list[UsageEvent], list[Rejection]]:
    events: list[UsageEvent] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, Rejection):
            item.index = index
            rejections.append(item)
            continue
        result = parse_event(item, now_ts)
        if isinstance(result, str):
            rejections.append(Rejection(index, result, item))
        elif result.id in seen:
            continue  # the same id twice in one batch is a replay, like one across batches
        else:
            seen.add(result.id)
            events.append(result)
    return events, rejections


def parse_event(item: Any, now_ts: int) -> UsageEvent | str:
    """One event, or the reason it is rejected."""
    if not isinstance(item, dict):
        return f"each event must be a JSON object, got {_type_name(item)}"
    event_id = item.get("id")
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str) or not event_id.strip():
        return "id: required, a non-empty string (the gateway's request id)"
    if len(event_id) > MAX_ID_LEN:
        return f"id: longer than {MAX_ID_LEN} characters"

    ts = parse_timestamp(item.get("timestamp"), now_ts)
    if isinstance(ts, str):
        return ts

    user = item.get("user")
    if not isinstance(user, str) or not user.strip():
        return "user: required, the gateway user id or email"
    if len(user) > MAX_REF_LEN:
        return f"user: longer than {MAX_REF_LEN} characters"
    team = item.get("team")
    if team is not None and (not isinstance(team, str) or len(team) > 64):
        return "team: must be a team slug (string of at most 64 characters)"
    model = item.get("model")
    if not isinstance(model, str) or not model.strip():
        return "model: required, a non-empty string"
    if len(model) > MAX_MODEL_LEN:
        return f"model: longer than {MAX_MODEL_LEN} characters"
    provider = item.get("provider")
    if provider is not None and (not isinstance(provider, str) or len(provider) > 64):
        return "provider: must be a string of at most 64 characters"

    input_tokens = _token_count(item, "input_tokens", required=True)
    if isinstance(input_tokens, str):
        return input_tokens
    output_tokens = _token_count(item, "output_tokens", required=True)
    if isinstance(output_tokens, str):
        return output_tokens
    cached = _token_count(item, "cached_input_tokens", required=False)
    if isinstance(cached, str):
        return cached
    if cached > input_tokens:
        return "cached_input_tokens: cannot exceed input_tokens (cached tokens are part of the input)"

    requests = _token_count(item, "requests", required=False) if item.get("requests") is not None else 1
    if isinstance(requests, str):
        return requests

    cost = item.get("cost_usd")
    if cost is not None:
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost):
            return "cost_usd: must be a number of US dollars"
        if cost < 0:
            return "cost_usd: cannot be negative"
        cost = float(cost)

    metadata = item.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return "metadata: must be a JSON object"
        if len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
            return f"metadata: larger than {MAX_METADATA_BYTES} bytes"

    return UsageEvent(
        id=event_id, ts=ts, user=user.strip().lower(), team=team.strip().lower() if team else None,
        model=model.strip(), provider=provider.strip().lower() if provider else None,
        input_tokens=input_tokens, output_tokens=output_tokens, cached_input_tokens=cached,
        cost_usd=cost, metadata=metadata, requests=requests,
    )


def parse_timestamp(value: Any, now_ts: int) -> int | str:
    """RFC 3339 string or epoch seconds -> epoch seconds, or the reason it is wrong."""
    if isinstance(value, bool) or value is None:
        return "timestamp: required, RFC 3339 (2026-11-22T09:30:00Z) or epoch seconds"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return "timestamp: not a finite number"
        ts = int(value)
        if ts > 100 * (now_ts + FUTURE_SLACK_S):
            return "timestamp: looks like milliseconds; send epoch seconds"
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return f"timestamp: {value[:40]!r} is not RFC 3339 (2026-11-22T09:30:00Z) or epoch seconds"
        if parsed.tzinfo is None:
            return "timestamp: needs a UTC offset (Z or +01:00), as RFC 3339 requires"
        ts = int(parsed.timestamp())
    else:
        return f"timestamp: must be a string or a number, got {_type_name(value)}"
    if ts < MIN_TS:
        return "timestamp: before 2000-01-01; is it in the right unit?"
    if ts > now_ts + FUTURE_SLACK_S:
        return "timestamp: more than a day in the future"
    return ts


def _token_count(item: dict[str, Any], field: str, required: bool) -> int | str:
    value = item.get(field)
    if value is None:
        return f"{field}: required, a whole number >= 0" if required else 0
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            return f"{field}: must be a whole number >= 0, got {_type_name(value)}"
    if value < 0:
        return f"{field}: cannot be negative"
    if value > 10**12:
        return f"{field}: implausibly large ({value})"
    return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
