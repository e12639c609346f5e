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
