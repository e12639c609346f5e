"""Budget-increase requests, their Slack messages, the budget adjustments they make, and the audit log."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from storage.tables.core import metadata

budget_requests = Table(
    "budget_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", Integer, ForeignKey("people.id"), nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id")),
    Column("requester_slack_id", String(32), nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("period", String(16), nullable=False),  # "month": this month only | "permanent"
    Column("month", String(7), nullable=False),  # YYYY-MM (team timezone) when the request was made
    Column("scope", String(8), nullable=False),  # which budget it raises: "person" | "team"
    Column("context", JSON, nullable=False),  # the budget figures at request time, shown on every copy of the card
    # pending -> approved | denied | expired | cancelled. `stage` is who must act next: "team" or "finance".
    Column("status", String(16), nullable=False, default="pending"),
    Column("stage", String(16), nullable=False, default="team"),
    Column("first_approver", String(32)),  # the team approver, when a finance approval follows
    Column("decided_by", String(32)),  # Slack id, or "auto" / "system"
    Column("decided_at", BigInteger),
    Column("decision_reason", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("remind_at", BigInteger, nullable=False),
    Column("escalate_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    # Timers are compare-and-set on these, so a reminder or an escalation happens once across processes.
    Column("reminded_at", BigInteger),
    Column("escalated_at", BigInteger),
)
Index("ix_budget_requests_status", budget_requests.c.status, budget_requests.c.expires_at)
Index("ix_budget_requests_person", budget_requests.c.person_id, budget_requests.c.created_at)

# Every copy of a request's card (approver DMs, the approval channel) and every notice to the requester: the card
# copies are rewritten to the final state; a delivery that failed is retried until it is sent.
request_messages = Table(
    "request_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", Integer, ForeignKey("budget_requests.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "card" | "notice"
    Column("recipient", String(32), nullable=False),  # user id (DM) or channel id
    Column("channel", String(32)),  # where Slack put it (the DM channel id), once sent
    Column("ts", String(32)),
    Column("status", String(16), nullable=False, default="pending"),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(200)),
    Column("text", Text),  # for notices: what to send
    Column("next_attempt_at", BigInteger, nullable=False, default=0),
)
Index("ix_request_messages_request", request_messages.c.request_id)
Index("ix_request_messages_status", request_messages.c.status, request_messages.c.next_attempt_at)

# Budget changes are a ledger, never an overwrite: the budget is the org file's plus these.
budget_adjustments = Table(
    "budget_adjustments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(8), nullable=False),  # "person" | "team"
    Column("subject_id", Integer, nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("month", String(7)),  # YYYY-MM for a this-month-only raise; NULL for permanent
    Column("request_id", Integer, ForeignKey("budget_requests.id"), unique=True),
    Column("approved_by", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_budget_adjustments_subject", budget_adjustments.c.scope, budget_adjustments.c.subject_id)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(32), nullable=False),  # Slack id, "auto" or "system"
    Column("action", String(32), nullable=False),
    Column("request_id", Integer),
    Column("detail", JSON),
)
Index("ix_audit_log_at", audit_log.c.at)
