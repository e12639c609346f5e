"""The App Home view: pure assembly of sections, cut to fit Slack's 100-block limit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.format import bar, usd
from bot.domain.format import escape
from bot.slack.blocks.requests import state_line
from bot.slack.blocks.unclaimed import unclaimed_blocks
from bot.domain.requests import BudgetRequest
from bot.domain.unclaimed import Unclaimed

MAX_BLOCKS = 100


@dataclass(frozen=True)
class TeamRisk:
    name: str
    spent_micros: int
    budget_micros: int | None
    projected_micros: int

    @property
    def risk(self) -> float:
        """Projected overrun first: projected spend as a share of budget (no budget: least risk)."""
        return self.projected_micros / self.budget_micros if self.budget_micros else -1.0


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def team_line(t: TeamRisk) -> str:
    if not t.budget_micros:
        return f"*{escape(t.name)}*: {usd(t.spent_micros)} this month (no budget)"
    pct = t.spent_micros / t.budget_micros * 100
    flag = " :rotating_light:" if t.projected_micros > t.budget_micros else ""
    return (f"*{escape(t.name)}*: {usd(t.spent_micros)} of {usd(t.budget_micros)} ({pct:.0f}%) "
            f"`{bar(t.spent_micros / t.budget_micros)}` projected {usd(t.projected_micros)}{flag}")


def home_view(me_blocks: list[dict[str, Any]], my_requests: list[BudgetRequest], pending_cards: list[dict[str, Any]],
              my_teams: list[TeamRisk], all_teams: list[TeamRisk] | None, warnings: list[str],
              unclaimed: Unclaimed | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = list(me_blocks)
    if my_requests:
        blocks += [{"type": "divider"}, _section("*Your recent budget requests*\n" + "\n".join(
            f"#{r.id} {usd(r.amount_micros)}: {escape(r.reason[:60])}\n{state_line(r)}" for r in my_requests[:5]))]
    if pending_cards:
        blocks += [{"type": "divider"}, _header(f"Waiting for your approval ({len(pending_cards)})")]
        for card in pending_cards[:5]:
            blocks += card["blocks"]
        if len(pending_cards) > 5:
            blocks.append(_section(f"…and {len(pending_cards) - 5} more: `/tokens pending`."))
    if my_teams:
        blocks += [{"type": "divider"}, _section("*Teams you approve for*\n" + "\n".join(team_line(t) for t in my_teams[:20]))]
    # Before the team list: the cap below drops from the end, and this is what tells a wrong gateway setup.
    blocks += unclaimed_blocks(unclaimed)
    if all_teams is not None:
        ranked = sorted(all_teams, key=lambda t: (-t.risk, -t.spent_micros, t.name))
        blocks += [{"type": "divider"}, _header("All teams, by risk of overrun")]
        lines = [team_line(t) for t in ranked]
        for i in range(0, min(len(lines), 150), 15):  # 15 teams a section keeps each under 3,000 characters
            blocks.append(_section("\n".join(lines[i:i + 15])))
        if len(lines) > 150:
            blocks.append(_section(f"…and {len(lines) - 150} more teams: `tokenbot usage show --team SLUG`."))
    if warnings:
        blocks += [{"type": "divider"}, _section("*Latest warnings*\n" + "\n".join(f"• {w}" for w in warnings[:10]))]
    if len(blocks) > MAX_BLOCKS:  # never let Slack reject the whole view: drop from the end, say so
        blocks = blocks[:MAX_BLOCKS - 1] + [_section("(more on `/tokens pending` and `/tokens team`)")]
    return {"type": "home", "blocks": blocks}
