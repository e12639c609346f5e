"""The budget-request workflow: create, route, decide, expire. Database first, Slack second: every state change is
committed before any message about it goes out, and every message is recorded so it can be rewritten or retried."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from bot.domain.format import usd
from bot.domain.format import escape
from bot.domain.requests import auto_approvable, needs_finance, parse_amount, parse_reason, timers
from bot.features.deps import Deps
from bot.features.identity import find_person
from bot.slack.outbox import Posted, SlackSendError
from bot.slack.blocks.requests import card
from bot.features.me import me_report
from bot.domain.org import Person, Team
from bot.domain.requests import BudgetRequest, RequestMessage

log = logging.getLogger(__name__)

RETRY_DELAY_S = 60
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class Outcome:
    """What the person who acted is told (ephemeral)."""

    ok: bool
    text: str
    touched: frozenset[str] = frozenset()  # Slack users whose App Home changed: the caller refreshes them


@dataclass
class TickReport:
    counts: dict[str, int]
    touched: set[str] = field(default_factory=set)


def _now(deps: Deps) -> int:
    return int(deps.clock.now().timestamp())


async def create_request(deps: Deps, user_id: str, amount_text: str, reason_text: str, period: str = "month") -> Outcome:
    person, email = await find_person(deps.org, deps.slack, user_id)  # type: ignore[arg-type]
    if person is None:
        return Outcome(False, "I can't find you in the org file, so I can't route a budget request for you.")
    info = await deps.org.org_info()
    amount = parse_amount(amount_text, info.max_request_micros)
    if isinstance(amount, str):
        return Outcome(False, f"Can't send that request: {amount}.")
    reason = parse_reason(reason_text)
    if reason is None:
        return Outcome(False, "Please say what the budget is for: `/tokens request 50 evaluation runs for the Q4 model`.")
    if period not in ("month", "permanent"):
        return Outcome(False, "The period must be this month or permanent.")
    if await deps.requests.count_pending(person.id) >= info.max_pending_requests:
        return Outcome(False, f"You already have {info.max_pending_requests} pending requests; "
                              "cancel one with `/tokens requests` or wait for a decision.")
    team = await deps.org.team(person.team_id) if person.team_id else None
    report = await me_report(deps.ledger, person, team, deps.clock.now())
    line = report.personal_budget or report.team_budget
    if line is None:
        return Outcome(False, "Neither you nor your team has a monthly budget, so there is nothing to raise.")
    scope = "person" if report.personal_budget is not None else "team"
    now = _now(deps)
    t = timers(now, team.request_ttl_hours if team else 72.0)
    request = await deps.requests.create({
        "person_id": person.id, "team_id": team.id if team else None, "requester_slack_id": user_id,
        "amount_micros": amount, "reason": reason, "period": period, "month": f"{report.usage.now_local:%Y-%m}",
        "scope": scope, "status": "pending", "stage": "team",
        "context": {"budget_micros": line.budget_micros, "spent_micros": line.spent_micros,
                    "spent_pct": round(line.fraction * 100, 1), "projected_micros": line.projection.month_end_micros},
        "remind_at": t.remind_at, "escalate_at": t.escalate_at, "expires_at": t.expires_at,
    }, now)
    if team is not None and auto_approvable(amount, team.auto_approve_micros, team.auto_approve_per_month,
                                            await deps.requests.count_auto_approved(person.id, request.month)):
        await _decide(deps, request, "approved", "auto", adjustment=_adjustment(request, person, team))
        request = await deps.requests.get(request.id)
        announced = await approvers_for(deps, request, team)
        await _deliver_within_ack(deps, request, announced)  # still announced
        return Outcome(True, f"Approved automatically (request #{request.id}, {usd(amount)}). "
                             f"{await new_budget_text(deps, person, team)}",
                       frozenset({user_id, *(a for a in announced if _is_user(a))}))
    recipients = await approvers_for(deps, request, team)
    if not recipients:
        await deps.requests.decide(request.id, "team", "cancelled", "system", now, "no approver could be found")
        return Outcome(False, "Your team has no approvers in the org file and no finance approvers are set; "
                              "ask your FinOps admins.")
    delivered = await _deliver_within_ack(deps, request, recipients)
    return Outcome(True, sent_text(request.id, usd(amount), recipients, delivered) + " It expires "
                   f"<!date^{request.expires_at}^{{date_short_pretty}} {{time}}|in {team.request_ttl_hours if team else 72:g} hours>.",
                   frozenset({user_id, *(r for r in recipients if _is_user(r))}))


def sent_text(request_id: int, amount: str, recipients: list[str], delivered: set[str] | None) -> str:
    """Say only what is true: who has the card, and who does not yet (it is retried until Slack takes it)."""
    def mention(r: str) -> str:
        return f"<@{r}>" if _is_user(r) else f"<#{r}>"

    if delivered is None:
        return f"Request #{request_id} for {amount} is on its way to {', '.join(map(mention, recipients))}."
    missing = [r for r in recipients if r not in delivered]
    if not missing:
        return f"Request #{request_id} for {amount} sent to {', '.join(map(mention, recipients))}."
    sent = f"sent to {', '.join(mention(r) for r in recipients if r in delivered)}; " if delivered else ""
    return (f"Request #{request_id} for {amount} is saved: {sent}Slack did not take it for "
            f"{', '.join(map(mention, missing))} yet, and I will keep trying.")


def _adjustment(request: BudgetRequest, person: Person, team: Team | None) -> dict[str, Any]:
    subject = person.id if request.scope == "person" else (team.id if team else person.id)
    return {"scope": request.scope, "subject_id": subject, "amount_micros": request.amount_micros,
            "month": request.month if request.period == "month" else None}


async def approvers_for(deps: Deps, request: BudgetRequest, team: Team | None) -> list[str]:
    """Where the card goes at the request's current stage: the approval channel, or each approver by DM."""
    info = await deps.org.org_info()
    if request.stage == "finance":
        people = [a for a in info.finance_approvers if a not in (request.requester_slack_id, request.first_approver)]
        return people
    if team is not None and team.approval_channel:
        return [team.approval_channel]
    people = [a for a in (team.approvers if team else ()) if a != request.requester_slack_id]
    if not people:  # nobody on the team may decide: the fallback group does
        people = [a for a in info.finance_approvers if a != request.requester_slack_id]
    return people


async def may_decide(deps: Deps, request: BudgetRequest, user_id: str) -> str | None:
    """None if `user_id` may decide `request` now, else why not. Always read from the database, never the button."""
    if user_id == request.requester_slack_id:
        return "You can't decide your own budget request."
    info = await deps.org.org_info()
    if request.stage == "finance":
        if user_id == request.first_approver:
            return "You already gave the team approval; a finance approver must give the second one."
        return None if user_id in info.finance_approvers else "Only finance approvers can give the second approval."
    team = await deps.org.team(request.team_id) if request.team_id else None
    if team is not None and user_id in team.approvers:
        return None
    fallback_applies = request.escalated_at is not None or team is None or not [
        a for a in team.approvers if a != request.requester_slack_id]
    if fallback_applies and user_id in info.finance_approvers:
        return None
    return "You are not an approver for this team."


async def decidable(deps: Deps, request_id: int, user_id: str, action: str) -> BudgetRequest | Outcome:
    """The pending request `user_id` may decide now, or what to tell them (a refusal is audited)."""
    request = await deps.requests.get(request_id)
    if request is None:
        return Outcome(False, f"There is no budget request #{request_id}.")
    if request.status != "pending":
        return Outcome(False, already_decided_text(request))
    refusal = await may_decide(deps, request, user_id)
    if refusal is not None:
        await deps.requests.audit(_now(deps), user_id, "refused", request.id, {"action": action, "why": refusal})
        return Outcome(False, refusal)
    return request


async def _decide(deps: Deps, request: BudgetRequest, status: str, actor: str, reason: str | None = None,
                  adjustment: dict[str, Any] | None = None) -> bool:
    won = await deps.requests.decide(request.id, request.stage, status, actor, _now(deps), reason, adjustment)
    if won:
        deps.metrics.decisions.labels(outcome=status).inc()
    return won


async def approve(deps: Deps, request_id: int, user_id: str) -> Outcome:
    request = await decidable(deps, request_id, user_id, "approve")
    if isinstance(request, Outcome):
        return request
    now = _now(deps)
    team = await deps.org.team(request.team_id) if request.team_id else None
    if request.stage == "team" and needs_finance(request.amount_micros, team.escalate_above_micros if team else None):
        if not await deps.requests.advance_to_finance(request.id, user_id, now):
            return Outcome(False, already_decided_text(await deps.requests.get(request.id)))
        request = await deps.requests.get(request.id)
        touched = await refresh_cards(deps, request)
        finance = await approvers_for(deps, request, team)
        await deliver_cards(deps, request, finance)
        await notify(deps, request, f"<@{user_id}> approved your budget request #{request.id} ({usd(request.amount_micros)}); "
                                    "it is above the team's limit, so a finance approver must approve it too.")
        return Outcome(True, f"Approved. Request #{request.id} now needs a finance approval.",
                       frozenset(touched | {u for u in finance if _is_user(u)}))
    person = await _person(deps, request)
    if not await _decide(deps, request, "approved", user_id, adjustment=_adjustment(request, person, team)):
        return Outcome(False, already_decided_text(await deps.requests.get(request.id)))
    request = await deps.requests.get(request.id)
    touched = await refresh_cards(deps, request)
    await notify(deps, request, f":white_check_mark: <@{user_id}> approved your budget request #{request.id} "
                                f"({usd(request.amount_micros)}, {'this month' if request.period == 'month' else 'permanent'}). "
                                + await new_budget_text(deps, person, team))
    return Outcome(True, f"Approved request #{request.id}.", frozenset(touched))


async def deny(deps: Deps, request_id: int, user_id: str, reason: str) -> Outcome:
    request = await decidable(deps, request_id, user_id, "deny")
    if isinstance(request, Outcome):
        return request
    reason = parse_reason(reason) or "no reason given"
    if not await _decide(deps, request, "denied", user_id, reason):
        return Outcome(False, already_decided_text(await deps.requests.get(request.id)))
    request = await deps.requests.get(request.id)
    touched = await refresh_cards(deps, request)
    # The reason is the approver's own words: escaped, so "<!channel>" or a disguised link stays plain text.
    await notify(deps, request, f":x: <@{user_id}> denied your budget request #{request.id} "
                                f"({usd(request.amount_micros)}): {escape(reason)}")
    return Outcome(True, f"Denied request #{request.id}.", frozenset(touched))


async def cancel(deps: Deps, request_id: int, user_id: str) -> Outcome:
    request = await deps.requests.get(request_id)
    if request is None or request.requester_slack_id != user_id:
        if request is not None:
            await deps.requests.audit(_now(deps), user_id, "refused", request.id, {"action": "cancel"})
        return Outcome(False, "Only the person who made a request can cancel it.")
    if request.status != "pending" or not await _decide(deps, request, "cancelled", user_id):
        return Outcome(False, already_decided_text(await deps.requests.get(request.id)))
    touched = await refresh_cards(deps, await deps.requests.get(request.id))
    return Outcome(True, f"Cancelled request #{request.id}.", frozenset(touched))


def already_decided_text(request: BudgetRequest | None) -> str:
    if request is None:
        return "That request no longer exists."
    if request.status == "pending":
        return f"Request #{request.id} is waiting for a different approver now."
    if request.status == "expired":
        return f"Request #{request.id} expired <!date^{request.decided_at}^{{date_short_pretty}} {{time}}|earlier>."
    who = {"auto": "automatically", "system": "by tokenbot"}.get(request.decided_by or "", f"by <@{request.decided_by}>")
    return (f"Request #{request.id} was already {request.status} {who} "
            f"<!date^{request.decided_at}^{{date_short_pretty}} {{time}}|earlier>.")


async def new_budget_text(deps: Deps, person: Person, team: Team | None) -> str:
    report = await me_report(deps.ledger, person, team, deps.clock.now())
    line = report.personal_budget or report.team_budget
    if line is None:
        return ""
    return f"{line.label} is now {usd(line.budget_micros)} this month ({usd(line.remaining_micros)} left)."


async def _person(deps: Deps, request: BudgetRequest) -> Person:
    person = await deps.org.person_by_id(request.person_id)
    assert person is not None
    return person


# Timers: derived from the database on every tick, so a restart loses none and two processes fire none twice.
async def pending_for(deps: Deps, user_id: str) -> list[dict[str, Any]]:
    """The cards of every pending request this person may decide now (`/tokens pending`)."""
    cards = []
    for request in await deps.requests.pending():
        if await may_decide(deps, request, user_id) is None:
            team = await deps.org.team(request.team_id) if request.team_id else None
            cards.append(card(request, team.name if team else "no team", actionable=True))
    return cards


async def tick(deps: Deps) -> TickReport:
    now = _now(deps)
    counts = {"reminded": 0, "escalated": 0, "expired": 0, "retried": 0}
    touched: set[str] = set()
    for request in await deps.requests.due("", "expires_at", now):
        if await _decide(deps, request, "expired", "system"):
            request = await deps.requests.get(request.id)
            touched |= await refresh_cards(deps, request)
            await notify(deps, request, f":hourglass: Your budget request #{request.id} ({usd(request.amount_micros)}) "
                                        "expired without a decision. You can send it again with `/tokens request`.")
            counts["expired"] += 1
    for request in await deps.requests.due("reminded_at", "remind_at", now):
        if await deps.requests.mark_timer(request.id, "reminded_at", now):
            team = await deps.org.team(request.team_id) if request.team_id else None
            for recipient in await approvers_for(deps, request, team):
                await send_text(deps, request, recipient, f":bell: Reminder: budget request #{request.id} from "
                                f"<@{request.requester_slack_id}> ({usd(request.amount_micros)}) is still waiting for a decision.")
            counts["reminded"] += 1
    for request in await deps.requests.due("escalated_at", "escalate_at", now):
        if await deps.requests.mark_timer(request.id, "escalated_at", now):
            request = await deps.requests.get(request.id)
            info = await deps.org.org_info()
            already = {m.recipient for m in await deps.requests.messages(request.id, "card")}
            fallback = [a for a in info.finance_approvers if a not in already and a != request.requester_slack_id]
            await deliver_cards(deps, request, fallback)
            touched |= {u for u in fallback if _is_user(u)}
            counts["escalated"] += 1
    counts["retried"] = await retry_failed(deps)
    return TickReport(counts, touched)


_BACKGROUND: set[asyncio.Task] = set()
ACK_BUDGET_S = 1.5


async def _deliver_within_ack(deps: Deps, request: BudgetRequest, recipients: list[str]) -> set[str] | None:
    """Deliver the cards, but never hold the slash command's answer past Slack's 3 s: when Slack is slow (429s,
    retries), delivery goes on in the background; the request is already stored, and failures are retried.
    Returns the recipients Slack took the card for, or None when delivery is still going on."""
    task = asyncio.ensure_future(deliver_cards(deps, request, recipients))
    done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET_S)
    if not done:
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        return None
    return task.result()


def _is_user(recipient: str) -> bool:
    return recipient.startswith(("U", "W"))


# Slack delivery. Messages are recorded before they are sent; a failed one (a post, or an update of a sent card) is
# retried by `tick` until Slack takes it.
async def deliver_cards(deps: Deps, request: BudgetRequest, recipients: list[str]) -> set[str]:
    delivered = set()
    for recipient in recipients:
        message_id = await deps.requests.add_message(request.id, "card", recipient, _now(deps))
        if await _send(deps, await deps.requests.message(message_id), request):
            delivered.add(recipient)
    return delivered


async def notify(deps: Deps, request: BudgetRequest, text: str) -> None:
    await send_text(deps, request, request.requester_slack_id, text)


async def send_text(deps: Deps, request: BudgetRequest, recipient: str, text: str) -> None:
    message_id = await deps.requests.add_message(request.id, "notice", recipient, _now(deps), text)
    await _send(deps, await deps.requests.message(message_id), request)


async def _send(deps: Deps, message: RequestMessage, request: BudgetRequest) -> bool:
    """Post the message, or (a card copy already in Slack) rewrite it to the request's current state. True when
    Slack took it; otherwise it is marked failed and `tick` tries again after RETRY_DELAY_S."""
    if deps.slack is None:
        return False
    if message.kind == "card":
        team = await deps.org.team(request.team_id) if request.team_id else None
        payload = card(request, team.name if team else "no team", actionable=await _actionable(deps, request, message.recipient))
    else:
        payload = {"text": message.text or ""}
    try:
        if message.channel is not None and message.ts is not None:
            await deps.slack.update_message(message.channel, message.ts, payload["text"], payload.get("blocks"))
            posted = Posted(message.channel, message.ts)
        else:
            posted = await deps.slack.post_message(message.recipient, payload["text"], payload.get("blocks"))
    except SlackSendError as exc:
        log.warning("budget request %s: message to %s failed (%s); will retry", request.id, message.recipient, exc.code)
        await deps.requests.message_failed(message.id, exc.code, _now(deps) + RETRY_DELAY_S)
        return False
    await deps.requests.message_sent(message.id, posted.channel, posted.ts)
    return True


async def _actionable(deps: Deps, request: BudgetRequest, recipient: str) -> bool:
    """Buttons only on copies whose reader can act at the request's current stage (a channel: its members)."""
    if request.status != "pending":
        return False
    if not _is_user(recipient):
        return request.stage == "team"
    return await may_decide(deps, request, recipient) is None


async def refresh_cards(deps: Deps, request: BudgetRequest) -> set[str]:
    """Rewrite every sent copy of the card to the request's current state (an update Slack refuses is retried like a
    failed post). Returns the people whose App Home shows this request: the caller refreshes them."""
    messages = await deps.requests.messages(request.id, "card")
    for message in messages:
        if message.status != "sent" or message.channel is None or message.ts is None:
            continue  # an unsent copy is retried later, rendered from the state at that time
        await _send(deps, message, request)
    return {request.requester_slack_id, *(m.recipient for m in messages if _is_user(m.recipient))}


async def retry_failed(deps: Deps) -> int:
    retried = 0
    for message in await deps.requests.failed_messages(_now(deps), MAX_ATTEMPTS):
        if not await deps.requests.claim_retry(message.id, message.attempts, _now(deps)):
            continue  # another process took it
        request = await deps.requests.get(message.request_id)
        # A card sent late is rendered from the request's state now: it shows the outcome if it was decided meanwhile.
        await _send(deps, await deps.requests.message(message.id), request)
        retried += 1
    return retried
