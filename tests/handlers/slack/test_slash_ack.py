"""`/tokens` under slow Slack calls and load: answered in the acknowledgement when ready within the ack budget, else
"working on it" at once and the answer through response_url; beyond the in-flight bound, "busy, try again"; a
replayed signed request has its side effect once. Real HTTP, real database, the fake Slack server."""
from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from handlers.slack.tokens import BUSY, REPLAYED, WORKING
from storage.tables.requests import budget_requests
from tests.support.running import running_bot
from tests.support.slack_requests import sign, slash_command_body, wait_for


async def post_command(bot, text: str, user: str, key: str) -> tuple[int, dict]:  # noqa: ANN001
    body = slash_command_body(text, user, bot.slack.response_url(key))
    async with bot.http.post(bot.sender.events_url, data=body.encode(), headers=sign(bot.sender.secret, body)) as resp:
        return resp.status, await resp.json()


async def test_a_slow_users_info_gets_working_on_it_then_the_answer(tmp_path: Path, fake_slack, database_url) -> None:  # noqa: ANN001
    # Grace has no Slack id in the org file: she is found by her Slack email, and users.info takes 1.5 s.
    fake_slack.add_user("U0GRACE", "grace@test.example", "Grace")
    fake_slack.delays["users.info"] = 1.5
    async with running_bot(tmp_path, database_url, fake_slack, TOKENBOT_SLASH_ACK_BUDGET_S=0.3) as bot:
        status, ack = await post_command(bot, "me", "U0GRACE", "slow")
        assert status == 200 and ack["text"] == WORKING
        answer = await wait_for(lambda: bot.slack.responses, timeout=10)
        assert "Grace" in answer[0]["text"] or "Grace" in str(answer[0].get("blocks"))
        assert answer[0]["response_type"] == "ephemeral"
        # Remembered: the next answer needs no Slack call and comes in the acknowledgement itself.
        status, ack = await post_command(bot, "me", "U0GRACE", "fast")
        assert status == 200 and ack["text"] != WORKING and "Grace" in str(ack.get("blocks"))


async def test_beyond_the_in_flight_bound_the_answer_is_busy(tmp_path: Path, fake_slack, database_url) -> None:  # noqa: ANN001
    for i in range(6):
        fake_slack.add_user(f"U0X{i}", f"x{i}@nowhere.example")
    fake_slack.delays["users.info"] = 2.0
    async with running_bot(tmp_path, database_url, fake_slack, TOKENBOT_SLASH_ACK_BUDGET_S=0.4,
                           TOKENBOT_SLASH_MAX_IN_FLIGHT=2) as bot:
        results = await asyncio.gather(*(post_command(bot, "me", f"U0X{i}", f"k{i}") for i in range(6)))
        assert all(status == 200 for status, _ in results)
        texts = [ack["text"] for _, ack in results]
        assert texts.count(WORKING) == 2 and texts.count(BUSY) == 4
        # The two worked on are answered through response_url: nobody is left without an answer.
        answers = await wait_for(lambda: len(bot.slack.responses) == 2 and bot.slack.responses, timeout=15)
        assert all(a["response_type"] == "ephemeral" and a["text"] not in (WORKING, BUSY) for a in answers)


async def test_a_replayed_signed_request_creates_one_request(bot) -> None:  # noqa: ANN001
    body = slash_command_body("request 50 eval runs", "U0ADA", bot.slack.response_url())
    headers = sign(bot.sender.secret, body)
    answers = []
    for _ in range(3):  # the same bytes, signature and timestamp: a captured request sent again
        async with bot.http.post(bot.sender.events_url, data=body.encode(), headers=headers) as resp:
            assert resp.status == 200
            answers.append(await resp.json())
    assert "Request #1 for $50.00" in answers[0]["text"]
    assert answers[1]["text"] == answers[2]["text"] == REPLAYED
    async with bot.deps.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(budget_requests))).scalar_one() == 1
    assert len(bot.slack.calls_to("chat.postMessage")) == 1  # one card
    # A new request (new signature) is a new request.
    again = await bot.sender.command("request 60 more eval runs", "U0ADA", bot.slack.response_url())
    assert "Request #2 for $60.00" in again["text"]
