"""Budget requests in the database. Every state change is one compare-and-set (`… WHERE status = 'pending'`) in the
same transaction as its budget adjustment and audit row, so the first decision wins across clicks and processes."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.requests import BudgetRequest, RequestMessage
from storage.tables.requests import audit_log, budget_adjustments, budget_requests, request_messages

STUCK_AFTER_S = 300


def _request(row: Any) -> BudgetRequest:
    return BudgetRequest(**{k: row[k] for k in BudgetRequest.__dataclass_fields__})


def _message(row: Any) -> RequestMessage:
    return RequestMessage(**{k: row[k] for k in RequestMessage.__dataclass_fields__})


async def audit(conn: AsyncConnection, at: int, actor: str, action: str, request_id: int | None,
                detail: dict[str, Any] | None = None) -> None:
    await conn.execute(insert(audit_log).values(at=at, actor=actor, action=action, request_id=request_id, detail=detail))


class RequestStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, values: dict[str, Any], now_ts: int) -> BudgetRequest:
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(budget_requests).values(**values, created_at=now_ts))
            request_id = result.inserted_primary_key[0]
            await audit(conn, now_ts, values["requester_slack_id"], "requested", request_id,
                        {"amount_micros": values["amount_micros"], "reason": values["reason"], "period": values["period"]})
            row = (await conn.execute(select(budget_requests).where(budget_requests.c.id == request_id))).mappings().one()
        return _request(row)

    async def get(self, request_id: int) -> BudgetRequest | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(budget_requests).where(budget_requests.c.id == request_id))).mappings().first()
        return _request(row) if row else None

    async def count_pending(self, person_id: int) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(budget_requests).where(
                budget_requests.c.person_id == person_id, budget_requests.c.status == "pending"))).scalar_one()

    async def count_pending_for_team(self, team_id: int) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(budget_requests).where(
                budget_requests.c.team_id == team_id, budget_requests.c.status == "pending"))).scalar_one())

    async def count_auto_approved(self, person_id: int, month: str) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(budget_requests).where(
                budget_requests.c.person_id == person_id, budget_requests.c.month == month,
                budget_requests.c.decided_by == "auto"))).scalar_one()

    async def for_person(self, person_id: int, limit: int = 10) -> list[BudgetRequest]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(budget_requests).where(budget_requests.c.person_id == person_id)
                                       .order_by(budget_requests.c.id.desc()).limit(limit))).mappings().all()
        return [_request(r) for r in rows]

    async def pending(self, team_ids: list[int] | None = None, stage: str | None = None,
                      escalated_only: bool = False) -> list[BudgetRequest]:
        stmt = select(budget_requests).where(budget_requests.c.status == "pending")
        if team_ids is not None:
            stmt = stmt.where(budget_requests.c.team_id.in_(team_ids))
        if stage is not None:
            stmt = stmt.where(budget_requests.c.stage == stage)
        if escalated_only:
            stmt = stmt.where(budget_requests.c.escalated_at.is_not(None))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(budget_requests.c.id))).mappings().all()
        return [_request(r) for r in rows]

    async def decide(self, request_id: int, stage: str, new_status: str, actor: str, now_ts: int,
                     reason: str | None = None, adjustment: dict[str, Any] | None = None) -> bool:
        """The one compare-and-set that ends a request. False: someone else decided first (or it expired)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(update(budget_requests).where(
                budget_requests.c.id == request_id, budget_requests.c.status == "pending",
                budget_requests.c.stage == stage).values(
                status=new_status, decided_by=actor, decided_at=now_ts, decision_reason=reason))
            if result.rowcount != 1:
                return False
            if adjustment is not None:
                await conn.execute(insert(budget_adjustments).values(
                    **adjustment, request_id=request_id, approved_by=actor, created_at=now_ts))
                await audit(conn, now_ts, actor, "budget_adjusted", request_id, adjustment)
            await audit(conn, now_ts, actor, new_status, request_id, {"reason": reason} if reason else None)
        return True

    async def advance_to_finance(self, request_id: int, actor: str, now_ts: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(update(budget_requests).where(
                budget_requests.c.id == request_id, budget_requests.c.status == "pending",
                budget_requests.c.stage == "team").values(stage="finance", first_approver=actor))
            if result.rowcount != 1:
                return False
            await audit(conn, now_ts, actor, "approved_first_stage", request_id)
        return True

    async def mark_timer(self, request_id: int, column: str, now_ts: int) -> bool:
        """Claim a reminder or escalation (`reminded_at` / `escalated_at`) exactly once."""
        col = budget_requests.c[column]
        async with self.engine.begin() as conn:
            result = await conn.execute(update(budget_requests).where(
                budget_requests.c.id == request_id, budget_requests.c.status == "pending", col.is_(None))
                .values({column: now_ts}))
            if result.rowcount == 1:
                await audit(conn, now_ts, "system", column.removesuffix("_at"), request_id)
            return result.rowcount == 1

    async def due(self, column: str, due_column: str, now_ts: int) -> list[BudgetRequest]:
        stmt = select(budget_requests).where(budget_requests.c.status == "pending",
                                             budget_requests.c[due_column] <= now_ts)
        if column:
            stmt = stmt.where(budget_requests.c[column].is_(None))
        async with self.engine.connect() as conn:
            return [_request(r) for r in (await conn.execute(stmt)).mappings().all()]

    async def audit(self, now_ts: int, actor: str, action: str, request_id: int | None,
                    detail: dict[str, Any] | None = None) -> None:
        async with self.engine.begin() as conn:
            await audit(conn, now_ts, actor, action, request_id, detail)

    async def audit_since(self, since_ts: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(audit_log).where(audit_log.c.at >= since_ts).order_by(audit_log.c.id))
            return [dict(r) for r in rows.mappings()]

    # Messages: every card copy and notice, so they can be rewritten and failed ones retried.
    async def add_message(self, request_id: int, kind: str, recipient: str, now_ts: int, text: str | None = None) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(request_messages).values(
                request_id=request_id, kind=kind, recipient=recipient, text=text, status="pending", attempts=0,
                # A send that is still "pending" after this (its process died mid-send) is retried like a failure.
                next_attempt_at=now_ts + STUCK_AFTER_S))
            return result.inserted_primary_key[0]

    async def messages(self, request_id: int, kind: str | None = None) -> list[RequestMessage]:
        stmt = select(request_messages).where(request_messages.c.request_id == request_id)
        if kind:
            stmt = stmt.where(request_messages.c.kind == kind)
        async with self.engine.connect() as conn:
            return [_message(r) for r in (await conn.execute(stmt.order_by(request_messages.c.id))).mappings()]

    async def message(self, message_id: int) -> RequestMessage:
        async with self.engine.connect() as conn:
            return _message((await conn.execute(select(request_messages).where(
                request_messages.c.id == message_id))).mappings().one())

    async def message_sent(self, message_id: int, channel: str, ts: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(request_messages).where(request_messages.c.id == message_id).values(
                status="sent", channel=channel, ts=ts, attempts=request_messages.c.attempts + 1, last_error=None))

    async def message_failed(self, message_id: int, error: str, retry_at: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(request_messages).where(request_messages.c.id == message_id).values(
                status="failed", last_error=error[:200], attempts=request_messages.c.attempts + 1,
                next_attempt_at=retry_at))

    async def claim_retry(self, message_id: int, attempts: int, now_ts: int) -> bool:
        """Take a failed (or stuck) delivery for one retry (so two processes never send it twice)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(update(request_messages).where(
                request_messages.c.id == message_id, request_messages.c.status.in_(("failed", "pending")),
                request_messages.c.attempts == attempts, request_messages.c.next_attempt_at <= now_ts)
                .values(status="pending", next_attempt_at=now_ts + STUCK_AFTER_S))
            return result.rowcount == 1

    async def failed_messages(self, now_ts: int, max_attempts: int) -> list[RequestMessage]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(request_messages).where(
                request_messages.c.status.in_(("failed", "pending")), request_messages.c.next_attempt_at <= now_ts,
                request_messages.c.attempts < max_attempts))).mappings().all()
        return [_message(r) for r in rows]

