"""Block Kit for `/tokens team`, `/tokens top` and `/tokens models`: pure functions."""
from __future__ import annotations

from typing import Any

from bot.domain.alternatives import Alternative, ModelUse
from bot.domain.budget import BudgetLine
from bot.domain.format import tokens, usd
from bot.domain.impact import Impact, cost_per_outcome_text, impact_lines
from bot.slack.blocks.me import budget_text, escape
from bot.domain.summary import UsageSummary


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _ephemeral(text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, "blocks": blocks[:50]}


def spender_line(i: int, person: tuple) -> str:  # type: ignore[type-arg]
    """`1. <@U1>: $120.00 · 4 merged PRs · 1 deploy`: a spender's outcomes stand beside their spend, when known."""
    label, cost, *outcomes = person
    return f"{i}. {label}: {usd(cost)}" + (f" · {outcomes[0]}" if outcomes else "")


def team_message(team_name: str, usage: UsageSummary, line: BudgetLine | None, people: list[tuple] | None,
                 active_people: int, impacts: tuple[Impact, ...] = ()) -> dict[str, Any]:
    """`people`: (mrkdwn-safe label, cost[, what it bought]) when the viewer may see per-person figures; else only the
    count is shown. `impacts`: the team's cost per outcome over 7 and 30 days."""
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
    if impacts:
        blocks.append(_section("*What the spend bought*\n" + impact_lines(impacts)))
    if people is not None:
        top = people[:10]
        blocks.append(_section("*Top spenders this month*, with what they shipped\n" + ("\n".join(
            spender_line(i, p) for i, p in enumerate(top, 1)) or "nobody yet")))
    return _ephemeral(f"{team_name}: {usd(usage.month.cost_micros)} this month", blocks)


def top_message(team_name: str, people: list[tuple] | None, active_people: int) -> dict[str, Any]:
    if people is None:
        text = (f"*{escape(team_name)}* does not share per-person figures; {active_people} people used AI this month. "
                "Its approvers and the FinOps admins can see who.")
        return _ephemeral(text, [_section(text)])
    lines = [spender_line(i, p) for i, p in enumerate(people[:15], 1)]
    text = (f"*Top spenders in {escape(team_name)} this month*, with what they shipped\n"
            + ("\n".join(lines) or "nobody yet"))
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


def impact_message(team_name: str, impacts: tuple[Impact, ...], members: list[tuple[str, Impact]] | None,
                   active_people: int) -> dict[str, Any]:
    """`/tokens impact`: the team's cost per outcome over 7 and 30 days; per person (30 days, spend beside what it
    bought, in name order: never a ranking by spend) when the viewer may see per-person figures."""
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": f"{team_name[:100]} · what the AI spend bought"}},
              _section(impact_lines(impacts))]
    if members is None:
        blocks.append(_section(f"{active_people} people spent or shipped in the last 30 days; this team does not share "
                               "per-person figures (its approvers and the FinOps admins can see them)."))
    elif members:
        lines = [f"• {label}: {cost_per_outcome_text(i)}" for label, i in members[:40]]
        for start in range(0, len(lines), 20):
            heading = "*People, last 30 days*\n" if start == 0 else ""
            blocks.append(_section(heading + "\n".join(lines[start:start + 20])))
        if len(members) > 40:
            blocks.append(_section(f"…and {len(members) - 40} more."))
    else:
        blocks.append(_section("Nobody spent or shipped in the last 30 days."))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "Outcomes: merged pull requests, pushes and deploys from GitHub, and what other systems send to "
        "`/v1/outcomes`. Revert rate: merged PRs a later revert undid. Spend per outcome is a conversation starter, "
        "not a score.")}]})
    month = impacts[-1] if impacts else None
    text = f"{team_name}: what the AI spend bought" + (f" (30 days: {cost_per_outcome_text(month)})" if month else "")
    return _ephemeral(escape(text), blocks)
