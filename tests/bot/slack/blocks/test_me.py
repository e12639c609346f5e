"""`/tokens me` as Slack shows it, rendered from a report (pure, no database)."""
from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.budget import budget_line
from bot.domain.org import Person, Team
from bot.domain.summary import MeReport, summarize, windows
from bot.slack.blocks.me import me_message, me_plain
from tests.support.blocks import block_texts

NOW = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
W = windows(NOW, "Europe/Berlin")
USAGE = summarize({"gpt-4o": [(2_000_000, 1_954_974, 3, 0), (20_000_000, 1_954_974, 30, 0),
                              (80_000_000, 2_700_000, 90, 0)]}, W)
ADA = Person(1, "ada@example.com", "U0ADA", "Ada <!channel>", 1, 100_000_000)
TEAM = Team(1, "platform", "Platform & co", "C0PLAT", "Europe/Berlin", "09:00", 1_000_000_000, True, ())


def report(personal: bool = True) -> MeReport:
    line = budget_line("Your budget", 100_000_000 if personal else None, 50_000_000, USAGE.month.cost_micros,
                       USAGE.last7.cost_micros, W.now_local)
    team = budget_line("Platform & co", 1_000_000_000, 0, 900_000_000, 210_000_000, W.now_local)
    return MeReport(ADA, TEAM, USAGE, line, team, None)


def test_me_shows_spend_budget_bar_and_projection() -> None:
    message = me_message(report())
    text = block_texts(message["blocks"])
    assert "*Today*\n$2.00 · 1.95M tokens" in text
    assert "*Month to date*\n$80.00 · 2.7M tokens" in text
    assert "*Your budget*: $80.00 of $150.00 (53%)" in text  # $100 in the org file + a $50 raise
    assert "`" + "█" * 11 + "░" * 9 + "`" in text and "$70.00 left" in text
    assert "*Platform &amp; co*: $900.00 of $1,000.00 (90%)" in text
    assert "Ada &lt;!channel&gt;" in text and "<!channel>" not in text


def test_plain_text_for_the_cli_has_the_same_figures() -> None:
    plain = me_plain(report())
    assert "$80.00 of $150.00 (53%) " + "█" * 11 + "░" * 9 in plain
    assert "month to date        $80.00     2.7M tokens" in plain


def test_no_budget_says_so() -> None:
    r = report(personal=False)
    r = MeReport(r.person, r.team, r.usage, None, None, None)
    assert "No monthly budget is set for you or your team." in block_texts(me_message(r)["blocks"])
