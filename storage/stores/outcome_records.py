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

REF_MAX = 200  # outcome_refs.ref
WANT = "want:"  # outcome_refs rows of a revert: the keys it names, kept for originals that arrive after it


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
            # A revert also leaves `want:<key>` rows, so an original delivered after its revert (GitHub does not
            # promise order) is marked reverted when it arrives.
            refs = [{"ref": r, "outcome_id": o.id} for o in new for r in o.refs]
            # Titles repeat ("Bump deps"): only a pull request or commit a revert names exactly waits for its original.
            refs += [{"ref": WANT + t, "outcome_id": o.id} for o in new for t in o.reverts
                     if not t.startswith("title:")]
            refs = [r for r in refs if len(r["ref"]) <= REF_MAX]  # longer than any real repository name allows
            if refs:
                await conn.execute(self._insert(outcome_refs).on_conflict_do_nothing(
                    index_elements=["ref", "outcome_id"]), refs)
            reverted = 0
            for o in new:
                if o.reverts:
                    reverted += await self._revert(conn, o, now_ts)
            reverted += await self._reverted_earlier(conn, new, now_ts)
            return RecordResult(accepted=len(added), duplicates=len(outcomes) - len(added), reverted=reverted)

    async def _reverted_earlier(self, conn: AsyncConnection, new: Sequence[Outcome], now_ts: int) -> int:
        """New outcomes that a revert stored before them names (exact keys)."""
        wanted = {WANT + r: o.id for o in new for r in o.refs}
        if not wanted:
            return 0
        rows = (await conn.execute(select(outcome_refs.c.ref, outcome_refs.c.outcome_id)
                                   .where(outcome_refs.c.ref.in_(sorted(wanted))))).all()
        pairs = {wanted[ref]: by for ref, by in rows if by != wanted[ref]}
        if not pairs:
            return 0
        result = await conn.execute(
            self._insert(outcome_reverts).on_conflict_do_nothing(index_elements=["outcome_id"])
            .returning(outcome_reverts.c.outcome_id),
            [{"outcome_id": t, "reverted_by": by, "reverted_at": now_ts} for t, by in sorted(pairs.items())])
        return len(result.all())

    async def _revert(self, conn: AsyncConnection, outcome: Outcome, now_ts: int) -> int:
        """Mark the outcomes `outcome.reverts` names (exact keys; an abbreviated sha by prefix) as reverted by it."""
        exact = [t for t in outcome.reverts
                 if not (t.startswith("sha:") and len(t) < 44) and not t.startswith("title:")]
        where = outcome_refs.c.ref.in_(exact) if exact else None
        for short in (t for t in outcome.reverts if t.startswith("sha:") and len(t) < 44):
            clause = outcome_refs.c.ref.like(short.replace("%", "").replace("_", "") + "%")
            where = clause if where is None else where | clause
        found: set[str] = set()
        if where is not None:
            found |= set((await conn.execute(select(outcome_refs.c.outcome_id).where(where))).scalars())
        for title in (t for t in outcome.reverts if t.startswith("title:")):
            # Titles repeat: the revert undoes the latest merge of that title before it.
            latest = (await conn.execute(
                select(outcome_refs.c.outcome_id).join(outcome_events, outcome_events.c.id == outcome_refs.c.outcome_id)
                .where(outcome_refs.c.ref == title, outcome_events.c.id != outcome.id,
                       outcome_events.c.occurred_at <= outcome.occurred_at)
                .order_by(outcome_events.c.occurred_at.desc(), outcome_events.c.id.desc()).limit(1))).scalar()
            if latest is not None:
                found.add(latest)
        targets = sorted(t for t in found if t != outcome.id)
        if not targets:
            return 0
        result = await conn.execute(
            self._insert(outcome_reverts).on_conflict_do_nothing(index_elements=["outcome_id"])
            .returning(outcome_reverts.c.outcome_id),
            [{"outcome_id": t, "reverted_by": outcome.id, "reverted_at": now_ts} for t in targets])
        return len(result.all())


__all__ = ["OutcomeRecorder", "RecordResult"]
