"""`/tokens models` and `/tokens top` as Slack shows them (pure rendering, no database)."""
from __future__ import annotations

from bot.domain.alternatives import Alternative, ModelUse
from bot.slack.blocks.team import models_message, top_message
from tests.support.blocks import block_texts


def test_models_notification_says_it_once_and_savings_add_up() -> None:
    uses = [(ModelUse("gpt-4o", 120, 1_954_974, 10_000, 0, 9_000_000), Alternative("gpt-4o-mini", 1_000_000)),
            (ModelUse("gpt-4o-mini", 40, 30_000, 1_000, 0, 500_000), None)]
    message = models_message("Your spend by model", uses)
    assert message["text"] == "Your spend by model (last 30 days)"
    text = block_texts(message["blocks"])
    assert "• `gpt-4o`: $9.00 · 120 requests · 1.96M tokens" in text
    assert "on `gpt-4o-mini` it would have cost $1.00 (save $8.00)" in text
    assert "Smaller models could have saved up to $8.00" in text


def test_team_names_are_escaped_in_the_notification_too() -> None:
    message = top_message("<!here> team", [("Ada", 1_000_000)], 1)
    assert "<!here>" not in message["text"] and "&lt;!here&gt; team" in message["text"]
    message = models_message("<!here>: spend by model", [])
    assert "<!here>" not in message["text"] + block_texts(message["blocks"])
