"""POST /v1/logs, /v1/metrics, /v1/traces: a real OpenTelemetry SDK with its OTLP/HTTP exporters (protobuf and JSON)
into the running bot, on SQLite and (TOKENBOT_TEST_POSTGRES_URL) PostgreSQL. Record shapes and the documentation
pages they come from: tests/support/otel_client.py."""
from __future__ import annotations

import asyncio
import gzip
import json
from argparse import Namespace
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.domain.org import parse_org
from storage.tables.core import dead_letters, usage_events
from storage.tables.otlp import outcome_events, overlap_events
from tests.conftest import NOW, ORG_YAML, OTLP_TOKEN
from tests.support.otel_client import ApiRequest, ClaudeCode, GenAiApp

T_NS = int((NOW - timedelta(minutes=20)).timestamp()) * 10**9
ENCODINGS = ["protobuf", "json"]


async def rows(bot, stmt) -> list:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return list((await conn.execute(stmt)).mappings())


async def scalar(bot, stmt):  # noqa: ANN001, ANN201
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(stmt)).scalar_one()


async def person_id(bot, ref: str) -> int:  # noqa: ANN001
    return (await bot.deps.org.person_by_ref(ref)).id


async def outcome_counts(bot) -> dict[str, int]:  # noqa: ANN001
    result = await rows(bot, select(outcome_events.c.kind, func.sum(outcome_events.c.count).label("n"))
                        .group_by(outcome_events.c.kind))
    return {r["kind"]: int(r["n"]) for r in result}


class FlakyProxy:
    """Between the exporter and the bot: forwards every request, but answers the first one of each path with a 503
    (as a load balancer whose upstream answered too late would), so the exporter retries a batch the bot already
    stored."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "content-encoding",
                                                                              "authorization")}
        async with aiohttp.ClientSession() as http, http.post(f"{self.target}{request.path}", data=body,
                                                               headers=headers) as resp:
            answer = await resp.read()
            status = resp.status
        self.seen[request.path] = self.seen.get(request.path, 0) + 1
        if self.seen[request.path] == 1:
            return web.Response(status=503, headers={"Retry-After": "0"}, text="upstream timed out")
        return web.Response(status=status, body=answer, content_type=resp.content_type)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/{path:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_claude_code_api_requests_become_usage_events_of_the_person(bot, encoding: str) -> None:
    client = ClaudeCode(bot.url, OTLP_TOKEN, encoding=encoding, gzip=encoding == "json")
    requests = [ApiRequest(T_NS + i * 10**9, sequence=i, cost_usd=0.01 + i / 1000) for i in range(3)]
    await asyncio.to_thread(client.api_requests, requests)
    await asyncio.to_thread(client.shutdown)
    stored = await rows(bot, select(usage_events).order_by(usage_events.c.ts))
    assert len(stored) == 3
    ada = await person_id(bot, "ada")
    assert {r["person_id"] for r in stored} == {ada}
    first = stored[0]
    # Claude Code's cost, its tokens with cache reads inside the input (as tokenbot counts input)
    assert [r["cost_micros"] for r in stored] == [10_000, 11_000, 12_000]
    assert first["cost_source"] == "event"
    assert (first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (6200, 5000, 300)
    assert first["model"] == "claude-sonnet-4-5-20250929" and first["provider"] == "anthropic"
    assert first["metadata"]["session_id"] == "sess-0001" and first["metadata"]["agent"] == "claude_code"
    assert first["ts"] == T_NS // 10**9
    assert first["id"].startswith("otlp:")


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_an_exporter_retry_and_a_resend_after_restart_count_each_request_once(bot, encoding: str) -> None:
    requests = [ApiRequest(T_NS + i * 10**9, sequence=i) for i in range(5)]
    proxy = FlakyProxy(bot.url)
    async with proxy as proxy_url:
        client = ClaudeCode(proxy_url, OTLP_TOKEN, encoding=encoding)
        await asyncio.to_thread(client.api_requests, requests)
        await asyncio.to_thread(client.shutdown)
    assert proxy.seen["/v1/logs"] == 2  # the exporter sent the batch twice
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 5
    # A collector's persistent queue re-sending the same records after its restart (a new exporter, same records)
    again = ClaudeCode(bot.url, OTLP_TOKEN, encoding="json" if encoding == "protobuf" else "protobuf")
    await asyncio.to_thread(again.api_requests, requests)
    await asyncio.to_thread(again.shutdown)
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 5
    assert await scalar(bot, select(func.sum(usage_events.c.cost_micros))) == 5 * 12_300


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
async def test_pull_request_and_commit_counts_across_retries_and_an_exporter_restart(bot, temporality: str) -> None:
    proxy = FlakyProxy(bot.url)
    async with proxy as proxy_url:
        first = ClaudeCode(proxy_url, OTLP_TOKEN, temporality=temporality)
        await asyncio.to_thread(first.outcomes, 2, 3)  # retried by the exporter: answered 503 once
        await asyncio.to_thread(first.outcomes, 1, 0)  # cumulative: PRs 3, commits 3 again (unchanged)
        await asyncio.to_thread(first.shutdown)
    assert proxy.seen["/v1/metrics"] >= 3  # the first export twice (retried), then the second
    assert await outcome_counts(bot) == {"pull_request": 3, "commit": 3}
    restarted = ClaudeCode(bot.url, OTLP_TOKEN, temporality=temporality, encoding="json")  # counters from zero
    await asyncio.to_thread(restarted.outcomes, 1, 1)
    await asyncio.to_thread(restarted.shutdown)
    assert await outcome_counts(bot) == {"pull_request": 4, "commit": 4}
    ada = await person_id(bot, "ada")
    assert {r["person_id"] for r in await rows(bot, select(outcome_events))} == {ada}


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_genai_spans_are_priced_like_any_event_and_other_spans_ignored(bot, encoding: str) -> None:
    app = GenAiApp(bot.url, OTLP_TOKEN, encoding=encoding)
    app.chat(T_NS, model="gpt-4o", provider="openai", input_tokens=1000, output_tokens=200, cache_read=400,
             user="ada")
    app.chat(T_NS + 10**9, model="gpt-4o-mini", provider="openai", provider_attribute="gen_ai.system")  # older name
    app.plain_span(T_NS)
    await asyncio.to_thread(app.flush)
    await asyncio.to_thread(app.shutdown)
    stored = {r["model"]: r for r in await rows(bot, select(usage_events))}
    assert set(stored) == {"gpt-4o", "gpt-4o-mini"}
    ada_event = stored["gpt-4o"]
    assert ada_event["person_id"] == await person_id(bot, "ada")
    assert ada_event["cost_source"] == "price"
    assert ada_event["cost_micros"] == bot.deps.ledger.pricer.cost_micros("gpt-4o", "openai", 1000, 200, 400,
                                                                          ada_event["ts"]) > 0
    assert ada_event["id"].startswith("otlp:span:")
    service_event = stored["gpt-4o-mini"]  # no user attribute: kept under the service, unclaimed
    assert service_event["user_ref"] == "service:support-bot" and service_event["person_id"] is None
    assert service_event["provider"] == "openai"


async def test_user_mapping_is_configurable(bot) -> None:
    bot.deps.settings.otlp_user_attributes = ["app.user"]  # as TOKENBOT_OTLP_USER_ATTRIBUTES=app.user would set
    from handlers.http import otlp as otlp_handler  # the receiver reads the mapping when it is built

    web_app = web.Application()
    otlp_handler.register(web_app, bot.deps)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        app = GenAiApp(url, OTLP_TOKEN, resource_attributes={"app.user": "grace@test.example"})
        app.chat(T_NS, user="ada")  # user.id is not in the mapping: the resource's app.user is the user
        await asyncio.to_thread(app.flush)
        await asyncio.to_thread(app.shutdown)
    finally:
        await runner.cleanup()
    [event] = await rows(bot, select(usage_events))
    assert event["person_id"] == await person_id(bot, "grace@test.example")


async def test_unknown_users_are_kept_and_attributed_once_the_org_file_names_them(bot, capsys) -> None:  # noqa: ANN001
    newcomer = ClaudeCode(bot.url, OTLP_TOKEN, user={"user.email": "lin@test.example", "user.account_uuid": "acc-lin"})
    await asyncio.to_thread(newcomer.api_requests, [ApiRequest(T_NS)])
    await asyncio.to_thread(newcomer.outcomes, 1, 2)
    await asyncio.to_thread(newcomer.shutdown)
    # Someone whose telemetry email the org file does not list, but whose account id it does
    by_account = ClaudeCode(bot.url, OTLP_TOKEN, user={"user.email": "alan.personal@example.com",
                                                       "user.account_uuid": "acc-alan"}, session_id="sess-2")
    org = ORG_YAML.replace("gateway_ids: [alan]}", "gateway_ids: [alan], account_ids: [acc-alan]}")
    await bot.deps.org.sync(parse_org(org), int(NOW.timestamp()))
    await asyncio.to_thread(by_account.api_requests, [ApiRequest(T_NS + 10**9, sequence=1)])
    await asyncio.to_thread(by_account.shutdown)
    stored = {r["user_ref"]: r for r in await rows(bot, select(usage_events))}
    assert stored["lin@test.example"]["person_id"] is None
    assert stored["acc-alan"]["person_id"] == await person_id(bot, "alan")

    org += "  - {email: lin@test.example, name: Lin, team: research}\n"
    await bot.deps.org.sync(parse_org(org), int(NOW.timestamp()))
    directory = await bot.deps.ingestion.directory()
    assert await bot.deps.ledger.reattribute(directory) == 1
    assert await bot.deps.outcomes.reattribute(directory) == 2
    lin = await person_id(bot, "lin@test.example")
    assert {r["person_id"] for r in await rows(bot, select(usage_events).where(
        usage_events.c.user_ref == "lin@test.example"))} == {lin}
    assert {r["person_id"] for r in await rows(bot, select(outcome_events))} == {lin}
    from bot.cli.main import cmd_usage_outcomes

    assert await cmd_usage_outcomes(bot.deps.settings, Namespace(month="2026-11")) == 0
    assert capsys.readouterr().out == ("outcomes 2026-11 (UTC): pull requests, commits\n"
                                       "lin@test.example: 1 pull requests, 2 commits\n")


async def test_org_prices_replace_claude_codes_own_cost(bot) -> None:
    org = ORG_YAML + "prices:\n  - {model: claude-sonnet-4-5-20250929, input_per_mtok: 1.0, output_per_mtok: 5.0}\n"
    await bot.deps.org.sync(parse_org(org), int(NOW.timestamp()))
    client = ClaudeCode(bot.url, OTLP_TOKEN)
    await asyncio.to_thread(client.api_requests, [ApiRequest(T_NS, cost_usd=0.0999)])
    await asyncio.to_thread(client.shutdown)
    [event] = await rows(bot, select(usage_events))
    # 6,200 input tokens (cache reads priced as input: the override gives no cache price) at $1/M + 300 at $5/M
    assert event["cost_source"] == "price" and event["cost_micros"] == 6200 + 1500
    assert event["metadata"]["reported_cost_usd"] == 0.0999


async def test_a_source_authoritative_for_a_provider_counts_it_and_otlp_shows_the_overlap(bot, capsys) -> None:  # noqa: ANN001
    org = ORG_YAML + ("sources:\n  - {authoritative: litellm, providers: [anthropic]}\n"
                      "  - {authoritative: litellm, people: [alan@test.example]}\n")
    await bot.deps.org.sync(parse_org(org), int(NOW.timestamp()))
    client = ClaudeCode(bot.url, OTLP_TOKEN)
    await asyncio.to_thread(client.api_requests, [ApiRequest(T_NS + i * 10**9, sequence=i) for i in range(2)])
    await asyncio.to_thread(client.shutdown)
    app = GenAiApp(bot.url, OTLP_TOKEN)
    app.chat(T_NS, user="ada")  # openai, Ada: no rule covers it, OTLP counts it
    app.chat(T_NS + 10**9, user="alan")  # Alan's requests are LiteLLM's to count
    await asyncio.to_thread(app.flush)
    await asyncio.to_thread(app.shutdown)
    assert [(r["model"], r["user_ref"]) for r in await rows(bot, select(usage_events))] == [("gpt-4o", "ada")]
    overlap = await rows(bot, select(overlap_events))
    assert len(overlap) == 3 and {r["counted_by"] for r in overlap} == {"litellm"}
    alan_cost = bot.deps.ledger.pricer.cost_micros("gpt-4o", "openai", 1000, 200, 0, T_NS // 10**9)
    [total] = await bot.deps.outcomes.overlap(0, int(NOW.timestamp()) + 86400)
    assert (total.source, total.counted_by, total.requests, total.cost_micros) == ("otlp", "litellm", 3,
                                                                                    24_600 + alan_cost)
    # `tokenbot reconcile` shows it
    from bot.cli.main import cmd_reconcile

    assert await cmd_reconcile(bot.deps.settings, Namespace(month="2026-11", provider=None, all_days=False, breakdown=False)) == 0
    assert (f"overlap 2026-11: 3 requests (${(24_600 + alan_cost) / 1e6:.2f}) reported by otlp and counted from "
            "litellm (org file `sources:`), not counted twice") in capsys.readouterr().out


async def post(bot, path: str, body: bytes, content_type: str = "application/x-protobuf",  # noqa: ANN001
               token: str | None = OTLP_TOKEN, **headers: str) -> tuple[int, bytes, str]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with bot.http.post(f"{bot.url}{path}", data=body, headers={"Content-Type": content_type, **headers}) as resp:
        return resp.status, await resp.read(), resp.content_type


def json_logs(*records: dict) -> bytes:
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "claude-code"}}]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": list(records)}]}]}).encode()


def api_request_record(**attrs: object) -> dict:
    values = {"event.name": "api_request", "user.email": "ada@test.example", "session.id": "s1",
              "model": "claude-sonnet-4-5-20250929", "input_tokens": "100", "output_tokens": "20",
              "cost_usd": "0.002"} | attrs
    return {"timeUnixNano": str(T_NS), "body": {"stringValue": "claude_code.api_request"},
            "attributes": [{"key": k, "value": {"stringValue": str(v)}} for k, v in values.items() if v is not None]}


async def test_rejected_records_are_counted_in_partial_success_and_the_rest_stored(bot) -> None:
    body = json_logs(api_request_record(), api_request_record(model=None), api_request_record(input_tokens="many"),
                     {"timeUnixNano": str(T_NS), "body": {"stringValue": "claude_code.user_prompt"}})
    status, answer, ctype = await post(bot, "/v1/logs", body, "application/json")
    assert status == 200 and ctype == "application/json"
    partial = json.loads(answer)["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 2
    assert "attribute `model` is missing" in partial["errorMessage"]
    assert "`input_tokens` must be a whole number" in partial["errorMessage"]
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 1  # the valid one (numeric strings)
    assert await scalar(bot, select(func.count()).select_from(dead_letters)) == 2

    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
    status, answer, ctype = await post(bot, "/v1/logs", gzip.compress(b""), "application/x-protobuf",
                                       **{"Content-Encoding": "gzip"})
    assert status == 200 and ctype == "application/x-protobuf"  # an empty request is a valid, empty export
    assert not ExportLogsServiceResponse.FromString(answer).HasField("partial_success")


async def test_malformed_otlp_gets_a_clear_4xx(bot) -> None:
    status, answer, _ = await post(bot, "/v1/logs", b"\xff\xfe not protobuf at all")
    assert status == 400 and b"not an OTLP/protobuf logs export request" in answer
    status, answer, _ = await post(bot, "/v1/metrics", b'{"resourceMetrics": 5}', "application/json")
    assert status == 400 and json.loads(answer)["message"].startswith("body is not an OTLP/JSON metrics export request")
    status, answer, _ = await post(bot, "/v1/traces", b'{"resourceSpans": [{"scopeSpans": [{"spans": '
                                   b'[{"traceId": "zz", "spanId": "01"}]}]}]}', "application/json")
    assert status == 400 and "is not a hex id" in json.loads(answer)["message"]
    status, answer, _ = await post(bot, "/v1/logs", b"plain", "application/json", **{"Content-Encoding": "gzip"})
    assert status == 400 and "body is not valid gzip" in json.loads(answer)["message"]
    status, answer, _ = await post(bot, "/v1/logs", b"{}", "text/plain")
    assert status == 415
    status, answer, _ = await post(bot, "/v1/logs", json_logs(api_request_record()), "application/json", token="nope")
    assert status == 401 and "bearer token" in json.loads(answer)["message"]
    status, _, _ = await post(bot, "/v1/logs", json_logs(api_request_record()), "application/json",
                              token=bot.deps.settings.ingest_tokens[0].get_secret_value())
    assert status == 401  # the usage-posting token is not an OTLP token
    assert await scalar(bot, select(func.count()).select_from(usage_events)) == 0
