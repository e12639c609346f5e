"""Outcome events (pull requests, commits, deploys) from OTLP counters, GitHub and other systems: idempotent on the
outcome id (and on GitHub's delivery id), with the keys a later revert may name and reverts applied in the same
transaction; the cumulative-counter state OTLP metrics need; usage another source already counted (the overlap)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.otlp import CounterPoint, CounterState, counter_delta, outcome_id
from bot.domain.outcomes import Outcome
from storage.db import insert_for, is_sqlite
from storage.stores.org import Directory
from storage.tables.otlp import otlp_counter_state, outcome_events, overlap_events
from storage.tables.outcomes import github_deliveries, outcome_refs, outcome_reverts

REF_MAX = 200  # outcome_refs.ref
WANT = "want:"  # outcome_refs rows of a revert: the keys it names, kept for originals that arrive after it


@dataclass(frozen=True)
class OutcomeTotal:
    kind: str
    person_id: int | None
    user_ref: str | None
    count: int


@dataclass(frozen=True)
class OverlapTotal:
    source: str
    counted_by: str
    requests: int
    cost_micros: int


@dataclass(frozen=True)
class RecordResult:
    accepted: int = 0
    duplicates: int = 0
    reverted: int = 0  # earlier outcomes marked reverted by these
    duplicate_delivery: bool = False


class OutcomeStore:
    def __init__(self, engine: AsyncEngine, writer: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self.engine = engine
        self.writer = writer  # the ledger's SQLite writer queue (a no-op on PostgreSQL)
        self._insert = insert_for(engine)

    async def record_points(self, points: Sequence[CounterPoint], directory: Directory, now_ts: int,
                            source: str = "otlp") -> int:
        """Counter points -> outcome events, in one transaction with the counter state they move: a cumulative series'
        last value is read under a row lock (PostgreSQL) or the write lock (SQLite), so two replicas receiving the same
        series never both count its growth. Returns the outcome events added."""
        if not points:
            return 0
        ordered = sorted(points, key=lambda p: (p.stream, p.time_ns))
        streams = sorted({p.stream for p in ordered if p.cumulative})
        async with self.writer(), self.engine.begin() as conn:
            states: dict[str, CounterState | None] = {}
            if streams:
                stmt = select(otlp_counter_state).where(otlp_counter_state.c.stream.in_(streams))
                if not is_sqlite(self.engine):
                    stmt = stmt.with_for_update()
                for row in (await conn.execute(stmt)).mappings():
                    states[row["stream"]] = CounterState(row["start_ns"], row["time_ns"], row["value"])
            known = set(states)
            rows: list[dict[str, Any]] = []
            for point in ordered:
                delta, state = counter_delta(point, states.get(point.stream))
                states[point.stream] = state
                count = round(delta)
                if count <= 0:
                    continue
                person_id, team_id = directory.attribute(point.user, point.team) if point.user else (None, 0)
                rows.append({"id": outcome_id(point), "kind": point.kind, "user_ref": point.user,
                             "person_id": person_id, "team_id": team_id, "occurred_at": point.time_ns // 10**9,
                             "source": source, "link": None, "count": count, "metadata": point.metadata,
                             "received_at": now_ts})
            for stream in streams:
                state = states[stream]
                if state is None:
                    continue
                values = {"start_ns": state.start_ns, "time_ns": state.time_ns, "value": state.value,
                          "updated_at": now_ts}
                if stream in known:
                    await conn.execute(update(otlp_counter_state).where(otlp_counter_state.c.stream == stream)
                                       .values(**values))
                else:
                    await conn.execute(self._insert(otlp_counter_state).values(stream=stream, **values)
                                       .on_conflict_do_nothing(index_elements=["stream"]))
            if not rows:
                return 0
            stmt = (self._insert(outcome_events).on_conflict_do_nothing(index_elements=["id"])
                    .returning(outcome_events.c.id))
            return len((await conn.execute(stmt, rows)).all())

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

    async def reattribute(self, directory: Directory) -> int:
        """Outcomes of people the org file did not name when they arrived, given to the people it names now."""
        moved = 0
        async with self.writer(), self.engine.begin() as conn:
            refs = [r for r in (await conn.execute(select(outcome_events.c.user_ref).distinct().where(
                outcome_events.c.person_id.is_(None), outcome_events.c.user_ref.is_not(None)))).scalars()
                if r in directory.person_by_alias]
            for ref in refs:
                person_id, team_id = directory.person_by_alias[ref]
                result = await conn.execute(update(outcome_events).where(
                    outcome_events.c.person_id.is_(None), outcome_events.c.user_ref == ref)
                    .values(person_id=person_id,
                            team_id=func.coalesce(func.nullif(outcome_events.c.team_id, 0), team_id)))
                moved += result.rowcount or 0
        return moved

    async def totals(self, from_ts: int, to_ts: int) -> list[OutcomeTotal]:
        """Outcome counts per kind and person (or, for people nobody claims yet, per user_ref), occurred in
        [from_ts, to_ts)."""
        t = outcome_events
        stmt = (select(t.c.kind, t.c.person_id, t.c.user_ref, func.sum(t.c.count))
                .where(t.c.occurred_at >= from_ts, t.c.occurred_at < to_ts)
                .group_by(t.c.kind, t.c.person_id, t.c.user_ref).order_by(t.c.kind, t.c.user_ref))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        merged: dict[tuple, int] = {}
        for kind, person_id, user_ref, count in rows:
            key = (kind, person_id, None) if person_id is not None else (kind, None, user_ref)
            merged[key] = merged.get(key, 0) + int(count)
        return [OutcomeTotal(k[0], k[1], k[2], n) for k, n in merged.items()]

    async def record_overlap(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        stmt = self._insert(overlap_events).on_conflict_do_nothing(index_elements=["id"]).returning(overlap_events.c.id)
        async with self.writer(), self.engine.begin() as conn:
            return len((await conn.execute(stmt, rows)).all())

    async def overlap(self, from_ts: int, to_ts: int) -> list[OverlapTotal]:
        """Requests a non-authoritative source reported in [from_ts, to_ts), by source and the source that counted
        them."""
        t = overlap_events
        stmt = (select(t.c.source, t.c.counted_by, func.count(), func.coalesce(func.sum(t.c.cost_micros), 0))
                .where(t.c.ts >= from_ts, t.c.ts < to_ts).group_by(t.c.source, t.c.counted_by)
                .order_by(t.c.source, t.c.counted_by))
        async with self.engine.connect() as conn:
            return [OverlapTotal(s, c, int(n), int(cost)) for s, c, n, cost in await conn.execute(stmt)]


__all__ = ["OutcomeStore", "OutcomeTotal", "OverlapTotal", "RecordResult"]
