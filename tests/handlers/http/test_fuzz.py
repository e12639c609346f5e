"""Hypothesis throws arbitrary bodies at the ingestion endpoint and arbitrary text at `/tokens`, over real HTTP:
every answer is a clear 2xx/4xx, never a 500, and valid events among the junk are all stored."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import INGEST_TOKEN, NOW, ORG_YAML, SIGNING_SECRET, bot_settings
from tests.support.slack_requests import sign, slash_command_body
from tests.support.threaded_bot import ThreadedBot

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=12)
field_values = st.one_of(json_values, st.integers(min_value=-10, max_value=10**13), st.just(""),
                         st.sampled_from(["2026-11-18T10:00:00Z", "2026-11-18T10:00:00", "yesterday", "gpt-4o", "ada"]))
event_like = st.fixed_dictionaries({}, optional={k: field_values for k in (
    "id", "timestamp", "user", "team", "model", "provider", "input_tokens", "output_tokens", "cached_input_tokens",
    "cost_usd", "metadata")})


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# These exercise the HTTP layer: they run on a SQLite file (migrated by the bot at start) in both suite modes.
def test_ingestion_never_500s_and_keeps_the_valid_events(tmp_path: Path) -> None:
    with ThreadedBot(lambda slack: bot_settings(tmp_path, slack), NOW, ORG_YAML) as bot:
        headers = {"Authorization": f"Bearer {INGEST_TOKEN}"}
        valid = {"timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o", "input_tokens": 1,
                 "output_tokens": 1, "cost_usd": 0.5}
        sent_valid: set[str] = set()

        @FUZZ
        @given(st.lists(event_like, max_size=8), st.binary(max_size=200), st.integers(min_value=0, max_value=3))
        def check(items: list, junk: bytes, n_valid: int) -> None:
            ids = [f"v{len(sent_valid) + i}-{n_valid}-{len(items)}" for i in range(n_valid)]
            body = json.dumps(items + [valid | {"id": i} for i in ids], default=str).encode()
            for data in (body, junk, b"\n".join(json.dumps(x, default=str).encode() for x in items) + b"\n" + junk):
                status, answer = post(f"{bot.url}/v1/usage", data, headers)
                assert status in (200, 400, 413, 422), (status, answer[:300])
                assert json.loads(answer)  # always a JSON answer with counts or an error
                if data is body and status == 200:  # (Python writes NaN, which is not JSON: then the body is a 400)
                    sent_valid.update(ids)

        check()
        status, answer = post(f"{bot.url}/v1/usage", b"[]", headers)
        import asyncio

        from sqlalchemy import select

        from storage.tables.core import usage_events

        async def stored_ids() -> set[str]:
            async with bot.deps.engine.connect() as conn:
                return set((await conn.execute(select(usage_events.c.id))).scalars())

        missing = sent_valid - asyncio.run_coroutine_threadsafe(stored_ids(), bot.loop).result(30)
        assert sent_valid and not missing, f"valid events lost: {sorted(missing)[:10]}"


def test_slash_command_text_never_500s(tmp_path: Path) -> None:
    with ThreadedBot(lambda slack: bot_settings(tmp_path, slack), NOW, ORG_YAML) as bot:
        words = st.sampled_from(["me", "help", "request", "requests", "pending", "team", "top", "models", "impact",
                                 "admin",
                                 "50", "$1,000.50", "-3", "<@U0ADA|ada>", "<!channel>", "<#C1|x>", "platform", "ü"])

        @FUZZ
        @given(st.lists(words | st.text(max_size=12), max_size=6), st.sampled_from(["U0ADA", "U0BOSS", "U0NOBODY"]))
        def check(parts: list[str], user: str) -> None:
            body = slash_command_body(" ".join(parts), user, bot.slack.response_url())
            status, answer = post(f"{bot.url}/slack/events", body.encode(), sign(SIGNING_SECRET, body))
            assert status == 200, (status, answer[:300])
            text = json.loads(answer)["text"]
            assert "<!channel>" not in text and "<!everyone>" not in text

        check()


otlp_any_value = st.fixed_dictionaries({}, optional={
    "stringValue": json_values, "intValue": field_values, "doubleValue": json_values, "boolValue": json_values,
    "arrayValue": st.fixed_dictionaries({}, optional={"values": json_values}), "bytesValue": json_values})
otlp_attributes = st.lists(st.fixed_dictionaries({"key": st.sampled_from(
    ["model", "input_tokens", "output_tokens", "cost_usd", "user.email", "event.name", "gen_ai.usage.input_tokens",
     "gen_ai.request.model", "session.id"]) | json_values, "value": otlp_any_value | json_values}), max_size=6)
otlp_records = st.lists(st.fixed_dictionaries({}, optional={
    "timeUnixNano": field_values, "body": otlp_any_value | json_values, "attributes": otlp_attributes | json_values,
    "traceId": st.sampled_from(["", "5b8efff798038103d269b633813fc60c", "zz"]) | json_values,
    "spanId": st.sampled_from(["eee19b7ec3c1b174", "01"]) | json_values,
    "asInt": field_values, "asDouble": json_values, "aggregationTemporality": field_values}), max_size=4)


def test_otlp_receiver_never_500s(tmp_path: Path) -> None:
    """Arbitrary OTLP-ish JSON and arbitrary bytes as protobuf, at all three signals: a 200 (perhaps with
    partial_success) or a clear 4xx."""
    from tests.conftest import OTLP_TOKEN

    with ThreadedBot(lambda slack: bot_settings(tmp_path, slack), NOW, ORG_YAML) as bot:
        @FUZZ
        @given(st.sampled_from(["logs", "metrics", "traces"]), otlp_records, otlp_attributes, st.binary(max_size=300))
        def check(signal: str, records: list, resource: list, junk: bytes) -> None:
            scope = {"logs": ("resourceLogs", "scopeLogs", "logRecords"),
                     "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
                     "traces": ("resourceSpans", "scopeSpans", "spans")}[signal]
            if signal == "metrics":
                records = [{"name": "claude_code.commit.count", "sum": {"aggregationTemporality": 2,
                                                                        "dataPoints": records}}]
            doc = {scope[0]: [{"resource": {"attributes": resource}, scope[1]: [{scope[2]: records}]}]}
            json_headers = {"Authorization": f"Bearer {OTLP_TOKEN}", "Content-Type": "application/json"}
            proto_headers = json_headers | {"Content-Type": "application/x-protobuf"}
            for data, headers in ((json.dumps(doc, default=str).encode(), json_headers), (junk, proto_headers),
                                  (junk, json_headers), (junk, proto_headers | {"Content-Encoding": "gzip"})):
                status, answer = post(f"{bot.url}/v1/{signal}", data, headers)
                assert status in (200, 400), (status, answer[:300])

        check()
