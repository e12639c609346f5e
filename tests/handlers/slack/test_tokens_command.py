"""`/tokens` end to end: signed Slack requests in, Block Kit answers out, figures checked against the events."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.blocks import block_texts
from tests.conftest import NOW
from tests.support.slack_requests import slash_command_body

BERLIN = ZoneInfo("Europe/Berlin")


def texts(answer: dict) -> str:
    return block_texts(answer.get("blocks", []))


def usd(x: float) -> str:
    return f"${x:,.2f}"


async def test_me_numbers_equal_a_straight_sum_over_events(bot) -> None:
    now_local = NOW.astimezone(BERLIN)
    # (hours before now, user alias, model, cost): spread over today, this week, this month and last month.
    spec = [(1, "ada", "gpt-4o", 1.25), (2, "sk-ada", "claude-sonnet-4-5", 2.5), (30, "ada", "gpt-4o", 4.0),
            (24 * 5, "ada", "gpt-4o-mini", 8.0), (24 * 10, "ada", "gpt-4o", 16.0), (24 * 25, "ada", "gpt-4o", 32.0),
            (3, "alan", "gpt-4o", 64.0)]
    events = [{"id": f"e{i}", "timestamp": (NOW - timedelta(hours=h)).isoformat(), "user": u, "model": m,
               "input_tokens": 100 * (i + 1), "output_tokens": 10, "cost_usd": c} for i, (h, u, m, c) in enumerate(spec)]
    status, _ = await bot.ingest(events)
    assert status == 200

    def local(e: dict) -> datetime:
        return datetime.fromisoformat(e["timestamp"]).astimezone(BERLIN)

    ada = [e for e in events if e["user"] in ("ada", "sk-ada")]
    today = sum(e["cost_usd"] for e in ada if local(e).date() == now_local.date())
    week = sum(e["cost_usd"] for e in ada if (now_local.date() - local(e).date()).days < 7)
    month = sum(e["cost_usd"] for e in ada if local(e).month == now_local.month)
    assert (today, week, month) == (3.75, 15.75, 31.75)  # the spec above, summed by hand

    answer = await bot.sender.command("me", "U0ADA", bot.slack.response_url())
    assert answer["response_type"] == "ephemeral"
    shown = texts(answer)
    assert f"*Today*\n{usd(today)}" in shown
    assert f"*Last 7 days*\n{usd(week)}" in shown
    assert f"*Month to date*\n{usd(month)}" in shown
    assert f"*Your budget*: {usd(month)} of $100.00 (32%)" in shown
    team_month = month + 64.0
    assert f"*Platform budget*: {usd(team_month)} of $1,000.00 (10%)" in shown
    assert "`gpt-4o`: $21.25" in shown  # the top model this month
    assert answer["blocks"][-1]["elements"][0]["action_id"] == "budget_request_open"


async def test_me_projects_month_end_and_run_out_date(bot) -> None:
    # $10 a day for the last 7 days (today included): $70 this week; the budget is $100.
    events = [{"id": f"d{d}", "timestamp": int((NOW - timedelta(days=d, minutes=5)).timestamp()), "user": "ada",
               "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost_usd": 10.0} for d in range(7)]
    await bot.ingest(events)
    shown = texts(await bot.sender.command("me", "U0ADA", bot.slack.response_url()))
    now_local = NOW.astimezone(BERLIN)
    elapsed = 6 + (NOW - now_local.replace(hour=0, minute=0)).total_seconds() / 86400
    rate = 70 / elapsed
    remaining = (datetime(2026, 12, 1, tzinfo=BERLIN) - NOW).total_seconds() / 86400
    assert f"Projected month-end {usd(70 + rate * remaining)} at {usd(rate)}/day" in shown
    runs_out = (now_local + timedelta(days=30 / rate)).date()
    assert f"runs out *{runs_out:%b} {runs_out.day}*" in shown


async def test_unpriced_usage_is_counted_and_flagged(bot) -> None:
    await bot.ingest([{"id": "x1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "in-house-9000",
                       "input_tokens": 5000, "output_tokens": 500}])
    shown = texts(await bot.sender.command("me", "U0ADA", bot.slack.response_url()))
    assert "*Requests this month*\n1" in shown
    assert "1 request(s) this month used a model with no known price" in shown


async def test_person_without_slack_id_is_found_by_email_and_remembered(bot) -> None:
    bot.slack.add_user("U0GRACE", "grace@test.example", "Grace")
    await bot.ingest([{"id": "g1", "timestamp": int(NOW.timestamp()) - 60, "user": "grace", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 7.0}])
    shown = texts(await bot.sender.command("me", "U0GRACE", bot.slack.response_url()))
    assert "*Today*\n$7.00" in shown
    assert "Research budget" in shown
    await bot.sender.command("me", "U0GRACE", bot.slack.response_url())
    assert len(bot.slack.calls_to("users.info")) == 1  # linked after the first lookup


async def test_unknown_person_is_told_whom_to_ask(bot) -> None:
    bot.slack.add_user("U0NEW", "newbie@test.example")
    answer = await bot.sender.command("me", "U0NEW", bot.slack.response_url())
    shown = texts(answer)
    assert "newbie@test.example" in shown
    assert "<@U0ADMIN>" in shown and "#finops" in shown
    answer = await bot.sender.command("", "U0NOBODY", bot.slack.response_url())  # not even in Slack's directory
    assert "your Slack account" in texts(answer)


async def test_help_and_unknown_subcommand(bot) -> None:
    shown = texts(await bot.sender.command("help", "U0ADA", bot.slack.response_url()))
    assert "`/tokens me`" in shown
    shown = texts(await bot.sender.command("frobnicate <!channel>", "U0ADA", bot.slack.response_url()))
    assert "I don't know `/tokens frobnicate`" in shown
    assert "`/tokens me`" in shown


async def test_request_button_opens_the_request_form(bot) -> None:
    from tests.support.slack_requests import block_action_body, wait_for

    body = block_action_body("budget_request_open", "me", "U0ADA", bot.slack.response_url("btn"))
    resp = await bot.sender.post(body)
    assert resp.status == 200
    call = (await wait_for(lambda: bot.slack.calls_to("views.open")))[0]
    assert call.params["trigger_id"] == "trigger-U0ADA"
    assert call.params["view"]["callback_id"] == "budget_request_submit"


async def test_unsigned_wrongly_signed_and_stale_requests_are_refused(bot) -> None:
    body = slash_command_body("me", "U0ADA", bot.slack.response_url())
    async with bot.http.post(bot.sender.events_url, data=body.encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
        assert resp.status == 401
    resp = await bot.sender.post(body, secret="not-the-secret")
    assert resp.status == 401
    resp = await bot.sender.post(body, timestamp=int(time.time()) - 6 * 60)
    assert resp.status == 401
    resp = await bot.sender.post(body)
    assert resp.status == 200
    assert not re.search("users.info", " ".join(c.method for c in bot.slack.calls))  # Ada is known; no lookups


async def test_app_home_shows_the_month(bot) -> None:
    import asyncio
    import json

    await bot.ingest([{"id": "h1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 12.5}])
    event = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
             "event_time": int(time.time()),
             "event": {"type": "app_home_opened", "user": "U0ADA", "channel": "D0ADA", "tab": "home"}}
    resp = await bot.sender.post(json.dumps(event))
    assert resp.status == 200
    for _ in range(100):
        if bot.slack.calls_to("views.publish"):
            break
        await asyncio.sleep(0.02)
    call = bot.slack.calls_to("views.publish")[0]
    assert call.params["user_id"] == "U0ADA"
    view = call.params["view"] if isinstance(call.params["view"], dict) else json.loads(call.params["view"])
    assert "*Month to date*\n$12.50" in texts(view)
