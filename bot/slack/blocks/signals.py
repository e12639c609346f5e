"""Signal messages (a loop, a runaway session, burn without outcome): the evidence in numbers, in the person's words
where they typed any (escaped), and the Snooze (a day, a week) and *This is expected* buttons. No I/O."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.format import escape, usd
from bot.domain.signals import DAY_S, IDLE, LOOP, Finding
from bot.slack.blocks.warnings import EXPECTED_ACTION, FEEDBACK_BLOCK, SNOOZE_ACTION

SNOOZE_WEEK_ACTION = "warning_snooze_week"


def _clock(ts: int, tz: ZoneInfo, zone: bool = True) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%H:%M %Z" if zone else "%H:%M")


def signal_message(f: Finding, who: str, tz: ZoneInfo, team_name: str | None = None, to_approver: bool = False) -> str:
    """The warning as the person (or, for a severe one, their team's approvers) reads it."""
    e = f.evidence
    whose = f"{escape(who)}'s" if to_approver else "Your"
    subject = escape(who) if to_approver else "You"
    if f.kind == LOOP:
        text = (f":repeat: *Possible loop*: {subject} sent {e['requests']:,} requests with the same prompt in "
                f"{e['minutes']:,} minutes ({_clock(e['first'], tz, False)}–{_clock(e['last'], tz)}), {usd(e['cost_micros'])} "
                f"on {escape(e['model'])}.\nOnly a fingerprint of the prompt is kept (`{e['fingerprint']}`), never "
                "its text. If an agent or a script is retrying the same request, stopping it stops the spend.")
    elif f.kind == IDLE:
        first = datetime.fromtimestamp(e["first_day"] * DAY_S, tz).strftime("%b %-d")
        team = escape(team_name) if team_name else "the team"
        text = (f":hourglass: *Spend without outcomes*: {whose} AI spend was {usd(e['spent_micros'])} over "
                f"{e['days']} days since {first} ({usd(e['per_day_micros'])} a day, above {usd(e['line_micros'])} a "
                f"day) with no outcome of {'theirs' if to_approver else 'yours'} recorded (a merged pull request, a "
                f"deploy, a closed ticket), while {team} recorded {e['team_outcomes']:,} outcomes in the same days.\n"
                "If the work shipped somewhere tokenbot does not see, mark this expected.")
    else:
        text = (f":rotating_light: *Runaway session*: {whose} session `{escape(str(e['session'])[:40])}` spent "
                f"{usd(e['hour_micros'])} within an hour, {e['times']:g}× {'their' if to_approver else 'your'} usual "
                f"{usd(e['usual_micros'])} an hour ({e['requests']:,} requests since {_clock(e['first'], tz)}, "
                f"{usd(e['cost_micros'])} in all, mostly {escape(e['model'])}).\nIf an agent is stuck, stopping the "
                "session stops the spend.")
    if f.severe and not to_approver:
        text += "\nYour team's approvers were told too."
    return text


def signal_blocks(text: str, key: str) -> list[dict]:
    """The card: the message and its buttons, which carry only the warning's key (decided on the server)."""
    def button(action: str, label: str) -> dict:
        return {"type": "button", "action_id": action, "value": key, "text": {"type": "plain_text", "text": label}}

    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": FEEDBACK_BLOCK, "elements": [
                button(SNOOZE_ACTION, "Snooze a day"), button(SNOOZE_WEEK_ACTION, "Snooze a week"),
                button(EXPECTED_ACTION, "This is expected")]}]


def signal_headline(text: str) -> str:
    return text.splitlines()[0].replace("*", "")
