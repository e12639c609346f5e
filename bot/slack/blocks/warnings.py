"""Warning messages (budget lines, spikes) and the pure decisions behind them: no I/O."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.budget import BudgetLine
from bot.domain.format import bar, usd
from bot.domain.format import escape
from bot.slack.blocks.requests import slack_date
from bot.domain.warnings import EXPECTED, SentWarning, WarningFeedback
from bot.domain.spikes import SpikeVerdict


def threshold_actions(spent_micros: int, budget_micros: int, ladder: Iterable[int], fired: set[int]
                      ) -> tuple[list[int], list[int]]:
    """(lines to fire now, lines to re-arm). A line is crossed when spend >= pct% of the budget; a fired line that is
    no longer crossed (the budget was raised) is re-armed, so it warns again if spend reaches it."""
    if budget_micros <= 0:
        return [], []
    crossed = {t for t in ladder if spent_micros * 100 >= t * budget_micros}
    return sorted(crossed - fired), sorted(t for t in fired if t not in crossed)


def threshold_message(who: str, scope: str, pct: int, line: BudgetLine, month: str) -> str:
    """`who`: the team's name (team channel) or the person's (their DM). `pct`: the highest line just crossed."""
    p = line.projection
    used = f"{usd(line.spent_micros)} of {usd(line.budget_micros)} ({line.fraction * 100:.0f}%)"
    subject = "Your" if scope == "person" else f"{escape(who)}'s"
    if pct >= 100:
        head = f":red_circle: {subject} {month} AI budget is used up: {used}."
    else:
        head = f":warning: {subject} {month} AI budget has passed {pct}%: {used}."
    tail = f"\n`{bar(line.fraction)}`\nProjected month-end {usd(p.month_end_micros)} at {usd(p.daily_rate_micros)}/day"
    if p.runs_out_on is not None:
        tail += f"; runs out {p.runs_out_on:%b %-d}"
    how = " Use `/tokens me` for details or to request more." if scope == "person" else ""
    return head + tail + "." + how


@dataclass(frozen=True)
class SpikeContext:
    who: str  # team or person name
    scope: str
    hour_start: datetime  # local
    partial: bool  # the hour is still running
    top_model: tuple[str, int] | None  # (model, cost micros) that hour
    top_person: tuple[str, int] | None  # for a team: (name, cost micros) that hour
    budget: BudgetLine | None  # the month so far, with its projection
    extra_today_micros: int  # if the excess rate holds for the rest of the local day


def spike_message(v: SpikeVerdict, c: SpikeContext) -> str:
    when = f"{c.hour_start:%H:%M}–{(c.hour_start.hour + 1) % 24:02d}:00 {c.hour_start.tzname()}"
    subject = "Your" if c.scope == "person" else f"{escape(c.who)}'s"
    so_far = " so far" if c.partial else ""
    multiple = "many times" if v.multiple == float("inf") else f"{v.multiple:.1f}×"
    head = (":chart_with_upwards_trend: *Spend spike*" if v.kind == "new"
            else ":rotating_light: *Spend spike still growing*")
    text = (f"{head}: {subject} AI spend {when}{so_far} is ${v.value:,.2f}, {multiple} the usual ${v.expected:,.2f} "
            f"for a {c.hour_start:%A} at this hour.")
    drivers = []
    if c.top_model:
        drivers.append(f"model `{escape(c.top_model[0])}` ({usd(c.top_model[1])})")
    if c.top_person:
        drivers.append(f"{escape(c.top_person[0])} ({usd(c.top_person[1])})")
    if drivers:
        text += " Mostly " + " and ".join(drivers) + "."
    if c.budget is not None:
        b = c.budget
        new_end = b.projection.month_end_micros + c.extra_today_micros
        text += (f"\nIf it keeps up for the rest of today: +{usd(c.extra_today_micros)}, month-end projection "
                 f"{usd(b.projection.month_end_micros)} → {usd(new_end)} of the {usd(b.budget_micros)} budget "
                 f"({new_end / b.budget_micros * 100:.0f}%)." if b.budget_micros > 0 else "")
    elif c.extra_today_micros:
        text += f"\nIf it keeps up for the rest of today: +{usd(c.extra_today_micros)}."
    return text


def warning_line(w: SentWarning) -> str:
    """One line of the admins' list. A spike's message was written to its reader ("Your AI spend …"): for an admin it
    names whose spend it was. Recorded text is already escaped; names are escaped here."""
    when = slack_date(w.at, "{date_short} {time}")
    who = escape(w.subject_name)
    if w.kind == "line":
        return f"{when} {who} crossed {w.threshold_pct}% of its {w.period} budget"
    headline = (w.detail or "").splitlines()[0] if w.detail else ""
    if headline and w.scope == "person":
        headline = headline.replace(": Your AI spend", f": {who}'s AI spend", 1)
    return f"{when} {headline or f'*Spend spike*: {who}'}"


SNOOZE_ACTION = "warning_snooze"
EXPECTED_ACTION = "warning_expected"
FEEDBACK_BLOCK = "warning_feedback"


def warning_blocks(text: str, key: str) -> list[dict]:
    """A warning card: the message and its Snooze and Expected buttons. The buttons carry only the warning's key;
    who may press them, and what they do, is decided on the server."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": FEEDBACK_BLOCK, "elements": [
                {"type": "button", "action_id": SNOOZE_ACTION, "value": key,
                 "text": {"type": "plain_text", "text": "Snooze 24 h"}},
                {"type": "button", "action_id": EXPECTED_ACTION, "value": key,
                 "text": {"type": "plain_text", "text": "Expected"}}]}]


def feedback_note(f: WarningFeedback, level_text: str | None) -> str:
    """The line that replaces the buttons once someone pressed one (`level_text`: "$45.00/h" for a spike)."""
    until = slack_date(f.until, "{date_short} {time}")
    who = f"<@{escape(f.actor)}>"
    if f.action == EXPECTED:
        what = f"spend up to {level_text} is normal here" if level_text else "no more budget warnings this month"
        return f":white_check_mark: Marked expected by {who}: {what} until {until}."
    return f":zzz: Snoozed by {who}: no spike or budget warnings about this until {until}."


def feedback_blocks(blocks: list[dict], note: str) -> list[dict]:
    """The card as it was, with the buttons replaced by who pressed what."""
    kept = [b for b in blocks if isinstance(b, dict) and b.get("block_id") != FEEDBACK_BLOCK]
    return kept + [{"type": "context", "block_id": FEEDBACK_BLOCK, "elements": [{"type": "mrkdwn", "text": note}]}]
