"""bot.domain.otlp: counter temporality, user choice, OTLP/JSON ids, and the mapping of records, without I/O."""
from __future__ import annotations

import json

import pytest

from bot.domain.otlp import (
    CounterPoint,
    CounterState,
    OtlpBodyError,
    counter_delta,
    decode_request,
    map_request,
    outcome_id,
    pick_user,
)
from bot.domain.usage_events import Rejection


def point(value: float, start: int = 100, time: int = 200, cumulative: bool = True) -> CounterPoint:
    return CounterPoint(stream="s", kind="commit", start_ns=start, time_ns=time, value=value, cumulative=cumulative,
                        user="ada", team=None, metadata={})


def test_cumulative_counter_adds_its_growth_and_a_retry_adds_nothing() -> None:
    delta, state = counter_delta(point(3), None)
    assert delta == 3 and state == CounterState(100, 200, 3)
    delta, state = counter_delta(point(5, time=300), state)
    assert delta == 2 and state == CounterState(100, 300, 5)
    assert counter_delta(point(5, time=300), state) == (0.0, state)  # the same point again
    assert counter_delta(point(4, time=250), state) == (0.0, state)  # an older point arriving late


def test_cumulative_counter_restarted_counts_from_zero() -> None:
    state = CounterState(100, 300, 5)
    assert counter_delta(point(2, start=400, time=500), state) == (2, CounterState(400, 500, 2))  # new start time
    assert counter_delta(point(1, start=100, time=600), state) == (1, CounterState(100, 600, 1))  # value dropped


def test_delta_points_are_their_own_increment_and_ids_are_stable() -> None:
    assert counter_delta(point(4, cumulative=False), None) == (4, None)
    assert outcome_id(point(4)) == outcome_id(point(4)) != outcome_id(point(4, time=201))


def test_the_first_user_attribute_the_org_knows_wins_else_the_first_present() -> None:
    attrs = {"user.email": "Private@Example.com", "user.account_uuid": "acc-1"}
    order = ("user.email", "user.account_uuid")
    assert pick_user(attrs, {}, {"acc-1"}, order) == "acc-1"
    assert pick_user(attrs, {}, set(), order) == "private@example.com"
    assert pick_user({}, {"user.email": "r@x.io"}, set(), order) == "r@x.io"  # from the resource
    assert pick_user({}, {}, set(), order) is None


def log_request(*attribute_sets: dict) -> bytes:
    records = [{"timeUnixNano": "1763479800000000000", "body": {"stringValue": "claude_code.api_request"},
                "attributes": [{"key": k, "value": v} for k, v in attrs.items()]} for attrs in attribute_sets]
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"logRecords": records}]}]}).encode()


def test_claude_code_request_tokens_cost_and_rejections() -> None:
    body = log_request(
        {"user.email": {"stringValue": "ada@x.io"}, "model": {"stringValue": "claude-opus-4-1"},
         "input_tokens": {"intValue": "10"}, "output_tokens": {"stringValue": "20"},
         "cache_read_tokens": {"intValue": 300}, "cache_creation_tokens": {"intValue": 40},
         "cost_usd": {"doubleValue": 0.5}, "session.id": {"stringValue": "s-1"}},
        {"user.email": {"stringValue": "ada@x.io"}, "input_tokens": {"intValue": "1"}})
    mapping = map_request("logs", decode_request("logs", body, "application/json"), set())
    good, bad = mapping.events
    assert (good["input_tokens"], good["cached_input_tokens"], good["output_tokens"]) == (350, 300, 20)
    assert good["cost_usd"] == 0.5 and good["provider"] == "anthropic" and good["user"] == "ada@x.io"
    assert good["metadata"]["cache_creation_tokens"] == 40 and good["metadata"]["session_id"] == "s-1"
    assert isinstance(bad, Rejection) and "model" in bad.reason
    again = map_request("logs", decode_request("logs", body, "application/json"), set())
    assert again.events[0]["id"] == good["id"]  # derived from the record: a retry is the same event


def test_otlp_json_hex_span_ids_and_unreadable_bodies() -> None:
    body = json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "rag-api"}}]}, "scopeSpans": [{"spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4o",
             "startTimeUnixNano": "1763479800000000000", "endTimeUnixNano": "1763479801000000000",
             "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "7"}}]}]}]}]}).encode()
    [event] = map_request("traces", decode_request("traces", body, "application/json"), set()).events
    assert event["id"] == "otlp:span:5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"
    assert event["user"] == "service:rag-api" and event["provider"] == "openai"
    with pytest.raises(OtlpBodyError, match="not an OTLP/protobuf traces"):
        decode_request("traces", b"\x0a\xff\xff", "application/x-protobuf")
    with pytest.raises(OtlpBodyError, match="OTLP/JSON logs"):
        decode_request("logs", b"[1, 2]", "application/json")
