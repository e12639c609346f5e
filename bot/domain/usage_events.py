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
MAX_METADATA_DEPTH = 16  # objects and arrays inside `metadata`; deeper is a bug or an attack, never usage
# What one request may cost before it is a unit mistake or an attack: configurable (TOKENBOT_MAX_EVENT_COST_USD),
# and never above what a signed 64-bit micro-dollar column holds.
DEFAULT_MAX_EVENT_COST_USD = 10_000.0
INT64_MAX = 2**63 - 1
MAX_TOKENS = 10**12
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
    index: int = -1  # its position in the batch it came in, for a per-item report
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


def parse_events(items: list[Any], now_ts: int, max_cost_usd: float = DEFAULT_MAX_EVENT_COST_USD
                 ) -> tuple[list[UsageEvent], list[Rejection]]:
    events: list[UsageEvent] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, Rejection):
            item.index = index
            rejections.append(item)
            continue
        result = parse_event(item, now_ts, max_cost_usd)
        if isinstance(result, str):
            rejections.append(Rejection(index, result, item))
        elif result.id in seen:
            continue  # the same id twice in one batch is a replay, like one across batches
        else:
            seen.add(result.id)
            result.index = index
            events.append(result)
    return events, rejections


def parse_event(item: Any, now_ts: int, max_cost_usd: float = DEFAULT_MAX_EVENT_COST_USD) -> UsageEvent | str:
    """One event, or the reason it is rejected. Every bound matches what both databases store (text without NUL,
    column lengths, signed 64-bit integers), so an accepted event can always be written."""
    if not isinstance(item, dict):
        return f"each event must be a JSON object, got {_type_name(item)}"
    event_id = item.get("id")
    if isinstance(event_id, int) and not isinstance(event_id, bool):
        event_id = str(event_id)
    if not isinstance(event_id, str) or not event_id.strip():
        return "id: required, a non-empty string (the gateway's request id)"
    if len(event_id) > MAX_ID_LEN:
        return f"id: longer than {MAX_ID_LEN} characters"
    for field in ("id", "user", "team", "model", "provider"):
        problem = text_problem(field, event_id if field == "id" else item.get(field))
        if problem:
            return problem

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
        if cost > max_cost_usd:
            return (f"cost_usd: {cost:.6g} is above the per-event ceiling of ${max_cost_usd:,.2f} "
                    "(TOKENBOT_MAX_EVENT_COST_USD): is it in US dollars?")
        cost = float(cost)

    metadata = item.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            return "metadata: must be a JSON object"
        problem = metadata_problem(metadata)
        if problem:
            return problem

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
        if abs(value) > INT64_MAX:
            return "timestamp: out of range; send epoch seconds"
        ts = int(value)
        if ts > now_ts + FUTURE_SLACK_S and MIN_TS <= ts // 1000 <= now_ts + FUTURE_SLACK_S:
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
    if value > MAX_TOKENS:
        return f"{field}: implausibly large ({value})"
    return value


def text_problem(field: str, value: Any) -> str | None:
    """Why a text field cannot be stored as it is, or None: PostgreSQL text holds no NUL and no lone surrogate."""
    if not isinstance(value, str):
        return None
    if "\x00" in value:
        return f"{field}: contains a NUL character"
    if not _encodable(value):
        return f"{field}: is not valid Unicode (a lone surrogate)"
    return None


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why `metadata` cannot be stored, or None: depth, NUL, integers past 64 bits, non-finite numbers, size.
    Walked with an explicit stack: a hostile depth must not recurse in Python either."""
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_METADATA_DEPTH:
                return f"metadata: nested deeper than {MAX_METADATA_DEPTH} levels"
            for key, inner in value.items():
                if not isinstance(key, str) or "\x00" in key or not _encodable(key):
                    return "metadata: keys must be text without NUL characters"
                stack.append((inner, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_METADATA_DEPTH:
                return f"metadata: nested deeper than {MAX_METADATA_DEPTH} levels"
            stack.extend((inner, depth + 1) for inner in value)
        elif isinstance(value, str):
            if "\x00" in value or not _encodable(value):
                return "metadata: text values must not contain NUL characters or lone surrogates"
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -INT64_MAX - 1 <= value <= INT64_MAX:
                return "metadata: a whole number outside the signed 64-bit range"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "metadata: numbers must be finite"
        else:
            return f"metadata: {type(value).__name__} is not a JSON value"
    if len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
        return f"metadata: larger than {MAX_METADATA_BYTES} bytes"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


MAX_DEAD_LETTER_CHARS = 65536
_SAFE_DEPTH = 20


def dead_letter_text(raw: Any) -> str:
    """What the dead-letter table keeps of a rejected item: JSON when it can be written, else a truncated safe
    rendering (nesting cut at 20 levels, integers past 64 bits as text); never a NUL, never more than 64 KiB.
    A hostile item must never make its own dead-letter write fail."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = orjson.dumps(raw, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = orjson.dumps(_safe_value(raw, 0), default=str).decode()
    text = text.replace("\x00", "\\u0000")
    if not _encodable(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= MAX_DEAD_LETTER_CHARS else text[:MAX_DEAD_LETTER_CHARS - 1] + "…"


def _safe_value(value: Any, depth: int) -> Any:
    if depth >= _SAFE_DEPTH and isinstance(value, (dict, list)):
        return "…(nested deeper)"
    if isinstance(value, dict):
        return {str(k)[:200]: _safe_value(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_safe_value(v, depth + 1) for v in value[:200]]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -INT64_MAX - 1 <= value <= INT64_MAX else str(value)[:40]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value[:MAX_DEAD_LETTER_CHARS]
    return str(value)[:200]
