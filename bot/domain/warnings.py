"""What was warned about, as admins list it."""
from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class SentWarning:
    """A warning that went out: a spike (its recorded message) or a budget line crossed, with whom it was about."""
    at: int
    kind: str  # "spike" | "line"
    scope: str  # person | team
    subject_name: str
    detail: str | None = None  # spike: the message as sent (mrkdwn, already escaped)
    threshold_pct: int | None = None
    period: str | None = None


SNOOZE = "snooze"
EXPECTED = "expected"
SNOOZE_S = 24 * 3600  # Snooze: no spike or budget warning about this person or team for a day
EXPECTED_S = 30 * 86400  # Expected: this spend level is normal for a month, then the detector's own baseline again


@dataclass(frozen=True)
class WarningKey:
    """Which warning a button is about: `spike:<scope>:<id>:<epoch hour>[:<n>]` or `line:<scope>:<id>:<YYYY-MM>:<pct>`."""
    kind: str  # spike | line
    scope: str  # person | team
    subject_id: int
    hour: int | None = None  # spike: the epoch hour warned about
    period: str | None = None  # line: the month

    @classmethod
    def parse(cls, text: object) -> WarningKey | None:
        """None for anything that is not a key we write (a tampered or truncated button value)."""
        parts = str(text or "").split(":")
        if (len(parts) < 4 or len(str(text)) > 120 or parts[1] not in ("person", "team") or not parts[2].isdigit()
                or len(parts[2]) > 18):  # ids are 64-bit: a longer number names nobody (and overflows a query)
            return None
        sid = int(parts[2])
        if parts[0] == "spike" and len(parts) in (4, 5) and all(p.isdigit() and len(p) < 12 for p in parts[3:]):
            return cls("spike", parts[1], sid, hour=int(parts[3]))
        if (parts[0] == "line" and len(parts) == 5 and len(parts[3]) == 7 and parts[3][4] == "-"
                and parts[3].replace("-", "").isdigit() and parts[4].isdigit()):
            return cls("line", parts[1], sid, period=parts[3])
        return None


@dataclass(frozen=True)
class WarningFeedback:
    """A Snooze or Expected press, as stored (first press per warning wins)."""
    warning_key: str
    scope: str
    subject_id: int
    action: str  # snooze | expected
    actor: str  # Slack user id
    at: int
    until: int
    level_micros: int | None = None  # expected: the spend per hour that is normal from now on


@dataclass(frozen=True)
class Muting:
    """What the feedback in force means for one person or team at one moment."""
    warnings_until: int = 0  # Snooze: no warning of either kind before this
    lines_until: int = 0  # Expected on a budget line: no budget line before this
    expected_level_micros: int = 0  # Expected on a spike: hourly spend up to this is no spike

    def spikes_muted(self, now_ts: int) -> bool:
        return now_ts < self.warnings_until

    def lines_muted(self, now_ts: int) -> bool:
        return now_ts < max(self.warnings_until, self.lines_until)


def muting(feedback: list[WarningFeedback], now_ts: int) -> dict[tuple[str, int], Muting]:
    """Per (scope, id): what the presses still in force add up to."""
    out: dict[tuple[str, int], Muting] = {}
    for f in feedback:
        if f.until <= now_ts:
            continue
        m = out.get((f.scope, f.subject_id), Muting())
        if f.action == SNOOZE:
            m = Muting(max(m.warnings_until, f.until), m.lines_until, m.expected_level_micros)
        elif f.warning_key.startswith("line:"):
            m = Muting(m.warnings_until, max(m.lines_until, f.until), m.expected_level_micros)
        else:
            m = Muting(m.warnings_until, m.lines_until, max(m.expected_level_micros, f.level_micros or 0))
        out[(f.scope, f.subject_id)] = m
    return out
