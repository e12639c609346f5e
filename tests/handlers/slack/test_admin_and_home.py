"""App Home per role, and admin changes from Slack: audited, exported, protected from being undone by a sync."""
from __future__ import annotations

import json

from sqlalchemy import select

from bot.features.home import build_home
from bot.domain.org import parse_org
from storage.stores.org_admin import OrgAdminStore
from storage.tables.requests import audit_log
from tests.conftest import NOW
from tests.support.blocks import block_texts
from tests.support.slack_requests import view_submission_body, wait_for

ADMIN_VALUES = {"action": {"action": {"type": "static_select", "selected_option": None}},
                "team": {"team": {"type": "static_select", "selected_option": None}},
                "person": {"person": {"type": "users_select", "selected_user": None}},
                "amount": {"amount": {"type": "plain_text_input", "value": None}},
                "channel": {"channel": {"type": "conversations_select", "selected_conversation": None}}}


def admin_values(action: str, team: str | None = None, person: str | None = None, amount: str | None = None,
                 channel: str | None = None) -> dict:
    v = json.loads(json.dumps(ADMIN_VALUES))
    v["action"]["action"]["selected_option"] = {"value": action}
    if team:
        v["team"]["team"]["selected_option"] = {"value": team}
    v["person"]["person"]["selected_user"] = person
    v["amount"]["amount"]["value"] = amount
    v["channel"]["channel"]["selected_conversation"] = channel
    return v


def assert_valid_home(view: dict) -> None:
    """Slack's limits: 100 blocks, 3,000 characters a section text, 10 fields of 2,000, 150-character headers."""
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    for b in view["blocks"]:
        assert b["type"] in {"header", "section", "context", "actions", "divider"}
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= 3000
            assert len(b.get("fields", [])) <= 10 and all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "actions":
            assert len(b["elements"]) <= 25


async def test_home_differs_by_role(bot) -> None:
    await bot.ingest([{"id": "h1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 900.0},
                      {"id": "h2", "timestamp": int(NOW.timestamp()) - 60, "user": "grace", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 10.0}])
    await bot.sender.command("request 50 evals", "U0ADA", bot.slack.response_url())
    member = await build_home(bot.deps, "U0ALAN")
    approver = await build_home(bot.deps, "U0BOSS")
    admin = await build_home(bot.deps, "U0ADMIN")
    for view in (member, approver, admin):
        assert_valid_home(view)
    ada = block_texts((await build_home(bot.deps, "U0ADA"))["blocks"])
    assert "*Month to date*\n$900.00" in ada and "#1 $50.00: evals" in ada
    assert "Waiting for your approval" not in block_texts(member["blocks"])
    approver_text = block_texts(approver["blocks"])
    assert "Waiting for your approval (1)" in approver_text and "Budget request #1: $50.00" in approver_text
    assert any(b["type"] == "actions" and b["elements"][0]["action_id"] == "budget_request_approve" for b in approver["blocks"])
    assert "*Platform*: $900.00 of $1,000.00 (90%)" in approver_text and "Research" not in approver_text
    # App Home's bars are /tokens me's bars: 20 cells, 18 of them full at 90%.
    assert "`" + "█" * 18 + "░" * 2 + "`" in approver_text
    me_text = "\n".join(b["text"]["text"] for b in (await bot.sender.command("me", "U0ADA", bot.slack.response_url()))
                        ["blocks"] if isinstance(b.get("text"), dict))
    assert "`" + "█" * 18 + "░" * 2 + "`" in me_text
    from bot.features.warnings import scan
    from tests.support.digests import poster

    await scan(bot.deps, poster(bot))  # Platform is at 90% of its budget: the 50% and 80% lines are crossed
    admin = await build_home(bot.deps, "U0ADMIN")
    assert_valid_home(admin)
    admin_text = block_texts(admin["blocks"])
    assert "Platform crossed 80% of its 2026-11 budget" in admin_text
    ranked = [line for line in admin_text.splitlines() if line.startswith(("*Platform*", "*Research*"))]
    assert ranked[0].startswith("*Platform*") and ":rotating_light:" in ranked[0]  # projected overrun comes first


async def test_admin_changes_are_audited_exported_and_not_silently_undone(bot, tmp_path) -> None:  # noqa: ANN001
    answer = await bot.sender.command("admin", "U0ADA", bot.slack.response_url())
    assert "Only the org admins" in answer["text"]
    assert not bot.slack.calls_to("views.open")
    answer = await bot.sender.command("admin", "U0ADMIN", bot.slack.response_url())
    assert bot.slack.calls_to("views.open")[0].params["view"]["callback_id"] == "org_admin_submit"

    # A non-admin who forges a submission is refused on the server.
    status, body = await bot.sender.post_json(view_submission_body("org_admin_submit", "U0ADA",
                                                                   admin_values("set_team_budget", "platform", amount="1")))
    assert body["response_action"] == "errors" and "Only the org admins" in body["errors"]["action"]
    status, body = await bot.sender.post_json(view_submission_body("org_admin_submit", "U0ADMIN",
                                                                   admin_values("set_team_budget", "platform", amount="lots")))
    assert "not an amount" in body["errors"]["amount"]
    for values in (admin_values("set_team_budget", "platform", amount="$2,500"),
                   admin_values("set_person_budget", person="U0ALAN", amount="75"),
                   admin_values("add_approver", "research", person="U0ADA"),
                   admin_values("set_digest_channel", "research", channel="C0NEWRES")):
        status, body = await bot.sender.post_json(view_submission_body("org_admin_submit", "U0ADMIN", values))
        assert status == 200 and body is None
    dms = await wait_for(lambda: [c.params["text"] for c in bot.slack.calls_to("chat.postMessage")
                                  if c.params["channel"] == "U0ADMIN"] if len(bot.slack.calls_to("chat.postMessage")) >= 4 else None)
    assert "Done: Platform's monthly budget is now $2,500.00." in dms
    assert (await bot.deps.org.team_by_slug("platform")).monthly_budget_micros == 2_500_000_000
    assert "U0ADA" in (await bot.deps.org.team_by_slug("research")).approvers
    async with bot.deps.engine.connect() as conn:
        actions = [r.action for r in await conn.execute(select(audit_log.c.action).where(audit_log.c.actor == "U0ADMIN"))]
    assert actions == ["admin_team_budget", "admin_person_budget", "admin_add_approver", "admin_digest_channel"]
    assert await OrgAdminStore(bot.deps.engine).slack_edits() == 4

    exported = await OrgAdminStore(bot.deps.engine).export_org()
    assert await OrgAdminStore(bot.deps.engine).slack_edits() == 0
    org = parse_org(exported)
    assert {t.slug: t.monthly_budget_usd for t in org.teams} == {"platform": 2500.0, "research": 5000.0}
    assert next(t for t in org.teams if t.slug == "research").channel == "C0NEWRES"
    assert await bot.deps.org.sync(org, 0) == []  # the export round-trips: syncing it changes nothing
