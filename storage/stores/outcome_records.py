"""Storing outcome events from GitHub and other systems: idempotent on the outcome id (and on GitHub's delivery id),
with the keys a later revert may name, and reverts applied in the same transaction."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.outcomes import Outcome
from storage.db import insert_for
from storage.stores.org import Directory
from storage.tables.otlp import outcome_events
from storage.tables.outcomes import github_deliveries, outcome_refs, outcome_reverts


@dataclass(frozen=True)
class RecordResult:
    accepted: int = 0
    duplicates: int = 0
    reverted: int = 0  # earlier outcomes marked reverted by these
    duplicate_delivery: bool = False


class OutcomeRecorder:
    def __init__(self, engine: AsyncEngine, writer: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self.engine = engine
        self.writer = writer  # the ledger's SQLite writer queue (a no-op on PostgreSQL)
        self._insert = insert_for(engine)

    async def record(self, outcomes: Sequence[Outcome], directory: Directory, now_ts: int,
                     delivery: tuple[str, str] | None = None) -> RecordResult:
        """Store new outcomes, their revert keys, and the reverts they make, in one transaction. `delivery`
        (GitHub's delivery id, event) is claimed first: a delivery already stored changes nothing."""
        async with self.writer(), self.engine.begin() as conn:
            if delivery is not None:
                claimed = await conn.execute(
                    self._insert(github_deliveries).values(delivery_id=delivery[0], event=delivery[1],
                                                           outcomes=len(outcomes), received_at=now_ts)
                    .on_conflict_do_nothing(index_elements=["delivery_id"]).returning(github_deliveries.c.delivery_id))
                if claimed.first() is None:
                    return RecordResult(duplicates=len(outcomes), duplicate_delivery=True)
            if not outcomes:
                return RecordResult()
            rows = []
            for o in outcomes:
                person_id, team_id = directory.attribute(o.user_ref, None) if o.user_ref else (None, 0)
                rows.append({"id": o.id, "kind": o.kind, "user_ref": o.user_ref, "person_id": person_id,
                             "team_id": team_id, "occurred_at": o.occurred_at, "source": o.source, "link": o.link,
                             "count": o.count, "metadata": o.metadata or None, "received_at": now_ts})
            added = set((await conn.execute(
                self._insert(outcome_events).on_conflict_do_nothing(index_elements=["id"])
                .returning(outcome_events.c.id), rows)).scalars())
            new = [o for o in outcomes if o.id in added]
            refs = [{"ref": r, "outcome_id": o.id} for o in new for r in o.refs]
            if refs:
                await conn.execute(self._insert(outcome_refs).on_conflict_do_nothing(
                    index_elements=["ref", "outcome_id"]), refs)
            reverted = 0
            for o in new:
                if o.reverts:
                    reverted += await self._revert(conn, o, now_ts)
            return RecordResult(accepted=len(added), duplicates=len(outcomes) - len(added), reverted=reverted)

    async def _revert(self, conn: AsyncConnection, outcome: Outcome, now_ts: int) -> int:
        """Mark the outcomes `outcome.reverts` names (exact keys; an abbreviated sha by prefix) as reverted by it."""
        exact = [t for t in outcome.reverts if not (t.startswith("sha:") and len(t) < 44)]
        where = outcome_refs.c.ref.in_(exact) if exact else None
        for short in (t for t in outcome.reverts if t.startswith("sha:") and len(t) < 44):
            clause = outcome_refs.c.ref.like(short.replace("%", "").replace("_", "") + "%")
            where = clause if where is None else where | clause
        if where is None:
            return 0
        targets = sorted({t for t in (await conn.execute(select(outcome_refs.c.outcome_id).where(where))).scalars()
                          if t != outcome.id})
        if not targets:
            return 0
        result = await conn.execute(
            self._insert(outcome_reverts).on_conflict_do_nothing(index_elements=["outcome_id"])
            .returning(outcome_reverts.c.outcome_id),
            [{"outcome_id": t, "reverted_by": outcome.id, "reverted_at": now_ts} for t in targets])
        return len(result.all())


__all__ = ["OutcomeRecorder", "RecordResult"]
