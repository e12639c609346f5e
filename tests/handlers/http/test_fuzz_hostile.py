"""Hostile traffic over real HTTP, on SQLite and on PostgreSQL (the `bot` fixture follows the suite's database): valid
events with one hostile field, deep nesting, LiteLLM logs, forged block_actions and view_submission payloads, bodies
that never get past the signature. Seeded (reproducible) random choices: every answer is a clear 2xx/4xx, never 5xx,
and every valid event sent is stored. Then every Slack call the fake recorded is checked: nothing a user typed
arrives unescaped."""
from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select

from storage.tables.core import usage_events
from tests.conftest import INGEST_TOKEN, NOW
from tests.support.litellm_payloads import standard_payload
from tests.support.slack_requests import block_action_body, sign, slash_command_body, view_submission_body, wait_for

T = int(NOW.timestamp()) - 600
ROUNDS = 60


class Raw(str):
    """JSON text put into a body as it is (nesting deeper than Python's json writes, numbers it cannot write)."""


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def hostile_values(rng: random.Random) -> list[Any]:
    depth = rng.choice([20, 255, 256, 600, 1000])
    return [
        "a\x00b", "\x00", "", " ", "x" * rng.choice([256, 321, 5000, 100_000]), "<!channel>", "‮evil", "😀" * 70,
        -1, -(2**63), 2**63, 2**64 + 1, 10**30, 9.3e12, 5e12, 1e308, Raw("1e400"), Raw("-1e400"), 0.1, True, None,
        [], {}, [1, [2, [3]]], Raw("[" * depth + "]" * depth), Raw('{"a":' * depth + "1" + "}" * depth),
        "2026-11-18T10:00:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", 1e300, 32_503_680_000,
        {"status": "failure"}, {"k": "\x00"}, {"n": Raw("123456789012345678901234567890")},
    ]


def valid_event(i: int) -> dict[str, Any]:
    return {"id": f"fz-{i}", "timestamp": T, "user": "ada", "model": "gpt-4o", "provider": "openai",
            "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.01, "metadata": {"app": "fuzz"}}


async def post_ingest(bot, path: str, body: bytes) -> tuple[int, Any]:  # noqa: ANN001
    async with bot.http.post(f"{bot.url}{path}", data=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def stored_ids(bot) -> set[str]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return set((await conn.execute(select(usage_events.c.id))).scalars())


async def test_valid_events_with_one_hostile_field_never_5xx_and_nothing_valid_lost(bot) -> None:  # noqa: ANN001
    rng = random.Random(16)
    fields = ["id", "timestamp", "user", "team", "model", "provider", "input_tokens", "output_tokens",
              "cached_input_tokens", "cost_usd", "metadata"]
    sent: set[str] = set()
    n = rejected = 0
    for round_no in range(ROUNDS):
        batch, valid_ids = [], []
        for _ in range(rng.randint(1, 6)):
            n += 1
            event = valid_event(n)
            if rng.random() < 0.5:
                event[rng.choice(fields)] = rng.choice(hostile_values(rng))
                if event["id"] == f"fz-{n}":
                    event["id"] = f"hostile-{n}"  # so a hostile event that is accepted is not counted as valid
            else:
                valid_ids.append(event["id"])
            batch.append(event)
        shape = rng.choice(["array", "ndjson", "object"]) if len(batch) == 1 else rng.choice(["array", "ndjson"])
        body = (dumps(batch) if shape == "array" else "\n".join(dumps(e) for e in batch) if shape == "ndjson"
                else dumps(batch[0])).encode()
        status, answer = await post_ingest(bot, "/v1/usage", body)
        assert status in (200, 400, 422), (round_no, status, answer)
        if status == 200:
            sent.update(valid_ids)
            assert answer["accepted"] + answer["duplicates"] + answer["rejected_count"] == len(batch), answer
            rejected += answer["rejected_count"]
        else:
            assert not valid_ids or status == 400, (status, answer)  # 422: none valid; 400: the body unreadable
    assert sent and sent <= await stored_ids(bot)
    assert rejected > ROUNDS // 4, rejected  # the hostile fields were really sent, and really refused


async def test_litellm_logs_with_hostile_fields_never_5xx(bot) -> None:  # noqa: ANN001
    rng = random.Random(1616)
    fields = ["litellm_call_id", "startTime", "model", "response_cost", "prompt_tokens", "completion_tokens",
              "metadata", "status", "custom_llm_provider", "end_user", "total_tokens"]
    sent: set[str] = set()
    rejected = 0
    for round_no in range(ROUNDS):
        good = standard_payload(round_no, T)
        bad = standard_payload(10_000 + round_no, T)
        bad[rng.choice(fields)] = rng.choice(hostile_values(rng))
        body = (dumps([good, bad]) if rng.random() < 0.5 else dumps(good) + "\n" + dumps(bad)).encode()
        status, answer = await post_ingest(bot, "/v1/ingest/litellm", body)
        assert status in (200, 400), (round_no, status, answer)
        if status == 200:
            sent.add(f"litellm:{good['litellm_call_id']}")
            rejected += answer["rejected_count"]
    assert sent and sent <= await stored_ids(bot)
    assert rejected > ROUNDS // 4, rejected


def mutate(rng: random.Random, payload: Any, depth: int = 0) -> Any:
    """A forged copy: a key dropped, a value's type changed, a huge or hostile value, somewhere in the tree."""
    if isinstance(payload, dict) and payload:
        out = dict(payload)
        key = rng.choice(list(out))
        roll = rng.random()
        if roll < 0.25:
            del out[key]
        elif roll < 0.6 and depth < 4:
            out[key] = mutate(rng, out[key], depth + 1)
        else:
            out[key] = rng.choice(["1" * 23, "<!channel>", None, 7, [], {}, "x" * 4000, {"id": "U0ADMIN"}, "\x00"])
        return out
    if isinstance(payload, list) and payload:
        return [mutate(rng, payload[0], depth + 1)] + payload[1:]
    return rng.choice(["1" * 23, None, 12, [], {}, "<@U0BOSS>", "-1"])


async def test_forged_slack_payloads_never_5xx(bot) -> None:  # noqa: ANN001
    rng = random.Random(1601)
    url = bot.slack.response_url("fuzz")
    await bot.sender.command("request 50 fuzzing the forms", "U0ADA", url)  # request #1 exists for the buttons
    originals = [json.loads(dict(parse_qsl(b))["payload"]) for b in (
        block_action_body("budget_request_approve", "1", "U0BOSS", url),
        block_action_body("budget_request_deny", "1", "U0BOSS", url),
        block_action_body("budget_request_cancel", "1", "U0ADA", url),
        block_action_body("budget_request_open", "", "U0ADA", url),
        block_action_body("warning_snooze", "spike:team:1:490000", "U0BOSS", url),
        block_action_body("warning_expected", "line:person:1:2026-11:80", "U0ADA", url),
        view_submission_body("budget_request_submit", "U0ADA",
                             {"amount": {"amount": {"value": "20"}}, "reason": {"reason": {"value": "<!here> pls"}},
                              "period": {"period": {"selected_option": {"value": "month"}}}}),
        view_submission_body("budget_request_deny_submit", "U0BOSS", {"reason": {"reason": {"value": "no <!channel>"}}},
                             "1"),
        view_submission_body("org_admin_submit", "U0ADMIN", {"action": {"action": {"selected_option": {"value": "add_approver"}}},
                                                             "team": {"team": {"selected_option": {"value": "platform"}}},
                                                             "person": {"person": {"selected_user": "<!channel>"}}}),
    )]
    for round_no in range(ROUNDS * 2):
        payload = mutate(rng, rng.choice(originals))
        body = urlencode({"payload": json.dumps(payload)})
        status, answer = await bot.sender.post_json(body)
        assert status in (200, 400, 404), (round_no, payload, status, answer)


async def test_bodies_that_never_pass_the_signature_are_401_or_413(bot) -> None:  # noqa: ANN001
    rng = random.Random(1602)
    bodies = [b"", b"payload=not-json", b"{", b"\xff\xfe\x00\x01", b"payload=" + b"%7B" * 3000,
              slash_command_body("me", "U0ADA", "http://x").encode(), b"a" * rng.randint(1, 70_000)]
    header_sets = [{}, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
                   {"X-Slack-Request-Timestamp": "9" * 30, "X-Slack-Signature": ""},
                   {"X-Slack-Request-Timestamp": "-5", "X-Slack-Signature": "v1=zz"},
                   sign("wrong-secret", "other body"), {"Content-Type": "application/json"}]
    for body in bodies:
        for headers in header_sets:
            async with bot.http.post(bot.sender.events_url, data=body, headers=headers) as resp:
                assert resp.status in (401, 413), (body[:40], headers, resp.status)
    assert not bot.slack.calls  # none of it reached a listener


MARKERS = ["<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<#C0EVIL>", "<http://evil.example|click>"]


def calls_text(bot) -> str:  # noqa: ANN001
    return json.dumps([c.params for c in bot.slack.calls] + bot.slack.responses)


async def test_nothing_a_user_typed_reaches_slack_unescaped(bot) -> None:  # noqa: ANN001
    typed = " ".join(MARKERS) + " & *bold* `code`"
    url = bot.slack.response_url("esc")
    answers = [await bot.sender.command(f"request 40 {typed}", "U0ADA", url),
               await bot.sender.command(f"team {MARKERS[0]}", "U0ADA", url),
               await bot.sender.command(f"models {MARKERS[3]}", "U0ADA", url),
               await bot.sender.command(f"{MARKERS[5]}", "U0ADA", url),
               await bot.sender.command(f"request {MARKERS[1]} x", "U0ADA", url)]
    await bot.sender.post_json(view_submission_body("budget_request_submit", "U0ALAN", {
        "amount": {"amount": {"value": "30"}}, "reason": {"reason": {"value": typed}},
        "period": {"period": {"selected_option": {"value": "month"}}}}))
    await bot.sender.post_json(view_submission_body("budget_request_deny_submit", "U0BOSS",
                                                    {"reason": {"reason": {"value": typed}}}, "1"))
    await bot.sender.post_json(view_submission_body("org_admin_submit", "U0ADMIN", {
        "action": {"action": {"selected_option": {"value": "set_team_budget"}}},
        "team": {"team": {"selected_option": {"value": "platform"}}}, "amount": {"amount": {"value": typed}}}))
    # Everything the bot sent: cards, DMs, card updates, App Home views, ephemeral answers, response_url posts.
    await wait_for(lambda: len(bot.slack.calls_to("chat.postMessage")) >= 3, timeout=10)
    await wait_for(lambda: bot.slack.calls_to("views.publish"), timeout=10)
    sent = calls_text(bot) + json.dumps(answers)
    assert "&lt;!channel&gt;" in sent  # the typed text did arrive, escaped
    for marker in MARKERS:
        assert marker not in sent, marker
