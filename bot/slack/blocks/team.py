"""Block Kit for `/tokens team`, `/tokens top` and `/tokens models`: pure functions."""
from __future__ import annotations

from typing import Any

from bot.domain.alternatives import Alternative, ModelUse
from bot.domain.budget import BudgetLine
from bot.domain.format import tokens, usd
from bot.slack.blocks.me import budget_text, escape
from bot.domain.summary import UsageSummary


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _ephemeral(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, "blocks": blocks[:50]}


def team_message(team_name: str, usage: UsageSummary, line: BudgetLine | None, people: list[tuple[str, int]] | None,
                 active_people: int) -> dict[str, Any]:
    """`people`: (mrkdwn-safe label, cost) when the viewer may see per-person figures; else only the count is shown."""
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{team_name[:100]} · {usage.now_local:%B %Y}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Today*\n{usd(usage.today.cost_micros)}"},
            {"type": "mrkdwn", "text": f"*Last 7 days*\n{usd(usage.last7.cost_micros)}"},
            {"type": "mrkdwn", "text": f"*Month to date*\n{usd(usage.month.cost_micros)} · {tokens(usage.month.tokens)} tokens"},
            {"type": "mrkdwn", "text": f"*Active people this month*\n{active_people}"},
        ]},
    ]
    if line is not None:
        blocks.append(_section(budget_text(line)))
    if usage.top_models:
        blocks.append(_section("*Top models*\n" + "\n".join(
            f"• `{escape(m)}`: {usd(t.cost_micros)}" for m, t in usage.top_models)))
    if people is not None:
        top = people[:10]
        blocks.append(_section("*Top spenders this month*\n" + ("\n".join(
            f"{i}. {label}: {usd(cost)}" for i, (label, cost) in enumerate(top, 1)) or "nobody yet")))
    return _ephemeral(f"{team_name}: {usd(usage.month.cost_micros)} this month", blocks)


def top_message(team_name: str, people: list[tuple[str, int]] | None, active_people: int) -> dict[str, Any]:
    if people is None:
        text = (f"*{escape(team_name)}* does not share per-person figures; {active_people} people used AI this month. "
                "Its approvers and the FinOps admins can see who.")
        return _ephemeral(text, [_section(text)])
    lines = [f"{i}. {label}: {usd(cost)}" for i, (label, cost) in enumerate(people[:15], 1)]
    text = f"*Top spenders in {escape(team_name)} this month*\n" + ("\n".join(lines) or "nobody yet")
    return _ephemeral(f"Top spenders in {escape(team_name)}", [_section(text)])


def models_message(title: str, uses: list[tuple[ModelUse, Alternative | None]]) -> dict[str, Any]:
    if not uses:
        text = f"*{escape(title)}*\nNo usage in the last 30 days."
        return _ephemeral(text, [_section(text)])
    lines = []
    saving = 0
    for use, alt in uses[:15]:
        line = f"• `{escape(use.model)}`: {usd(use.cost_micros)} · {use.requests:,} requests · {tokens(use.input_tokens + use.output_tokens)} tokens"
        if alt is not None:
            line += f"\n      on `{escape(alt.model)}` it would have cost {usd(alt.cost_micros)} (save {usd(alt.saving(use.cost_micros))})"
            saving += alt.saving(use.cost_micros)
        lines.append(line)
    text = f"*{escape(title)}* (last 30 days)\n" + "\n".join(lines)
    blocks = [_section(text)]
    if saving > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"Smaller models could have saved up to {usd(saving)}. Advice only: whether they are good enough for the "
            "work is your call.")}]})
    return _ephemeral(f"{escape(title)} (last 30 days)", blocks)
