"""Block Kit for budget requests: the approval card in every state, the modals, the lists. Pure functions."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.format import usd
from bot.domain.format import escape
from bot.domain.requests import BudgetRequest

APPROVE = "budget_request_approve"
DENY = "budget_request_deny"
CANCEL = "budget_request_cancel"
REQUEST_MODAL = "budget_request_submit"
DENY_MODAL = "budget_request_deny_submit"

_STATUS = {"approved": ":white_check_mark: Approved", "denied": ":x: Denied", "expired": ":hourglass: Expired",
           "cancelled": ":leftwards_arrow_with_hook: Cancelled by the requester"}


def slack_date(ts: int, fmt: str = "{date_short_pretty} {time}") -> str:
    """Slack shows this in each reader's own timezone; the fallback is UTC."""
    fallback = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{ts}^{fmt}|{fallback}>"


def period_text(r: BudgetRequest) -> str:
    return "this month only" if r.period == "month" else "permanent raise"


def state_line(r: BudgetRequest) -> str:
    if r.status == "pending":
        if r.stage == "finance":
            return (f":large_yellow_circle: Approved by <@{r.first_approver}>; waiting for a finance approval. "
                    f"Expires {slack_date(r.expires_at)}.")
        return f":large_yellow_circle: Pending. Expires {slack_date(r.expires_at)}."
    who = "automatically (within the team's auto-approve limit)" if r.decided_by == "auto" else (
        "by tokenbot" if r.decided_by == "system" else f"by <@{r.decided_by}>")
    line = f"{_STATUS.get(r.status, r.status)} {who if r.status != 'cancelled' else ''}".rstrip()
    if r.decided_at:
        line += f" · {slack_date(r.decided_at)}"
    if r.status == "approved" and r.first_approver and r.first_approver != r.decided_by:
        line += f" (first approved by <@{r.first_approver}>)"
    if r.decision_reason:
        line += f"\n>{escape(r.decision_reason)}"
    return line


def card(r: BudgetRequest, team_name: str, actionable: bool) -> dict[str, Any]:
    """The approval card. `actionable`: this copy goes to someone who can decide now (buttons shown)."""
    c = r.context
    budget_label = "Personal budget" if r.scope == "person" else "Team budget"
    fields = [
        f"*Requester*\n<@{r.requester_slack_id}>",
        f"*Team*\n{escape(team_name)}",
        f"*Amount*\n{usd(r.amount_micros)} ({period_text(r)})",
        f"*{budget_label}*\n{usd(c['budget_micros'])}",
        f"*Spent this month*\n{usd(c['spent_micros'])} ({c['spent_pct']:.0f}%)",
        f"*Projected month-end*\n{usd(c['projected_micros'])}",
        f"*New total if approved*\n{usd(c['budget_micros'] + r.amount_micros)}",
        f"*Expires*\n{slack_date(r.expires_at)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Budget request #{r.id}: {usd(r.amount_micros)}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason*\n>{escape(r.reason)}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": state_line(r)}]},
    ]
    if actionable and r.status == "pending":
        blocks.append({"type": "actions", "block_id": f"request-{r.id}", "elements": [
            {"type": "button", "action_id": APPROVE, "style": "primary", "value": str(r.id),
             "text": {"type": "plain_text", "text": "Approve"},
             "confirm": {"title": {"type": "plain_text", "text": "Approve this request?"},
                         "text": {"type": "mrkdwn", "text": f"Raise the {budget_label.lower()} of <@{r.requester_slack_id}> "
                                                            f"by {usd(r.amount_micros)} ({period_text(r)})."},
                         "confirm": {"type": "plain_text", "text": "Approve"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}},
            {"type": "button", "action_id": DENY, "style": "danger", "value": str(r.id),
             "text": {"type": "plain_text", "text": "Deny"}},
        ]})
    text = f"Budget request #{r.id} from <@{r.requester_slack_id}>: {usd(r.amount_micros)} — {state_line(r).splitlines()[0]}"
    return {"text": text, "blocks": blocks}


def request_modal(default_amount: str = "") -> dict[str, Any]:
    amount = {"type": "plain_text_input", "action_id": "amount", "placeholder": {"type": "plain_text", "text": "50"}}
    if default_amount:
        amount["initial_value"] = default_amount
    return {
        "type": "modal", "callback_id": REQUEST_MODAL,
        "title": {"type": "plain_text", "text": "Request more budget"},
        "submit": {"type": "plain_text", "text": "Send request"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "amount", "label": {"type": "plain_text", "text": "Amount (USD)"}, "element": amount},
            {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "What is it for?"},
             "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True, "max_length": 500}},
            {"type": "input", "block_id": "period", "label": {"type": "plain_text", "text": "For"},
             "element": {"type": "radio_buttons", "action_id": "period",
                         "initial_option": {"text": {"type": "plain_text", "text": "This month only"}, "value": "month"},
                         "options": [{"text": {"type": "plain_text", "text": "This month only"}, "value": "month"},
                                     {"text": {"type": "plain_text", "text": "Every month (permanent raise)"},
                                      "value": "permanent"}]}},
        ],
    }


def deny_modal(request_id: int) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": DENY_MODAL, "private_metadata": str(request_id),
        "title": {"type": "plain_text", "text": f"Deny request #{request_id}"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why? (the requester sees this)"},
                    "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True, "max_length": 500}}],
    }


def requests_list(requests: list[BudgetRequest]) -> dict[str, Any]:
    if not requests:
        return _ephemeral("You have no budget requests. `/tokens request <amount> <reason>` makes one.")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Your budget requests*"}}]
    for r in requests:
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*#{r.id}* {usd(r.amount_micros)} ({period_text(r)}), {slack_date(r.created_at, '{date_short}')}: "
            f"{escape(r.reason[:80])}\n{state_line(r)}")}}
        if r.status == "pending":
            section["accessory"] = {"type": "button", "action_id": CANCEL, "value": str(r.id),
                                    "text": {"type": "plain_text", "text": "Cancel"}}
        blocks.append(section)
    return {"response_type": "ephemeral", "text": f"{len(requests)} budget request(s)", "blocks": blocks[:50]}


def pending_list(cards: list[dict[str, Any]]) -> dict[str, Any]:
    if not cards:
        return _ephemeral("Nothing is waiting for your approval.")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{len(cards)} request(s) wait for you*"}}]
    for c in cards[:8]:  # 6 blocks a card: stay well inside Slack's 50-block message limit
        blocks += c["blocks"] + [{"type": "divider"}]
    if len(cards) > 8:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {len(cards) - 8} more."}]})
    return {"response_type": "ephemeral", "text": f"{len(cards)} request(s) wait for your approval", "blocks": blocks}


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
