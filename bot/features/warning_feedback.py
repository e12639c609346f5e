"""The Snooze and Expected buttons on spike and budget warnings.

Who may press them is decided here, from the database, never from the payload: for a person's warning the person, the
approvers of their team and the org admins; for a team's warning its approvers and the admins. The first press on a
warning is stored (one row per warning, so a double click or a press delivered to two replicas counts once) and
audited; the scan reads what is in force:
- Snooze: no spike or budget warning about that person or team for 24 hours (spikes are still tracked, so no storm
  follows when it ends);
- Expected on a spike: the hour's spend becomes the least "usual" for that person or team for 30 days, so the next
  hour like it is not warned about (one twice as big still is);
- Expected on a budget line: no more budget lines for that person or team this month.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from zoneinfo import ZoneInfo

from bot.domain.budget import next_month_start
from bot.domain.format import usd
from bot.domain.warnings import EXPECTED, EXPECTED_S, SNOOZE, SNOOZE_S, WarningFeedback, WarningKey
from bot.features.deps import Deps
from bot.features.roles import viewer
from storage.stores.feedback import FeedbackStore


@dataclass(frozen=True)
class FeedbackOutcome:
    text: str  # the answer to the person who pressed (ephemeral)
    feedback: WarningFeedback | None = None  # stored now, or earlier by someone else
    new: bool = False  # this press stored it (update the card)
    level_text: str | None = None  # "$45.00/h" for an Expected spike


async def give(deps: Deps, user_id: str, action: str, key_text: object) -> FeedbackOutcome:
    key = WarningKey.parse(key_text)
    if key is None or action not in (SNOOZE, EXPECTED):
        return FeedbackOutcome("That button is broken: it names no warning.")
    subject = await _subject(deps, key)
    if subject is None:
        return FeedbackOutcome("That person or team is no longer in the org file.")
    name, team_id, own_user, tz = subject
    me = await viewer(deps, user_id, None)
    allowed = me.is_admin or (team_id is not None and team_id in me.approves) or (own_user == user_id)
    if not allowed:
        return FeedbackOutcome(f"Only {'the person, ' if key.scope == 'person' else ''}the team's approvers or an "
                               "admin can snooze this warning or mark it expected.")
    now_ts = int(deps.clock.now().timestamp())
    level = None
    if action == SNOOZE:
        until = now_ts + SNOOZE_S
    elif key.kind == "spike":
        until = now_ts + EXPECTED_S
        level = await _hour_spend(deps, key)
    else:
        until = int(next_month_start(deps.clock.now().astimezone(tz)).astimezone(UTC).timestamp())
    new, stored = await FeedbackStore(deps.engine).record(WarningFeedback(
        str(key_text), key.scope, key.subject_id, action, user_id, now_ts, until, level))
    level_text = f"{usd(stored.level_micros)}/h" if stored.level_micros else None
    if not new:
        what = "snoozed" if stored.action == SNOOZE else "marked expected"
        return FeedbackOutcome(f"Already {what} by <@{stored.actor}>.", stored, False, level_text)
    if action == SNOOZE:
        text = f"Snoozed: no spike or budget warnings about {name} for 24 hours."
    elif level is not None:
        text = f"Noted: up to {level_text} is normal for {name} for the next 30 days."
    else:
        text = f"Noted: no more budget warnings about {name} this month."
    return FeedbackOutcome(text, stored, True, level_text)


async def _subject(deps: Deps, key: WarningKey) -> tuple[str, int | None, str | None, ZoneInfo] | None:
    """(name, team id, the person's own Slack id, timezone) of the warning's person or team."""
    teams = {t.id: t for t in await deps.org.active_teams()}
    if key.scope == "team":
        team = teams.get(key.subject_id)
        return (team.name, team.id, None, ZoneInfo(team.timezone)) if team else None
    person = await deps.org.person_by_id(key.subject_id)
    if person is None:
        return None
    team = teams.get(person.team_id) if person.team_id else None
    return (person.name or person.email, person.team_id, person.slack_user_id,
            ZoneInfo(team.timezone if team else "UTC"))


async def _hour_spend(deps: Deps, key: WarningKey) -> int:
    """The spend of the warned hour as the ledger has it now (not as the button says)."""
    assert key.hour is not None
    read = deps.ledger.team_hours if key.scope == "team" else deps.ledger.person_hours
    return sum(r.cost_micros for r in await read(key.subject_id, key.hour, key.hour))
