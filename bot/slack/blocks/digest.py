"""A team's daily digest as a Slack message: pure functions from DigestFigures to text and Block Kit."""
from __future__ import annotations

from typing import Any

from bot.domain.format import tokens, usd
from bot.domain.digest_figures import DigestFigures
from bot.domain.impact import cost_per_outcome_text, impact_lines, outcomes_text
from bot.slack.blocks.me import budget_text, escape

SPARK = "▁▂▃▄▅▆▇█"


def change_text(f: DigestFigures) -> str:
    if f.change is None:
        return "no spend in the 7 days before"
    arrow = "▲" if f.change > 0 else "▼" if f.change < 0 else "="
    return f"{arrow} {f.change * 100:+.0f}% vs 7-day avg {usd(f.avg7_cost_micros)}/day"


def summary_text(f: DigestFigures) -> str:
    """The message's `text`: notifications, screen readers and clients without blocks see the key numbers."""
    y = f.yesterday
    text = (f"{f.team_name} AI spend {f.yesterday_date:%a %b %-d}: {usd(y.cost_micros)} ({tokens(y.tokens)} tokens), "
            f"{change_text(f)}. Month to date {usd(f.month.cost_micros)}")
    if f.budget is not None:
        p = f.budget.projection
        text += f" of {usd(f.budget.budget_micros)} ({f.budget.fraction * 100:.0f}%), projected {usd(p.month_end_micros)}"
        if p.runs_out_on is not None:
            text += f", runs out {p.runs_out_on:%b %-d}"
    text += "."
    if f.pending_requests:
        text += f" {f.pending_requests} budget request(s) pending."
    return text


def sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in values)


def chart_fallback_text(f: DigestFigures) -> str:
    values = [c for _d, c in f.daily]
    text = (f"*Last {len(values)} days* ({f.daily[0][0]:%b %-d} – {f.daily[-1][0]:%b %-d})\n`{sparkline(values)}`\n"
            f"peak {usd(max(values, default=0))}/day")
    if f.daily_budget_micros is not None:
        over = sum(1 for v in values if v > f.daily_budget_micros)
        text += f" · budget pace {usd(f.daily_budget_micros)}/day · {over} day(s) above it"
    return text


def digest_message(f: DigestFigures, chart_file_id: str | None) -> dict[str, Any]:
    """`chart_file_id`: an uploaded PNG shown with an image block; None shows the text sparkline instead."""
    y = f.yesterday
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{f.team_name} · AI spend · {f.digest_date:%a %b %-d}"[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Yesterday ({f.yesterday_date:%a %b %-d})*\n{usd(y.cost_micros)} · "
                                       f"{tokens(y.tokens)} tokens · {y.requests:,} requests"},
            {"type": "mrkdwn", "text": f"*Against the week before*\n{change_text(f)}"},
            {"type": "mrkdwn", "text": f"*Month to date*\n{usd(f.month.cost_micros)} · {tokens(f.month.tokens)} tokens"},
            {"type": "mrkdwn", "text": f"*Budget requests pending*\n{f.pending_requests}"},
        ]},
    ]
    if f.budget is not None:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": budget_text(f.budget)}})
    else:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No monthly budget is set for this team."}})
    if f.top_models:
        lines = [f"• `{escape(m)}`: {usd(t.cost_micros)} · {tokens(t.tokens)} tokens" for m, t in f.top_models]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Top models yesterday*\n" + "\n".join(lines)}})
    if f.steering:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f.steering}})
    if f.spenders is not None:
        if f.spenders:
            lines = [f"{i}. {escape(s.name)}: {usd(s.cost_micros)} · {tokens(s.tokens)} tokens"
                     + (f" · last 7 days {usd(s.shipped.spend_micros)}: {outcomes_text(s.shipped)}" if s.shipped else "")
                     for i, s in enumerate(f.spenders, 1)]
            people = "*Top spenders yesterday*\n" + "\n".join(lines)
        else:
            people = "*Top spenders yesterday*\nnobody"
    else:
        people = f"*Active people yesterday*: {f.active_people}"
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": people}})
    if f.impact:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": ("*What the spend bought*\n" + impact_lines(f.impact))[:3000]}})
    if chart_file_id is not None:
        blocks.append({"type": "image", "slack_file": {"id": chart_file_id},
                       "alt_text": f"Daily spend of the last {len(f.daily)} days against the budget pace"})
    else:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chart_fallback_text(f)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                   f"Days in {f.as_of.tzname()}; month to date and projection as of {f.as_of:%b %-d %H:%M}. "
                   "Your own figures: `/tokens me`"}]})
    return {"text": summary_text(f), "blocks": blocks}


def digest_plain(f: DigestFigures) -> str:
    """The digest as plain text (`tokenbot digest --dry-run`)."""
    lines = [summary_text(f)]
    if f.budget is not None:
        lines.append(budget_text(f.budget).replace("*", "").replace("`", ""))
    for m, t in f.top_models:
        lines.append(f"  model {m}: {usd(t.cost_micros)}, {tokens(t.tokens)} tokens")
    if f.spenders is not None:
        lines += [f"  spender {s.name}: {usd(s.cost_micros)}" for s in f.spenders]
    else:
        lines.append(f"  active people yesterday: {f.active_people}")
    lines.append(f"  pending budget requests: {f.pending_requests}")
    lines += [f"  last {i.days} days: {cost_per_outcome_text(i)}" for i in f.impact]
    lines.append(chart_fallback_text(f).replace("*", "").replace("`", ""))
    return "\n".join(lines)
