"""OTLP (OpenTelemetry's protocol) -> tokenbot usage events and outcome counts: pure decoding and mapping, no I/O.

What becomes what (shapes from Claude Code's monitoring page, code.claude.com/docs/en/monitoring-usage, and the
OpenTelemetry GenAI semantic conventions, opentelemetry.io/docs/specs/semconv/gen-ai/):

- logs: a Claude Code `claude_code.api_request` event (the record's body or event name, or `event.name:
  api_request`) is one request: `model`, `cost_usd` (Claude Code's own figure), `input_tokens`, `output_tokens`,
  `cache_read_tokens`, `cache_creation_tokens`, the user (`user.email`, `user.account_uuid`, `user.id`) and
  `session.id`. Other log records (prompts, tool results, an app's own logs) are accepted and not usage.
- traces: a span with `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens` is one request: the model
  (`gen_ai.request.model`, else `gen_ai.response.model`), the provider (`gen_ai.provider.name`, else the older
  `gen_ai.system`), cache reads (`gen_ai.usage.cache_read.input_tokens`, part of the input), and the user from the
  span's attributes, else the resource's, by a configurable list of attribute names; else the service
  (`service:<service.name>`, kept unclaimed until an org file names it). Spans without GenAI usage are ignored.
- metrics: Claude Code's `claude_code.pull_request.count` and `claude_code.commit.count` are outcome counts. Cost and
  token metrics (`claude_code.cost.usage`, `gen_ai.client.token.usage`) are NOT spend: the same requests arrive as
  the per-request events and spans above, which carry ids; adding the metrics too would count them twice.

Ids are derived from the record, so an exporter's retry of a batch (the same records again) stores nothing twice:
a span's is its trace and span id; a log record's is a hash of what the record says (its time, body, attributes
and the service), never of when it was received.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from bot.domain.otlp_decode import (
    JSON,
    PROTOBUF,
    SIGNALS,
    Decoded,
    LogRec,
    MetricRec,
    OtlpBodyError,
    SpanRec,
    decode_request,
    media_type,
)
from bot.domain.usage_events import Rejection

# Who made a request, in order of preference, from the span's (or log record's) attributes, then the resource's.
# Claude Code's `user.id` is an anonymous install id: the account comes before it.
DEFAULT_USER_ATTRIBUTES = ("user.email", "enduser.id", "user.account_uuid", "user.account_id", "user.id")
CLAUDE_CODE_REQUEST = "claude_code.api_request"
# Claude Code's outcome counters -> outcome kinds (the impact work reads them beside spend).
OUTCOME_METRICS = {"claude_code.pull_request.count": "pull_request", "claude_code.commit.count": "commit"}
ID_PREFIX = "otlp:"


@dataclass
class OtlpMapping:
    """What one export request held: usage events (dicts for `parse_events`, or Rejections), outcome counter points,
    and how many records were neither (other telemetry, accepted and not kept)."""

    events: list[Any] = field(default_factory=list)
    points: list[CounterPoint] = field(default_factory=list)
    records: int = 0  # log records, spans or data points in the request
    ignored: int = 0


@dataclass(frozen=True)
class CounterPoint:
    """One data point of an outcome counter. `stream` names the series (metric, resource and point attributes), so
    the last cumulative value can be remembered per series."""

    stream: str
    kind: str
    start_ns: int
    time_ns: int
    value: float
    cumulative: bool
    user: str | None
    team: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class CounterState:
    start_ns: int
    time_ns: int
    value: float


# ---------------------------------------------------------------------------------------------------- mapping


def map_request(signal: str, request: Decoded, known_users: Container[str],
                user_attributes: tuple[str, ...] = DEFAULT_USER_ATTRIBUTES) -> OtlpMapping:
    """Every record of a decoded export request (`decode_request`) as a usage event, an outcome point, a Rejection,
    or ignored.

    `known_users`: the org's aliases (lower-case); among a record's user attributes the first one the org file
    knows is used, else the first present, so an email nobody lists still finds the person by account id."""
    out = OtlpMapping()
    for resource, records in request:
        for record in records:
            if signal == "metrics":
                _map_metric(record, resource, known_users, user_attributes, out)
                continue
            out.records += 1
            if signal == "logs":
                if not _is_claude_code_request(record):
                    out.ignored += 1
                    continue
                mapped = claude_code_request(record, resource, known_users, user_attributes)
            else:
                if "gen_ai.usage.input_tokens" not in record.attrs and "gen_ai.usage.output_tokens" not in record.attrs:
                    out.ignored += 1
                    continue
                mapped = genai_span(record, resource, known_users, user_attributes)
            out.events.append(Rejection(0, mapped, _summary(record.attrs, resource)) if isinstance(mapped, str)
                              else mapped)
    return out


def _is_claude_code_request(record: LogRec) -> bool:
    names = (record.event_name, record.body if isinstance(record.body, str) else "",
             str(record.attrs.get("event.name", "")))
    return CLAUDE_CODE_REQUEST in names or "api_request" in names


def claude_code_request(record: LogRec, resource: dict[str, Any], known: Container[str],
                        user_attributes: tuple[str, ...]) -> dict[str, Any] | str:
    """A `claude_code.api_request` log record -> a usage event dict, or why it cannot be one."""
    attrs = record.attrs
    model = _text(attrs.get("model"))
    if model is None:
        return "claude_code.api_request: attribute `model` is missing"
    counts = {}
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"):
        value = _number(attrs.get(name))
        if value is None and attrs.get(name) is not None:
            return f"claude_code.api_request: `{name}` must be a whole number >= 0, got {attrs.get(name)!r:.40}"
        counts[name] = int(value or 0)
    if attrs.get("input_tokens") is None and attrs.get("output_tokens") is None:
        return "claude_code.api_request: attributes `input_tokens` / `output_tokens` are missing"
    user = pick_user(attrs, resource, known, user_attributes)
    if user is None:
        return "claude_code.api_request: no user (none of " + ", ".join(user_attributes) + ")"
    ts = _record_time(record)
    if ts is None:
        return "claude_code.api_request: no timestamp (time_unix_nano, observed_time_unix_nano or event.timestamp)"
    meta: dict[str, Any] = {"source": "otlp", "agent": "claude_code"}
    for key, name in (("session_id", "session.id"), ("prompt_id", "prompt.id"), ("organization_id", "organization.id"),
                      ("app_version", "app.version"), ("terminal", "terminal.type"), ("request_id", "request_id")):
        value = _text(attrs.get(name)) or _text(resource.get(name))
        if value is not None:
            meta[key] = value[:200]
    if counts["cache_creation_tokens"]:
        meta["cache_creation_tokens"] = counts["cache_creation_tokens"]
    duration = _number(attrs.get("duration_ms"), whole=False)
    if duration is not None:
        meta["duration_ms"] = duration
    # tokenbot's input_tokens include cache reads and writes (Claude Code reports them apart).
    event: dict[str, Any] = {
        "id": ID_PREFIX + _record_hash(resource, record),
        "timestamp": ts, "user": user, "model": model, "provider": _provider(attrs, resource, model),
        "input_tokens": counts["input_tokens"] + counts["cache_read_tokens"] + counts["cache_creation_tokens"],
        "output_tokens": counts["output_tokens"], "cached_input_tokens": counts["cache_read_tokens"],
        "metadata": meta,
    }
    cost = _number(attrs.get("cost_usd"), whole=False)
    if cost is not None:
        event["cost_usd"] = cost
        meta["reported_cost_usd"] = cost
    team = _text(attrs.get("team")) or _text(resource.get("team"))
    if team is not None:
        event["team"] = team.lower()[:64]
    return event


def genai_span(span: SpanRec, resource: dict[str, Any], known: Container[str],
               user_attributes: tuple[str, ...]) -> dict[str, Any] | str:
    """A span with GenAI usage attributes -> a usage event dict, or why it cannot be one."""
    attrs = span.attrs
    if len(span.trace_id) != 32 or len(span.span_id) != 16:
        return "span: trace_id (16 bytes) and span_id (8 bytes) are required"
    model = _text(attrs.get("gen_ai.request.model")) or _text(attrs.get("gen_ai.response.model"))
    if model is None:
        return "span: gen_ai.request.model (or gen_ai.response.model) is missing"
    counts = {}
    for name in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens"):
        value = _number(attrs.get(name))
        if value is None and attrs.get(name) is not None:
            return f"span: {name} must be a whole number >= 0, got {attrs.get(name)!r:.40}"
        counts[name] = int(value or 0)
    ns = span.end_ns or span.start_ns
    if not ns:
        return "span: end_time_unix_nano is missing"
    user = pick_user(attrs, resource, known, user_attributes)
    if user is None:
        service = _text(resource.get("service.name"))
        if service is None or service.startswith("unknown_service"):
            return "span: no user (none of " + ", ".join(user_attributes) + ") and no service.name"
        user = f"service:{service.lower()}"  # kept unclaimed; an org file's gateway_ids can name it
    meta: dict[str, Any] = {"source": "otlp", "span": span.name[:200], "trace_id": span.trace_id}
    for key, name in (("operation", "gen_ai.operation.name"), ("response_id", "gen_ai.response.id"),
                      ("session_id", "session.id"), ("service", "service.name")):
        value = _text(attrs.get(name)) or _text(resource.get(name))
        if value is not None:
            meta[key] = value[:200]
    return {
        "id": f"{ID_PREFIX}span:{span.trace_id}:{span.span_id}", "timestamp": ns / 1e9, "user": user,
        "model": model, "provider": _provider(attrs, resource, model),
        "input_tokens": counts["gen_ai.usage.input_tokens"], "output_tokens": counts["gen_ai.usage.output_tokens"],
        "cached_input_tokens": min(counts["gen_ai.usage.cache_read.input_tokens"], counts["gen_ai.usage.input_tokens"]),
        "metadata": meta,
    }


def _map_metric(metric: MetricRec, resource: dict[str, Any], known: Container[str], user_attributes: tuple[str, ...],
                out: OtlpMapping) -> None:
    out.records += len(metric.points)
    kind = OUTCOME_METRICS.get(metric.name)
    if kind is None or metric.kind != "sum":
        out.ignored += len(metric.points)
        return
    for point in metric.points:
        attrs = point.attrs
        if not (0 <= point.start_ns < 2**63 and 0 < point.time_ns < 2**63):
            out.events.append(Rejection(0, f"{metric.name}: time_unix_nano is missing or out of range",
                                        _summary(attrs, resource)))
            continue
        if not math.isfinite(point.value) or point.value < 0 or point.value > 1e15:
            out.events.append(Rejection(0, f"{metric.name}: value {point.value!r} is not a count >= 0",
                                        _summary(attrs, resource)))
            continue
        meta = {k: str(v)[:200] for k, v in attrs.items() if k in ("session.id", "organization.id", "app.version")}
        out.points.append(CounterPoint(
            stream=_stream_key(metric.name, resource, attrs), kind=kind, start_ns=point.start_ns,
            time_ns=point.time_ns, value=point.value, cumulative=metric.cumulative,
            user=pick_user(attrs, resource, known, user_attributes),
            team=(_text(attrs.get("team")) or _text(resource.get("team")) or "").lower() or None,
            metadata={"metric": metric.name} | meta))


def counter_delta(point: CounterPoint, state: CounterState | None) -> tuple[float, CounterState | None]:
    """How much a counter point adds, and the state to remember for its series.

    Delta points are their own increment. A cumulative point adds what it grew since the last value seen in the same
    series run (same start time); a new start time or a smaller value means the exporter restarted and counts from
    zero again, so the whole value is new. A point of the same run no newer than the last one (a retry, a late
    batch) adds nothing."""
    if not point.cumulative:
        return point.value, state
    if state is not None and point.start_ns == state.start_ns and point.time_ns <= state.time_ns:
        return 0.0, state  # a retry, or an older point of this run arriving late: already counted
    if state is None or point.start_ns != state.start_ns or point.value < state.value:
        return point.value, CounterState(point.start_ns, point.time_ns, point.value)
    return point.value - state.value, CounterState(point.start_ns, point.time_ns, point.value)


def outcome_id(point: CounterPoint) -> str:
    """Deterministic: the same point (an exporter's retry) names the same outcome event."""
    return ID_PREFIX + hashlib.sha256(f"{point.stream}|{point.start_ns}|{point.time_ns}".encode()).hexdigest()[:40]


# ---------------------------------------------------------------------------------------------------- helpers


def pick_user(attrs: dict[str, Any], resource: dict[str, Any], known: Container[str],
              user_attributes: tuple[str, ...]) -> str | None:
    candidates: list[str] = []
    for source in (attrs, resource):
        for name in user_attributes:
            value = _text(source.get(name))
            if value is not None and len(value) <= 320:
                candidates.append(value.lower())
    for candidate in candidates:
        if candidate in known:
            return candidate
    return candidates[0] if candidates else None


def _provider(attrs: dict[str, Any], resource: dict[str, Any], model: str) -> str | None:
    provider = (_text(attrs.get("gen_ai.provider.name")) or _text(attrs.get("gen_ai.system"))
                or _text(resource.get("gen_ai.provider.name")))
    if provider is None and model.lower().startswith("claude"):
        provider = "anthropic"  # Claude Code names no provider; its models are Anthropic's
    return provider.lower()[:64] if provider else None


def _record_time(record: LogRec) -> float | None:
    ns = record.time_ns or record.observed_ns
    if ns:
        return ns / 1e9
    stamp = _text(record.attrs.get("event.timestamp"))
    if stamp is not None:
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return parsed.timestamp()
    return None


def _record_hash(resource: dict[str, Any], record: LogRec) -> str:
    """What a log record says, hashed: its service, time, body and attributes (not resource attributes a collector
    may add on the way, and not the observed time)."""
    doc = [resource.get("service.name"), record.time_ns, record.body, record.attrs]
    return hashlib.sha256(orjson.dumps(doc, default=repr, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


def _stream_key(metric: str, resource: dict[str, Any], attrs: dict[str, Any]) -> str:
    doc = [metric, resource, attrs]
    return hashlib.sha256(orjson.dumps(doc, default=repr, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


def _summary(attrs: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """What a dead letter keeps of a rejected record (it is re-sendable only by the exporter anyway)."""
    return {"attributes": {k: v for k, v in list(attrs.items())[:40]},
            "service": resource.get("service.name")}


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _number(value: Any, whole: bool = True) -> float | int | None:
    """A count or amount, as a number or the numeric string some exporters write attributes as."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    if whole:
        return int(value) if float(value).is_integer() else None
    return float(value)


def rejected_reasons(rejections: list[Rejection], limit: int = 5) -> str:
    """OTLP's partial_success.error_message: how many, and the first few distinct reasons."""
    reasons = list(dict.fromkeys(r.reason for r in rejections))
    more = f" (and {len(reasons) - limit} more reasons)" if len(reasons) > limit else ""
    return f"{len(rejections)} rejected: " + "; ".join(reasons[:limit]) + more


__all__ = ["decode_request", "map_request", "OtlpBodyError", "SIGNALS", "PROTOBUF", "JSON", "media_type", "counter_delta", "outcome_id", "CounterPoint", "CounterState",
           "OtlpMapping", "DEFAULT_USER_ATTRIBUTES", "rejected_reasons", "pick_user", "OUTCOME_METRICS"]
