"""Tables of the scheduled work: the exactly-once run log (digests, and any job that must happen once), budget
threshold warnings already sent, spike episode state, and each team's threshold ladder from the org file."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from storage.tables.core import metadata

# One row per unit of work that must happen once (e.g. "digest:<team id>:<local date>"). A process claims the key by
# inserting the row, or by taking over a failed row or one whose lease ran out (its process died), with a
# compare-and-set UPDATE; only the holder may mark it done or failed. See storage/runs.py.
job_runs = Table(
    "job_runs",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("kind", String(32), nullable=False),  # the key's prefix, for listing ("digest", "spike", …)
    Column("claimed_by", String(100), nullable=False),
    Column("claimed_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # running | done | failed
    Column("attempts", Integer, nullable=False, default=1),
    Column("done_at", BigInteger),
    Column("detail", Text),  # what was done (e.g. the message ts), or the last error
)
Index("ix_job_runs_kind_status", job_runs.c.kind, job_runs.c.status)

# Budget threshold warnings already sent this period; the primary key makes "once per line per period" a constraint.
budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("scope", String(8), nullable=False),  # person | team
    Column("subject_id", Integer, nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM in the team's timezone
    Column("threshold_pct", Integer, nullable=False),
    Column("fired_at", BigInteger, nullable=False),
    Column("budget_micros", BigInteger, nullable=False),  # the budget when it fired
    PrimaryKeyConstraint("scope", "subject_id", "period", "threshold_pct"),
)

# SpikeDetector.state() per series, with last_index stored as an absolute epoch hour.
spike_state = Table(
    "spike_state",
    metadata,
    Column("scope", String(8), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("state", JSON, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "subject_id"),
)

# The org file's per-team `alert_thresholds:` ladder, written by the org sync (teams without a row use 50/80/100).
team_alert_settings = Table(
    "team_alert_settings",
    metadata,
    Column("team_id", Integer, primary_key=True),
    Column("thresholds", JSON, nullable=False),
)

# What a warning's reader said about it (the Snooze and Expected buttons): one row per warning, so a second press, or
# the same press delivered to another replica, finds the row and changes nothing. `until`: a snooze's end, or when an
# *Expected* level stops applying. `level_micros`: the spend per hour marked expected (spikes), else NULL.
warning_feedback = Table(
    "warning_feedback",
    metadata,
    Column("warning_key", String(200), primary_key=True),  # spike:<scope>:<id>:<hour> or line:<scope>:<id>:<period>:<pct>
    Column("scope", String(8), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # snooze | expected
    Column("actor", String(32), nullable=False),  # Slack user id
    Column("at", BigInteger, nullable=False),
    Column("until", BigInteger, nullable=False),
    Column("level_micros", BigInteger),
)
Index("ix_warning_feedback_subject", warning_feedback.c.scope, warning_feedback.c.subject_id, warning_feedback.c.until)
