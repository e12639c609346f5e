"""Outcome events (pull requests, commits) per person for a month: what `tokenbot usage outcomes` prints."""
from __future__ import annotations

from datetime import UTC, date
from typing import Any

from bot.domain.reconcile import day_start_ts
from storage.stores.outcomes import OutcomeTotal


async def load_outcomes(deps: Any, month: date | None = None) -> tuple[date, list[OutcomeTotal], dict[int, str]]:
    """The month's (UTC) outcome counts by kind and person, and the emails of those people."""
    today = deps.clock.now().astimezone(UTC).date()
    month = month or today.replace(day=1)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    totals = await deps.outcomes.totals(day_start_ts(month), day_start_ts(following))
    people = await deps.org.people_by_id(sorted({t.person_id for t in totals if t.person_id is not None}))
    return month, totals, {pid: p.email for pid, p in people.items()}


def outcomes_plain(month: date, totals: list[OutcomeTotal], emails: dict[int, str]) -> str:
    """One line per person (or per id nobody in the org file claims yet): pull requests and commits."""
    by_who: dict[str, dict[str, int]] = {}
    for t in totals:
        who = emails.get(t.person_id, f"person {t.person_id}") if t.person_id is not None else (
            f"{t.user_ref or 'nobody named'} (not in the org file)")
        by_who.setdefault(who, {})[t.kind] = by_who.get(who, {}).get(t.kind, 0) + t.count
    if not by_who:
        return f"no outcome events in {month:%Y-%m}"
    lines = [f"outcomes {month:%Y-%m} (UTC): pull requests, commits"]
    for who, kinds in sorted(by_who.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        lines.append(f"{who}: {kinds.get('pull_request', 0):,} pull requests, {kinds.get('commit', 0):,} commits"
                     + "".join(f", {n:,} {k}" for k, n in sorted(kinds.items()) if k not in ("pull_request", "commit")))
    return "\n".join(lines)


__all__ = ["load_outcomes", "outcomes_plain"]
