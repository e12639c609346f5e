"""Budget requests end to end: /tokens request -> cards to approvers -> signed button clicks -> cards rewritten,
requester told, budget raised. Real HTTP, real SQLite file, fake Slack server."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import func, select

from bot.app import app_runner, build_bolt_app, build_deps, build_web_app
from bot.domain.org import parse_org
from bot.features import requests as request_flow
from storage.tables.requests import audit_log, budget_adjustments, budget_requests
from tests.conftest import ORG_YAML
from tests.support.blocks import block_texts
from tests.support.slack_requests import SlackSender, block_action_body, view_submission_body, wait_for

POLICY_ORG = ORG_YAML.replace("  admins: [U0ADMIN]", "  admins: [U0ADMIN]\n  finance_approvers: [U0CFO]\n  max_request_usd: 2000").replace(
    "    approvers: [U0BOSS]",
    "    approvers: [U0BOSS, U0BOSS2]\n    approvals: {auto_approve_usd: 20, auto_approve_per_month: 1, escalate_above_usd: 500, expires_hours: 48}")


def shown(answer: dict) -> str:
    return "\n".join(b["text"]["text"] for b in answer.get("blocks", []) if isinstance(b.get("text"), dict))


def card_texts(params: dict) -> str:
    return block_texts(params["blocks"])


def has_buttons(params: dict) -> bool:
    blocks = params["blocks"] if isinstance(params["blocks"], list) else json.loads(params["blocks"])
    return any(b["type"] == "actions" for b in blocks)


async def click(bot, action: str, request_id: int, user: str, key: str = "c") -> None:  # noqa: ANN001
    resp = await bot.sender.post(block_action_body(action, str(request_id), user, bot.slack.response_url(key)))
    assert resp.status == 200


async def db_count(bot, table, *where) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def request_status(bot, request_id: int = 1) -> str:  # noqa: ANN001
    return (await bot.deps.requests.get(request_id)).status


async def test_request_approve_end_to_end(bot) -> None:
    await bot.ingest([{"id": "a1", "timestamp": int(bot.clock.now().timestamp()) - 60, "user": "ada",
                       "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost_usd": 80.0}])
    answer = await bot.sender.command("request $50 eval runs for the Q4 model", "U0ADA", bot.slack.response_url())
    assert "Request #1 for $50.00 sent to <@U0BOSS>" in shown(answer)

    card = bot.slack.calls_to("chat.postMessage")[0]
    assert card.params["channel"] == "U0BOSS"
    text = card_texts(card.params)
    for expected in ("Budget request #1: $50.00", "<@U0ADA>", "Platform", "eval runs for the Q4 model",
                     "*Personal budget*\n$100.00", "*Spent this month*\n$80.00 (80%)", "*New total if approved*\n$150.00",
                     "Pending. Expires"):
        assert expected in text, expected
    assert has_buttons(card.params)
    approve_button = [b for b in card.params["blocks"] if b["type"] == "actions"][0]["elements"][0]
    assert approve_button["value"] == "1" and "confirm" in approve_button

    await click(bot, "budget_request_approve", 1, "U0BOSS")
    update = (await wait_for(lambda: bot.slack.calls_to("chat.update")))[0]
    assert update.params["channel"] == "D0BOSS"  # the DM channel Slack answered with, not the user id
    assert "Approved by <@U0BOSS>" in card_texts(update.params) and not has_buttons(update.params)
    dm = await wait_for(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"])
    assert "approved your budget request #1" in dm[0].params["text"]
    assert "Your budget is now $150.00 this month ($70.00 left)" in dm[0].params["text"]
    assert "Approved request #1." in (await wait_for(lambda: bot.slack.responses))[0]["text"]

    me = await bot.sender.command("me", "U0ADA", bot.slack.response_url())
    assert "*Your budget*: $80.00 of $150.00 (53%)" in shown(me)
    async with bot.deps.engine.connect() as conn:
        adj = (await conn.execute(select(budget_adjustments))).mappings().one()
        actions = [r.action for r in await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert (adj["scope"], adj["amount_micros"], adj["month"], adj["approved_by"]) == ("person", 50_000_000, "2026-11", "U0BOSS")
    assert actions == ["requested", "budget_adjusted", "approved"]


async def test_non_approver_and_self_approval_are_refused_and_audited(bot) -> None:
    await bot.deps.org.sync(parse_org(ORG_YAML.replace("approvers: [U0BOSS]", "approvers: [U0BOSS, U0ADA]")), 0)
    await bot.sender.command("request 50 more evals", "U0ADA", bot.slack.response_url())
    assert [c.params["channel"] for c in bot.slack.calls_to("chat.postMessage")] == ["U0BOSS"]  # never to the requester
    await click(bot, "budget_request_approve", 1, "U0ALAN", "alan")
    await click(bot, "budget_request_approve", 1, "U0ADA", "ada")
    await wait_for(lambda: len(bot.slack.responses) == 2)
    texts = sorted(r["text"] for r in bot.slack.responses)
    assert texts == ["You are not an approver for this team.", "You can't decide your own budget request."]
    assert all(r["response_type"] == "ephemeral" for r in bot.slack.responses)
    assert await request_status(bot) == "pending"
    assert await db_count(bot, audit_log, audit_log.c.action == "refused") == 2
    assert await db_count(bot, budget_adjustments) == 0


async def test_hundred_concurrent_clicks_make_one_decision(bot) -> None:
    await bot.deps.org.sync(parse_org(POLICY_ORG), 0)
    await bot.sender.command("request 100 load test", "U0ADA", bot.slack.response_url())
    users = ["U0BOSS", "U0BOSS2"] * 50
    await asyncio.gather(*(click(bot, "budget_request_approve", 1, u, f"k{i}") for i, u in enumerate(users)))
    await wait_for(lambda: len(bot.slack.responses) == 100, timeout=30)
    assert await request_status(bot) == "approved"
    assert await db_count(bot, budget_adjustments) == 1
    assert await db_count(bot, audit_log, audit_log.c.action == "approved") == 1
    wins = [r for r in bot.slack.responses if r["text"] == "Approved request #1."]
    late = [r for r in bot.slack.responses if "was already approved by <@" in r["text"]]
    assert len(wins) == 1 and len(late) == 99


async def test_bad_amounts_and_pending_limit(bot) -> None:
    for text, error in [("request 0 x", "more than $0"), ("request -5 x", "not an amount"),
                        ("request lots x", "not an amount"), ("request 20000 x", "at most $10,000.00"),
                        ("request 50", "say what the budget is for"), ("request", "Usage: `/tokens request")]:
        answer = await bot.sender.command(text, "U0ADA", bot.slack.response_url())
        assert error in shown(answer), (text, shown(answer))
    for i in range(3):
        assert "sent to" in shown(await bot.sender.command(f"request 10 batch {i}", "U0ADA", bot.slack.response_url()))
    assert "already have 3 pending requests" in shown(await bot.sender.command("request 10 more", "U0ADA", bot.slack.response_url()))
    assert await db_count(bot, budget_requests) == 3


async def test_auto_approval_and_finance_escalation(bot) -> None:
    await bot.deps.org.sync(parse_org(POLICY_ORG), 0)
    first = await bot.sender.command("request 15 small thing", "U0ADA", bot.slack.response_url())
    assert "Approved automatically (request #1, $15.00)" in shown(first)
    announced = bot.slack.calls_to("chat.postMessage")
    assert {c.params["channel"] for c in announced} == {"U0BOSS", "U0BOSS2"}
    assert all("Approved automatically" in card_texts(c.params) and not has_buttons(c.params) for c in announced)
    second = await bot.sender.command("request 15 another small thing", "U0ADA", bot.slack.response_url())
    assert "sent to" in shown(second)  # one auto-approval a month
    await bot.sender.command("request 600 big training run", "U0ADA", bot.slack.response_url())
    await click(bot, "budget_request_approve", 3, "U0BOSS")
    cfo_card = await wait_for(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0CFO"])
    assert "waiting for a finance approval" in card_texts(cfo_card[0].params) and has_buttons(cfo_card[0].params)
    assert (await bot.deps.requests.get(3)).status == "pending"
    await click(bot, "budget_request_approve", 3, "U0BOSS2", "boss2")  # a team approver can't give the second approval
    await wait_for(lambda: any("Only finance approvers" in r["text"] for r in bot.slack.responses))
    await click(bot, "budget_request_approve", 3, "U0CFO", "cfo")
    await wait_for(lambda: any(r["text"] == "Approved request #3." for r in bot.slack.responses))
    r3 = await bot.deps.requests.get(3)
    assert (r3.status, r3.first_approver, r3.decided_by) == ("approved", "U0BOSS", "U0CFO")
    me = await bot.sender.command("me", "U0ADA", bot.slack.response_url())
    assert "of $715.00" in shown(me)  # 100 + 15 (auto) + 600


async def test_deny_with_reason_through_the_modal(bot) -> None:
    await bot.sender.command("request 50 more evals", "U0ADA", bot.slack.response_url())
    await click(bot, "budget_request_deny", 1, "U0BOSS")
    modal = (await wait_for(lambda: bot.slack.calls_to("views.open")))[0]
    assert modal.params["view"]["private_metadata"] == "1"
    status, body = await bot.sender.post_json(view_submission_body("budget_request_deny_submit", "U0BOSS", {
        "reason": {"reason": {"type": "plain_text_input", "value": ""}}}, "1"))
    assert status == 200 and body["response_action"] == "errors"  # a reason is required
    status, body = await bot.sender.post_json(view_submission_body("budget_request_deny_submit", "U0BOSS", {
        "reason": {"reason": {"type": "plain_text_input", "value": "use the <!channel> cheaper model"}}}, "1"))
    assert status == 200
    update = (await wait_for(lambda: bot.slack.calls_to("chat.update")))[0]
    text = card_texts(update.params)
    assert "Denied by <@U0BOSS>" in text and "use the &lt;!channel&gt; cheaper model" in text
    dm = await wait_for(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"])
    assert "denied your budget request #1" in dm[0].params["text"]
    req = await bot.deps.requests.get(1)
    assert (req.status, req.decision_reason) == ("denied", "use the <!channel> cheaper model")


async def test_request_from_the_modal(bot) -> None:
    status, body = await bot.sender.post_json(view_submission_body("budget_request_submit", "U0ADA", {
        "amount": {"amount": {"type": "plain_text_input", "value": "abc"}},
        "reason": {"reason": {"type": "plain_text_input", "value": "x"}},
        "period": {"period": {"type": "radio_buttons", "selected_option": {"value": "permanent"}}}}))
    assert body["response_action"] == "errors" and "not an amount" in body["errors"]["amount"]
    status, body = await bot.sender.post_json(view_submission_body("budget_request_submit", "U0ADA", {
        "amount": {"amount": {"type": "plain_text_input", "value": "$25"}},
        "reason": {"reason": {"type": "plain_text_input", "value": "agent experiments"}},
        "period": {"period": {"type": "radio_buttons", "selected_option": {"value": "permanent"}}}}))
    assert status == 200 and body is None
    dm = await wait_for(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"])
    assert "Request #1 for $25.00 sent to <@U0BOSS>" in dm[0].params["text"]
    request = await bot.deps.requests.get(1)
    assert (request.amount_micros, request.period, request.reason) == (25_000_000, "permanent", "agent experiments")


async def test_cancel_updates_the_cards(bot) -> None:
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    listing = await bot.sender.command("requests", "U0ADA", bot.slack.response_url())
    assert "*#1* $50.00" in shown(listing)
    await click(bot, "budget_request_cancel", 1, "U0ALAN", "alan")  # not theirs
    await wait_for(lambda: bot.slack.responses)
    assert bot.slack.responses[0]["text"] == "Only the person who made a request can cancel it."
    await click(bot, "budget_request_cancel", 1, "U0ADA", "ada")
    update = (await wait_for(lambda: bot.slack.calls_to("chat.update")))[0]
    assert "Cancelled by the requester" in card_texts(update.params) and not has_buttons(update.params)
    assert await request_status(bot) == "cancelled"


async def test_pending_queue_for_approvers(bot) -> None:
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    queue = await bot.sender.command("pending", "U0BOSS", bot.slack.response_url())
    assert "1 request(s) wait for you" in shown(queue)
    assert "Nothing is waiting" in shown(await bot.sender.command("pending", "U0ALAN", bot.slack.response_url()))


async def test_reminder_escalation_and_expiry_fire_once_and_late_click_is_told(bot) -> None:
    await bot.deps.org.sync(parse_org(POLICY_ORG), 0)  # expires after 48 h; finance is the fallback group
    await bot.sender.command("request 100 evals", "U0ADA", bot.slack.response_url())
    bot.clock.advance(timedelta(hours=24, minutes=1))
    assert (await request_flow.tick(bot.deps)).counts["reminded"] == 1
    assert (await request_flow.tick(bot.deps)).counts["reminded"] == 0
    reminders = [c for c in bot.slack.calls_to("chat.postMessage") if "Reminder" in c.params.get("text", "")]
    assert sorted(c.params["channel"] for c in reminders) == ["U0BOSS", "U0BOSS2"]
    bot.clock.advance(timedelta(hours=12))
    assert (await request_flow.tick(bot.deps)).counts["escalated"] == 1
    cfo = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0CFO"]
    assert len(cfo) == 1 and has_buttons(cfo[0].params)
    bot.clock.advance(timedelta(hours=12))
    assert (await request_flow.tick(bot.deps)).counts["expired"] == 1
    assert (await request_flow.tick(bot.deps)).counts["expired"] == 0
    assert await request_status(bot) == "expired"
    updates = bot.slack.calls_to("chat.update")
    assert len(updates) == 3 and all("Expired" in card_texts(u.params) for u in updates)
    told = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"]
    assert "expired without a decision" in told[0].params["text"]
    await click(bot, "budget_request_approve", 1, "U0BOSS")
    assert "Request #1 expired" in (await wait_for(lambda: bot.slack.responses))[0]["text"]
    assert await db_count(bot, budget_adjustments) == 0


async def test_restart_between_request_and_decision(bot, tmp_path) -> None:  # noqa: ANN001
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    # A second bot process on the same database file, as after a restart.
    deps2 = await build_deps(bot.deps.settings, bot.clock)
    runner = app_runner(build_web_app(deps2, build_bolt_app(deps2)))
    await runner.setup()
    from aiohttp import web

    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        sender2 = SlackSender(bot.http, f"http://127.0.0.1:{port}/slack/events", bot.sender.secret)
        resp = await sender2.post(block_action_body("budget_request_approve", "1", "U0BOSS", bot.slack.response_url()))
        assert resp.status == 200
        await wait_for(lambda: bot.slack.calls_to("chat.update"))
    finally:
        await runner.cleanup()
        await deps2.close()
    assert await request_status(bot) == "approved"
    assert "Approved by <@U0BOSS>" in card_texts(bot.slack.calls_to("chat.update")[0].params)


async def test_failed_dm_still_reaches_other_approvers_and_is_retried(bot, caplog) -> None:  # noqa: ANN001
    await bot.deps.org.sync(parse_org(POLICY_ORG), 0)
    bot.slack.fail("chat.postMessage", error="channel_not_found", times=1)  # the first approver's DM fails
    answer = await bot.sender.command("request 100 evals", "U0ADA", bot.slack.response_url())
    assert "sent to" in shown(answer)
    posted = bot.slack.calls_to("chat.postMessage")
    assert [c.params["channel"] for c in posted] == ["U0BOSS", "U0BOSS2"]
    assert "message to U0BOSS failed (channel_not_found); will retry" in caplog.text
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 0  # not before the retry delay
    bot.clock.advance(timedelta(seconds=61))
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 1
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 0
    to_boss = [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0BOSS"]
    assert len(to_boss) == 2 and has_buttons(to_boss[1].params)  # the failed attempt, then the delivered card
    messages = await bot.deps.requests.messages(1, "card")
    assert [m.status for m in messages] == ["sent", "sent"]


async def test_a_card_stuck_by_a_dead_process_is_sent_later(bot) -> None:
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    # A second approver's card was recorded, then its process died before sending it.
    message_id = await bot.deps.requests.add_message(1, "card", "U0ALAN", int(bot.clock.now().timestamp()))
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 0  # it may still be in flight
    bot.clock.advance(timedelta(minutes=5, seconds=1))
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 1
    assert (await bot.deps.requests.message(message_id)).status == "sent"
    assert len([c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ALAN"]) == 1
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 0


async def test_denial_reason_reaches_the_requester_escaped(bot) -> None:
    await bot.sender.command("request 50 more evals", "U0ADA", bot.slack.response_url())
    await click(bot, "budget_request_deny", 1, "U0BOSS")
    await wait_for(lambda: bot.slack.calls_to("views.open"))
    status, _ = await bot.sender.post_json(view_submission_body("budget_request_deny_submit", "U0BOSS", {
        "reason": {"reason": {"type": "plain_text_input", "value": "ask <!channel> or <https://evil.example|the wiki>"}}},
        "1"))
    assert status == 200
    dm = await wait_for(lambda: [c for c in bot.slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ADA"])
    text = dm[0].params["text"]
    assert "ask &lt;!channel&gt; or &lt;https://evil.example|the wiki&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text


async def test_a_deny_form_naming_no_request_is_answered_in_the_form(bot) -> None:
    await bot.sender.command("request 50 more evals", "U0ADA", bot.slack.response_url())
    for metadata in ("", "abc", "1" * 23):  # tampered, empty, a number past 64 bits
        status, body = await bot.sender.post_json(view_submission_body("budget_request_deny_submit", "U0BOSS", {
            "reason": {"reason": {"type": "plain_text_input", "value": "no"}}}, metadata))
        assert status == 200 and body["response_action"] == "errors", metadata
        assert "names no request" in body["errors"]["reason"]
    assert await request_status(bot) == "pending"


async def test_a_typed_amount_is_echoed_escaped(bot) -> None:
    answer = await bot.sender.command("request <!channel> now", "U0ADA", bot.slack.response_url())
    assert "`&lt;!channel&gt;` is not an amount" in shown(answer)
    assert "<!channel>" not in json.dumps(answer)


async def test_requester_is_told_sent_only_to_approvers_who_got_the_card(bot) -> None:
    bot.slack.fail("chat.postMessage", error="channel_not_found", times=1)
    answer = shown(await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url()))
    assert "sent to <@U0BOSS>" not in answer
    assert "Slack did not take it for <@U0BOSS> yet, and I will keep trying" in answer
    bot.clock.advance(timedelta(seconds=61))
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 1
    assert [m.status for m in await bot.deps.requests.messages(1, "card")] == ["sent"]


async def test_card_update_refused_by_slack_is_retried_until_the_card_shows_the_decision(bot) -> None:
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    bot.slack.fail("chat.update", error="internal_error", times=1)
    await click(bot, "budget_request_approve", 1, "U0BOSS")
    await wait_for(lambda: bot.slack.responses)
    assert await request_status(bot) == "approved"
    (message,) = await bot.deps.requests.messages(1, "card")
    assert message.status == "failed"  # Slack still shows "Pending" with live buttons: recorded, not "sent"
    bot.clock.advance(timedelta(seconds=61))
    assert (await request_flow.tick(bot.deps)).counts["retried"] == 1
    updates = bot.slack.calls_to("chat.update")
    assert len(updates) == 2 and updates[1].params["ts"] == message.ts
    assert "Approved by <@U0BOSS>" in card_texts(updates[1].params) and not has_buttons(updates[1].params)
    assert [m.status for m in await bot.deps.requests.messages(1, "card")] == ["sent"]


async def test_a_decision_refreshes_the_app_home_of_requester_and_approver(bot) -> None:
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    await wait_for(lambda: {c.params["user_id"] for c in bot.slack.calls_to("views.publish")} >= {"U0ADA", "U0BOSS"})
    before = len(bot.slack.calls_to("views.publish"))
    await click(bot, "budget_request_approve", 1, "U0BOSS")
    published = await wait_for(lambda: {c.params["user_id"] for c in bot.slack.calls_to("views.publish")[before:]}
                               >= {"U0ADA", "U0BOSS"} and bot.slack.calls_to("views.publish")[before:])
    boss_home = [c for c in published if c.params["user_id"] == "U0BOSS"][-1]
    assert "#1" not in block_texts(boss_home.params["view"]["blocks"])  # nothing left to decide
