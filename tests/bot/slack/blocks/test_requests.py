"""The approval card in each state, as approvers see it (pure rendering, no database)."""
from __future__ import annotations

from dataclasses import replace

from bot.domain.requests import BudgetRequest
from bot.slack.blocks.requests import APPROVE, DENY, card, requests_list
from tests.support.blocks import block_texts

PENDING = BudgetRequest(
    id=7, person_id=1, team_id=1, requester_slack_id="U0ADA", amount_micros=50_000_000,
    reason="evals for <!channel> & <https://evil.example|docs>", period="month", month="2026-11", scope="person",
    status="pending", stage="team", first_approver=None, decided_by=None, decided_at=None, decision_reason=None,
    created_at=1_790_000_000, remind_at=0, escalate_at=0, expires_at=1_790_172_800, reminded_at=None,
    escalated_at=None, context={"budget_micros": 100_000_000, "spent_micros": 80_000_000, "spent_pct": 80.0,
                                "projected_micros": 120_000_000})


def actions(message: dict) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_pending_card_shows_the_figures_and_buttons_and_escapes_the_reason() -> None:
    message = card(PENDING, "Platform <team>", actionable=True)
    text = block_texts(message["blocks"])
    for expected in ("Budget request #7: $50.00", "*Personal budget*\n$100.00", "*Spent this month*\n$80.00 (80%)",
                     "*New total if approved*\n$150.00", "*Team*\nPlatform &lt;team&gt;",
                     "evals for &lt;!channel&gt; &amp; &lt;https://evil.example|docs&gt;", "Pending. Expires"):
        assert expected in text, expected
    assert "<!channel>" not in text and actions(message) == [APPROVE, DENY]
    assert card(PENDING, "Platform", actionable=False)["blocks"][-1]["type"] != "actions"  # a reader who cannot act


def test_decided_card_has_no_buttons_and_says_who_and_why() -> None:
    denied = replace(PENDING, status="denied", decided_by="U0BOSS", decided_at=1_790_003_600,
                     decision_reason="try <!here> haiku")
    message = card(denied, "Platform", actionable=True)
    text = block_texts(message["blocks"])
    assert actions(message) == []
    assert ":x: Denied by <@U0BOSS>" in text and ">try &lt;!here&gt; haiku" in text
    assert message["text"].startswith("Budget request #7 from <@U0ADA>: $50.00 — :x: Denied by <@U0BOSS>")
    auto = block_texts(card(replace(PENDING, status="approved", decided_by="auto", decided_at=1), "P", True)["blocks"])
    assert "Approved automatically" in auto


def test_requests_list_escapes_reasons() -> None:
    listed = requests_list([PENDING])
    assert "<!channel>" not in block_texts(listed["blocks"]) + listed["text"]
