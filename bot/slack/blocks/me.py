"""Block Kit rendering: pure functions from report objects to Slack message payloads."""
from __future__ import annotations

from typing import Any

from bot.domain.budget import BudgetLine, Totals
from bot.domain.org import OrgInfo
from bot.domain.format import bar, escape, tokens, usd
from bot.domain.impact import cost_per_outcome_text, impact_lines
from bot.domain.summary import MeReport

REQUEST_BUDGET_ACTION = "budget_request_open"


def _totals(label: str, t: Totals) -> str:
    return f"*{label}*\n{usd(t.cost_micros)} · {tokens(t.tokens)} tokens"


def budget_text(line: BudgetLine) -> str:
    p = line.projection
    pct = line.fraction * 100
    text = (f"*{escape(line.label)}*: {usd(line.spent_micros)} of {usd(line.budget_micros)} ({pct:.0f}%)\n"
            f"`{bar(line.fraction)}`\n")
    if p.exhausted:
        text += f":red_circle: Used up: {usd(-line.remaining_micros)} over. "
    else:
        text += f"{usd(line.remaining_micros)} left. "
    text += f"Projected month-end {usd(p.month_end_micros)} at {usd(p.daily_rate_micros)}/day"
    if p.runs_out_on is not None:
        text += f"; runs out *{p.runs_out_on:%b %-d}*"
    elif not p.exhausted:
        text += "; lasts the month"
    return text


def me_message(report: MeReport) -> dict[str, Any]:
    u = report.usage
    month_name = f"{u.now_local:%B %Y}"
    who = escape(report.person.name or report.person.email)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Your AI spend · {month_name}"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": _totals("Today", u.today)},
            {"type": "mrkdwn", "text": _totals("Last 7 days", u.last7)},
            {"type": "mrkdwn", "text": _totals("Month to date", u.month)},
            {"type": "mrkdwn", "text": f"*Requests this month*\n{u.month.requests:,}"},
        ]},
    ]
    for line in (report.personal_budget, report.team_budget):
        if line is not None:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": budget_text(line)}})
    if report.personal_budget is None and report.team_budget is None:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No monthly budget is set for you or your team."}})
    if u.top_models:
        lines = [f"• `{escape(m)}`: {usd(t.cost_micros)} · {tokens(t.tokens)} tokens" for m, t in u.top_models]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Top models this month*\n" + "\n".join(lines)}})
    if report.impact is not None:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": impact_text(report)[:3000]}})
    context = [f"{who} · {escape(report.team.name) if report.team else 'no team'} · "
               f"times in {u.now_local.tzname()} ({u.now_local:%b %-d, %H:%M})"]
    if u.month.unpriced_requests:
        context.append(f":warning: {u.month.unpriced_requests:,} request(s) this month used a model with no known price "
                       "and are counted at $0.")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": c} for c in context]})
    blocks.append({"type": "actions", "elements": [{
        "type": "button", "action_id": REQUEST_BUDGET_ACTION, "text": {"type": "plain_text", "text": "Request more budget"},
        "value": "me"}]})
    summary = f"Month to date {usd(u.month.cost_micros)}"
    if report.personal_budget:
        summary += f" of your {usd(report.personal_budget.budget_micros)} budget"
    return {"response_type": "ephemeral", "text": summary, "blocks": blocks}


def impact_text(report: MeReport) -> str:
    """What the spend bought: yours over 7 and 30 days, and your team's over 30, with the revert rate beside."""
    text = "*What your spend bought*\n" + impact_lines(report.impact or ())
    if report.team is not None and report.team_impact is not None:
        text += f"\n*{escape(report.team.name)}, last 30 days*: {cost_per_outcome_text(report.team_impact[1])}"
    return text


HELP_TEXT = (
    "*tokenbot* shows what you spend on AI and what is left.\n"
    "• `/tokens me`: your spend today, this week and this month, your budget and when it runs out\n"
    "• `/tokens request <amount> <reason>`: ask your team's approvers for more budget (e.g. `/tokens request 50 eval runs`)\n"
    "• `/tokens requests`: your budget requests and their state; cancel a pending one\n"
    "• `/tokens pending`: requests waiting for your approval\n"
    "• `/tokens team [slug]`: your team's (or another team's) spend against its budget\n"
    "• `/tokens top [slug]`: the team's top spenders, where its privacy setting allows\n"
    "• `/tokens models [slug]`: spend by model, and what a smaller model would have cost\n"
    "• `/tokens impact [slug]`: what the spend bought: cost per merged PR and per deploy, with the revert rate\n"
    "• `/tokens admin`: change budgets, approvers and digest channels (org admins)\n"
    "• `/tokens help`: this help"
)


def help_message(prefix: str | None = None) -> dict[str, Any]:
    text = (prefix + "\n\n" if prefix else "") + HELP_TEXT
    return {"response_type": "ephemeral", "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def text_message(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def me_plain(report: MeReport) -> str:
    """The same figures as `me_message`, as plain text for the CLI."""
    u = report.usage
    name = report.person.name or report.person.email
    lines = [f"{name} ({report.person.email}) · {report.team.name if report.team else 'no team'} · "
             f"{u.now_local:%Y-%m-%d %H:%M %Z}"]
    for label, t in (("today", u.today), ("last 7 days", u.last7), ("month to date", u.month)):
        lines.append(f"  {label:<14} {usd(t.cost_micros):>12}  {tokens(t.tokens):>7} tokens  {t.requests:>8,} requests")
    for line in (report.personal_budget, report.team_budget):
        if line is not None:
            p = line.projection
            runs = ("used up" if p.exhausted else f"runs out {p.runs_out_on:%Y-%m-%d}" if p.runs_out_on
                    else "lasts the month")
            lines.append(f"  {line.label}: {usd(line.spent_micros)} of {usd(line.budget_micros)} "
                         f"({line.fraction * 100:.0f}%) {bar(line.fraction)}; projected {usd(p.month_end_micros)}, {runs}")
    for model, t in u.top_models:
        lines.append(f"  model {model}: {usd(t.cost_micros)}, {tokens(t.tokens)} tokens")
    if u.month.unpriced_requests:
        lines.append(f"  {u.month.unpriced_requests:,} request(s) had no known price (counted at $0)")
    for i in report.impact or ():
        lines.append(f"  last {i.days} days: {cost_per_outcome_text(i)}")
    return "\n".join(lines)


def not_in_org_text(info: OrgInfo, email: str | None) -> str:
    """The answer to someone the org file does not name: who can add them."""
    who = [f"<@{a}>" for a in info.admins]
    if info.help_contact:
        who.append(escape(info.help_contact))
    ask = " or ".join(who) if who else "your FinOps team"
    you = f"your Slack email {escape(email)}" if email else "your Slack account"
    return (f"I can't find {you} in {escape(info.name)}'s org file, so I don't know your AI spend yet. "
            f"Ask {ask} to add you (with the ids the AI gateway knows you by).")
