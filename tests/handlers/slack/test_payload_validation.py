"""Every Slack payload checked as strictly as the slash commands: forged or broken admin, deny and request forms and
buttons get a clear answer in the form or privately; nothing they carry is echoed raw; nothing reaches bolt as an
unhandled exception (which Slack would show as an error after 3 s)."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from sqlalchemy import func, select

from storage.tables.requests import audit_log
from tests.handlers.slack.test_admin_and_home import admin_values
from tests.support.slack_requests import block_action_body, view_submission_body, wait_for


async def submit(bot, callback: str, user: str, values: dict, metadata: str = "") -> tuple[int, object]:  # noqa: ANN001
    return await bot.sender.post_json(view_submission_body(callback, user, values, metadata))


async def audited(bot) -> int:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()


async def test_admin_form_refuses_ids_that_are_not_slack_ids(bot) -> None:  # noqa: ANN001
    bot.slack.channels = {"C0PLAT", "C0RES"}
    cases = [
        (admin_values("add_approver", "platform", person="<!channel>"), "person", "from the list"),
        (admin_values("add_approver", "platform", person="U0ADA> <!here"), "person", "from the list"),
        (admin_values("set_digest_channel", "platform", channel="<!channel>"), "channel", "from the list"),
        (admin_values("set_digest_channel", "platform", channel="C0NOSUCH"), "channel", "no such channel"),
    ]
    before = await audited(bot)
    for values, block, expected in cases:
        status, body = await submit(bot, "org_admin_submit", "U0ADMIN", values)
        assert status == 200 and body["response_action"] == "errors", body
        assert expected in body["errors"][block]
    assert await audited(bot) == before  # nothing applied
    assert [c.params["channel"] for c in bot.slack.calls_to("conversations.info")] == ["C0NOSUCH"]
    assert not bot.slack.calls_to("chat.postMessage")  # no confirmation DM echoing the text
    status, body = await submit(bot, "org_admin_submit", "U0ADMIN",
                                admin_values("set_digest_channel", "platform", channel="C0RES"))
    assert status == 200 and body is None
    dm = await wait_for(lambda: bot.slack.calls_to("chat.postMessage"))
    assert "<#C0RES>" in dm[0].params["text"]


async def test_forged_form_shapes_are_answered_not_crashed(bot) -> None:  # noqa: ANN001
    shapes = [
        ("org_admin_submit", {"action": "not a dict", "person": ["x"]}, ""),
        ("org_admin_submit", {"action": {"action": {"selected_option": {"value": ["set_team_budget"]}}}}, ""),
        ("budget_request_deny_submit", {"reason": {"reason": {"value": "too much"}}}, "12345678901234567890123"),
        ("budget_request_deny_submit", {"reason": "not a dict"}, "1"),
        ("budget_request_deny_submit", {"reason": {"reason": {"value": "too much"}}}, '{"id": 1}'),
        ("budget_request_submit", {"amount": {"amount": {"value": "50"}}}, ""),  # no reason block
        ("budget_request_submit", {}, ""),
    ]
    for callback, values, metadata in shapes:
        status, body = await submit(bot, callback, "U0ADMIN", values, metadata)
        assert status == 200, (callback, values, status, body)
        assert body is None or body.get("response_action") == "errors", body
    status, body = await submit(bot, "budget_request_submit", "U0ADA", {"amount": {"amount": {"value": "50"}}})
    assert body == {"response_action": "errors", "errors": {"reason": "This form is incomplete; open it again from /tokens."}}


async def test_forged_view_payload_without_view_fields_is_not_a_500(bot) -> None:  # noqa: ANN001
    for payload in ({"type": "view_submission", "user": {"id": "U0ADMIN"}, "view": {"callback_id": "org_admin_submit"}},
                    {"type": "view_submission", "user": "U0ADMIN", "view": {"type": "modal", "callback_id": "x"}},
                    {"type": "view_submission", "user": {"id": "U0ADMIN"},
                     "view": {"type": "modal", "callback_id": "org_admin_submit", "state": 7}},
                    {"type": "block_actions", "user": {"id": "U0BOSS"}, "actions": [{"value": "1"}]}):
        status, body = await bot.sender.post_json(urlencode({"payload": json.dumps(payload)}))
        assert status == 400 and "payload" in body["error"], (payload, status, body)


async def test_huge_or_missing_button_values_get_a_clear_answer(bot) -> None:  # noqa: ANN001
    for action in ("budget_request_approve", "budget_request_deny", "budget_request_cancel"):
        for value in ("1" * 23, "-1", "", "1e9", "<!channel>"):
            resp = await bot.sender.post(block_action_body(action, value, "U0BOSS", bot.slack.response_url(action)))
            assert resp.status == 200
    answers = await wait_for(lambda: len(bot.slack.responses) >= 15 and bot.slack.responses, timeout=10)
    assert all(a["text"] == "That button is broken: it names no request." for a in answers)
    no_actions = {"type": "block_actions", "user": {"id": "U0BOSS"}, "actions": [],
                  "response_url": bot.slack.response_url("x")}
    resp = await bot.sender.post(urlencode({"payload": json.dumps(no_actions)}))
    assert resp.status == 400  # refused before bolt, which would fail on it


async def test_forged_warning_buttons_get_a_clear_answer(bot) -> None:  # noqa: ANN001
    for action in ("warning_snooze", "warning_expected"):
        for value in ("spike:person:" + "9" * 23 + ":1", "line:team:" + "9" * 23 + ":2026-11:80", "<!channel>", ""):
            resp = await bot.sender.post(block_action_body(action, value, "U0BOSS", bot.slack.response_url(action),
                                                           message={"ts": "1.2", "blocks": "not a list"}))
            assert resp.status == 200
    answers = await wait_for(lambda: len(bot.slack.responses) >= 8 and bot.slack.responses, timeout=10)
    assert {a["text"] for a in answers} <= {"That button is broken: it names no warning.",
                                             "That person or team is no longer in the org file."}
