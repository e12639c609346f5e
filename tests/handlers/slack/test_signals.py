"""Runaway and tokenmaxxing signals end to end: requests in over HTTP as the LiteLLM plugin and Claude Code send them,
the scan, the DMs the fake Slack receives (the numbers in them), and the Snooze / This is expected buttons pressed as
Slack sends them (signed block_actions)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.domain.otlp import CounterPoint
from bot.features.signals import scan_signals
from storage.tables.alerts import job_runs, warning_feedback
from storage.tables.requests import audit_log
from tests.conftest import INGEST_TOKEN, NOW, OTLP_TOKEN
from tests.support.blocks import block_texts
from tests.support.digests import blocks_of, message_text, poster, spend
from tests.support.litellm_payloads import standard_payload
from tests.support.otel_client import ApiRequest, ClaudeCode
from tests.support.slack_requests import block_action_body, wait_for

PLUGIN_KEY = b"plugin-fingerprint-key"


def fingerprint(messages: list[dict]) -> str:
    """What integrations/litellm/tokenbot_litellm.py prompt_fingerprint sends: a keyed hash, never the text."""
    text = json.dumps(messages, sort_keys=True, default=str, separators=(",", ":"))
    return hmac.new(PLUGIN_KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


def plugin_event(i: int, at: datetime, prompt: str, cost: float = 0.12) -> dict:
    """A StandardLoggingPayload slimmed and fingerprinted as the plugin sends it."""
    payload = standard_payload(i, at.timestamp(), cost=cost)
    payload.pop("messages")
    return payload | {"tokenbot": {"prompt_fingerprint": fingerprint([{"role": "user", "content": prompt}])}}


async def send_litellm(bot, events: list[dict]) -> dict:  # noqa: ANN001
    async with bot.http.post(f"{bot.url}/v1/ingest/litellm", data=json.dumps(events),
                             headers={"Authorization": f"Bearer {INGEST_TOKEN}"}) as resp:
        assert resp.status == 200
        return await resp.json()


def signals_to(bot, user: str) -> list:  # noqa: ANN001
    return [c for c in bot.slack.posted if c.params["channel"] == user
            and any(w in message_text(c) for w in ("Possible loop", "Runaway session", "Spend without outcomes"))]


async def press(bot, card, action: str, user: str, value: str | None = None) -> None:  # noqa: ANN001
    blocks = blocks_of(card)
    value = value or next(e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"])
    message = {"ts": card.params["_ts"], "text": card.params["text"], "blocks": blocks}
    resp = await bot.sender.post(block_action_body(action, value, user, bot.slack.response_url(f"{user}{action}"),
                                                   message=message, channel_id=card.params["channel"]))
    assert resp.status == 200


async def rows(bot, stmt) -> list[dict]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def test_a_replayed_loop_warns_once_and_a_snooze_silences_the_next(bot) -> None:  # noqa: ANN001
    start = NOW - timedelta(minutes=30)  # 15:00 UTC
    ordinary = [plugin_event(i, start + timedelta(minutes=i), f"question {i}") for i in range(20)]
    # An agent retrying one prompt every 10 seconds for almost five minutes: 30 requests, $0.12 each.
    loop = [plugin_event(100 + i, start + timedelta(minutes=21, seconds=10 * i), "fix the failing test")
            for i in range(30)]
    assert (await send_litellm(bot, ordinary + loop))["accepted"] == 50
    await scan_signals(bot.deps, poster(bot))
    [card] = signals_to(bot, "U0ADA")
    text = message_text(card)
    assert ("Possible loop*: You sent 30 requests with the same prompt in 5 minutes (16:21–16:25 CET), $3.60 on "
            "gpt-4o") in text
    assert "fix the failing test" not in text  # the prompt never reaches tokenbot, let alone Slack
    assert [e["text"]["text"] for b in blocks_of(card) if b["type"] == "actions" for e in b["elements"]] == \
        ["Snooze a day", "Snooze a week", "This is expected"]
    assert signals_to(bot, "U0BOSS") == []  # not severe: the approvers are not told
    from bot.features.home import publish_home

    await publish_home(bot.deps, "U0ADMIN")  # the admins' App Home lists it beside spikes and budget lines
    assert "Possible loop: Ada sent 30 requests with the same prompt in 5 minutes" in str(
        bot.slack.calls_to("views.publish")[-1].params["view"])

    # The plugin resends the batch (its spool after a restart) and the scan runs again, twice: nothing new.
    assert (await send_litellm(bot, ordinary + loop))["duplicates"] == 50
    await asyncio.gather(scan_signals(bot.deps, poster(bot)), scan_signals(bot.deps, poster(bot)))
    bot.clock.set(NOW + timedelta(minutes=2))
    await scan_signals(bot.deps, poster(bot))
    assert len(signals_to(bot, "U0ADA")) == 1

    # Alan may not snooze Ada's warning; Ada may, for a day.
    await press(bot, card, "warning_snooze", "U0ALAN")
    await wait_for(lambda: bot.slack.responses)
    assert bot.slack.responses[-1]["text"].startswith("Only the person, the team's approvers or an admin")
    await press(bot, card, "warning_snooze", "U0ADA")
    await wait_for(lambda: bot.slack.calls_to("chat.update") and len(bot.slack.responses) == 2)
    [update] = bot.slack.calls_to("chat.update")
    shown = block_texts(blocks_of(update))
    assert "Possible loop" in shown and "Snooze a week" not in shown
    assert "Snoozed by <@U0ADA>: no loop, runaway or idle-spend warnings about this person until" in shown
    assert bot.slack.responses[-1]["text"] == "Snoozed: no loop, runaway or idle-spend warnings about Ada for 24 hours."
    [row] = await rows(bot, select(audit_log).where(audit_log.c.action == "warning_snooze"))
    assert row["actor"] == "U0ADA"

    # An hour later another prompt loops: snoozed, nothing is sent.
    later = NOW + timedelta(hours=1)
    bot.clock.set(later)
    await send_litellm(bot, [plugin_event(200 + i, later - timedelta(minutes=8, seconds=-10 * i), "deploy again")
                             for i in range(30)])
    await scan_signals(bot.deps, poster(bot))
    assert len(signals_to(bot, "U0ADA")) == 1


async def test_a_button_naming_a_signal_never_sent_is_refused(bot) -> None:  # noqa: ANN001
    ada = (await bot.deps.org.person_by_ref("ada")).id
    for value in (f"loop:person:{ada}:0123456789abcdef:1763478000", "loop:person:1:<!channel>:1"):
        body = block_action_body("warning_snooze_week", value, "U0ADMIN", bot.slack.response_url(value))
        assert (await bot.sender.post(body)).status == 200
    await wait_for(lambda: len(bot.slack.responses) == 2)
    assert sorted(r["text"] for r in bot.slack.responses) == [
        "That button is broken: it names no warning that was sent.", "That button is broken: it names no warning."]
    assert await rows(bot, select(warning_feedback)) == []


async def _usual_history(bot) -> None:  # noqa: ANN001
    """Four weeks of Ada's ordinary use: $2.00, $2.20 or $2.40 an hour (her usual hour: $2.40)."""
    hour0 = datetime(2026, 11, 18, 10, tzinfo=UTC)
    await spend(bot, [(hour0 - timedelta(hours=h) + timedelta(minutes=10), "ada", "gpt-4o", 2.0 + (h % 3) * 0.2)
                      for h in range(1, 28 * 24)], "h")


async def claude_code_session(bot, session: str, start: datetime, n: int, cost: float) -> None:  # noqa: ANN001
    client = ClaudeCode(bot.url, OTLP_TOKEN, session_id=session)
    requests = [ApiRequest(int((start + timedelta(seconds=30 * i)).timestamp()) * 10**9, cost_usd=cost, sequence=i)
                for i in range(n)]
    await asyncio.to_thread(client.api_requests, requests)
    await asyncio.to_thread(client.shutdown)


async def test_a_runaway_claude_code_session_goes_to_the_approvers_and_expected_widens_the_baseline(bot) -> None:  # noqa: ANN001
    await _usual_history(bot)
    # A Claude Code session: 60 requests in 30 minutes at $1.50 = $90 within an hour, 37.5x the usual $2.40.
    await claude_code_session(bot, "sess-runaway-1", NOW - timedelta(minutes=30), 60, 1.5)
    await scan_signals(bot.deps, poster(bot))
    [dm] = signals_to(bot, "U0ADA")
    [boss] = signals_to(bot, "U0BOSS")
    assert ("Runaway session*: Your session `sess-runaway-1` spent $90.00 within an hour, 37.5× your usual $2.40 an "
            "hour (60 requests since 16:00 CET, $90.00 in all, mostly claude-sonnet-4-5-20250929)") in message_text(dm)
    assert "Your team's approvers were told too." in message_text(dm)
    assert "Ada's session `sess-runaway-1` spent $90.00 within an hour, 37.5× their usual $2.40" in message_text(boss)

    await press(bot, boss, "warning_expected", "U0BOSS")
    await wait_for(lambda: bot.slack.calls_to("chat.update"))
    assert "Marked expected by <@U0BOSS>: the next one must be at least twice as big" in block_texts(
        blocks_of(bot.slack.calls_to("chat.update")[0]))
    [fb] = await rows(bot, select(warning_feedback))
    assert (fb["action"], fb["level_micros"]) == ("expected", 90_000_000)  # from the sent warning, not the button

    # Two hours later a similar session ($100) is now usual for Ada; one of $200 (over 2 x $90) still warns.
    later = NOW + timedelta(hours=2)
    bot.clock.set(later)
    await claude_code_session(bot, "sess-2", later - timedelta(minutes=40), 40, 2.5)
    await scan_signals(bot.deps, poster(bot))
    assert len(signals_to(bot, "U0ADA")) == 1
    await claude_code_session(bot, "sess-3", later - timedelta(minutes=20), 40, 5.0)
    await scan_signals(bot.deps, poster(bot))
    assert len(signals_to(bot, "U0ADA")) == 2
    assert "Your session `sess-3` spent $200.00 within an hour" in message_text(signals_to(bot, "U0ADA")[-1])
    done = await rows(bot, select(job_runs.c.key).where(job_runs.c.kind == "signal", job_runs.c.status == "done"))
    assert len(done) == 2


async def test_burn_without_outcome_while_the_team_ships(bot) -> None:  # noqa: ANN001
    days = [datetime(2026, 11, d, 10, tzinfo=UTC) for d in (15, 16, 17)]
    await spend(bot, [(d + timedelta(minutes=m), "ada", "claude-opus-4-1", 20.0) for d in days for m in (0, 30, 60)],
                "b")  # $60 a day for three days
    await spend(bot, [(d, "alan", "gpt-4o", 5.0) for d in days], "a")
    directory = await bot.deps.org.directory()
    ns = int(days[1].timestamp()) * 10**9
    await bot.deps.outcomes.record_points([CounterPoint("s1", "pull_request", ns, ns, 4, False, "alan@test.example",
                                                        None, {})], directory, int(NOW.timestamp()))
    await scan_signals(bot.deps, poster(bot))
    [dm] = signals_to(bot, "U0ADA")
    assert ("Spend without outcomes*: Your AI spend was $180.00 over 3 days since Nov 15 ($60.00 a day, above $50.00 "
            "a day) with no outcome of yours recorded (a merged pull request, a deploy, a closed ticket), while Platform "
            "recorded 4 outcomes in the same days.") in message_text(dm)
    assert signals_to(bot, "U0ALAN") == []
    bot.clock.set(NOW + timedelta(hours=3))
    await scan_signals(bot.deps, poster(bot))
    assert len(signals_to(bot, "U0ADA")) == 1
    assert [r["key"] for r in await rows(bot, select(job_runs.c.key).where(job_runs.c.kind == "signal"))] == \
        [f"signal:idle:person:{(await bot.deps.org.person_by_ref('ada')).id}:{int(days[0].timestamp()) // 86400}"]
