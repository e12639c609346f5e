"""Budget reservations: a hard-capped request's estimated cost is held from the moment the gateway admits it until
its usage event arrives (the ledger deletes the reservation in the transaction that stores the event).

The admission is one decision in the database, never a per-process cache: on PostgreSQL under transaction-scoped
advisory locks on the person and the team, on SQLite under the database's single write lock (the reservation row is
written first, which takes it). So with any number of replicas the spend admitted past a budget is bounded by the
estimates of the requests in flight."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sqlalchemy.exc import DBAPIError

from storage.db import insert_for, is_sqlite
from storage.tables.core import team_usage_hourly, usage_events, usage_hourly
from storage.tables.ingest import budget_reservations

# Advisory-lock namespaces (pg_advisory_xact_lock(int, int)): one for people, one for teams.
_LOCK_PERSON, _LOCK_TEAM = 0x746B0001, 0x746B0002


@dataclass(frozen=True)
class Held:
    """What one budget line has spent this month and holds for requests in flight (both micro-USD)."""
    spent_micros: int
    reserved_micros: int


@dataclass(frozen=True)
class Admission:
    admitted: bool
    person: Held | None
    team: Held | None
    reused_id: bool = False  # an event with this id was already stored: a client reusing a call id


@dataclass(frozen=True)
class ReservationRequest:
    event_id: str
    person_id: int | None
    team_id: int
    amount_micros: int
    person_budget_micros: int | None  # None: no personal hard budget
    team_budget_micros: int | None  # None: no team hard budget
    month_start_hour: int  # epoch hours: the start of the team's month
    now_ts: int
    ttl_s: int


class Reservations:
    def __init__(self, engine: AsyncEngine, writer) -> None:  # noqa: ANN001 - the ledger's writer() (SQLite queue)
        self.engine = engine
        self._writer = writer
        self._insert = insert_for(engine)
        self._sqlite = is_sqlite(engine)

    async def reserve(self, r: ReservationRequest) -> Admission:
        """Hold `amount_micros` for `event_id` if every hard budget still covers spent + held + this amount."""
        try:
            return await self._reserve(r)
        except DBAPIError as exc:
            if not exc.connection_invalidated:  # a connection that died while pooled (a restarted server): once more
                raise
            return await self._reserve(r)

    async def _reserve(self, r: ReservationRequest) -> Admission:
        """Round trips are the cost here (the gateway waits on every request): PostgreSQL takes both locks in one
        statement, then inserts and sums in one more; SQLite inserts (which takes its write lock), then sums."""
        row = {"event_id": r.event_id, "person_id": r.person_id, "team_id": r.team_id,
               "amount_micros": r.amount_micros, "created_at": r.now_ts, "expires_at": r.now_ts + r.ttl_s}
        insert = self._insert(budget_reservations).values(row).on_conflict_do_nothing(index_elements=["event_id"])
        async with self._writer(), self.engine.begin() as conn:
            if self._sqlite:
                # This first write takes the database's write lock: the sums below then see every committed
                # reservation and event, and no other process can admit in between.
                new = (await conn.execute(insert.returning(budget_reservations.c.event_id))).first() is not None
                person, team, stored, _ = await self._held(conn, r, None)
            else:
                # The locks come first, in a statement of their own: a statement reads from a snapshot taken when
                # it starts, so sums in the locking statement could miss a reservation committed while it waited.
                locks = self._locks(r)
                if locks:
                    await conn.execute(select(*locks))
                person, team, stored, new = await self._held(conn, r, insert.returning(budget_reservations.c.event_id))
            if stored:  # a request with this id already finished: a client reusing a call id
                await conn.rollback()
                return Admission(False, person, team, reused_id=True)
            if not new:  # reserved before: the gateway retrying a reservation that went through
                return Admission(True, person, team)
            fits = all(budget is None or held.spent_micros + held.reserved_micros + r.amount_micros <= budget
                       for budget, held in ((r.person_budget_micros, person), (r.team_budget_micros, team))
                       if held is not None)
            if not fits:
                await conn.rollback()
            return Admission(fits, person, team)

    @staticmethod
    def _locks(r: ReservationRequest) -> list:
        # Always person before team (select-list order): two people of one team never wait in opposite orders.
        locks = []
        if r.person_budget_micros is not None and r.person_id is not None:
            locks.append(func.pg_advisory_xact_lock(_LOCK_PERSON, r.person_id))
        if r.team_budget_micros is not None:
            locks.append(func.pg_advisory_xact_lock(_LOCK_TEAM, r.team_id))
        return locks

    async def _held(self, conn: AsyncConnection, r: ReservationRequest, insert  # noqa: ANN001
                    ) -> tuple[Held | None, Held | None, bool, bool | None]:
        """Spent and held per budget line, whether an event with this id was already stored and, given the INSERT
        (PostgreSQL: a data-modifying CTE of the same statement), whether it wrote a new reservation."""
        res = budget_reservations
        live = and_(res.c.expires_at > r.now_ts, res.c.event_id != r.event_id)

        def spent_and_held(rollup, rollup_key, held_key, key: int) -> list:  # noqa: ANN001
            return [select(func.coalesce(func.sum(rollup.c.cost_micros), 0))
                    .where(rollup_key == key, rollup.c.hour >= r.month_start_hour).scalar_subquery(),
                    select(func.coalesce(func.sum(res.c.amount_micros), 0)).where(held_key == key, live).scalar_subquery()]

        columns = []
        lines = []
        if r.person_budget_micros is not None and r.person_id is not None:
            lines.append("person")
            columns += spent_and_held(usage_hourly, usage_hourly.c.person_id, res.c.person_id, r.person_id)
        if r.team_budget_micros is not None:
            lines.append("team")
            columns += spent_and_held(team_usage_hourly, team_usage_hourly.c.team_id, res.c.team_id, r.team_id)
        columns.append(exists().where(usage_events.c.id == r.event_id))
        if insert is not None:
            inserted = insert.cte("inserted")
            columns.append(exists(select(inserted.c.event_id)))
        values = (await conn.execute(select(literal(1), *columns))).one()[1:]
        held = {name: Held(int(values[2 * i]), int(values[2 * i + 1])) for i, name in enumerate(lines)}
        stored = bool(values[2 * len(lines)])
        return held.get("person"), held.get("team"), stored, None if insert is None else bool(values[-1])

    async def drop_expired(self, now_ts: int) -> int:
        """Reservations whose event never came (a request refused later in the gateway, a lost event)."""
        async with self._writer(), self.engine.begin() as conn:
            result = await conn.execute(delete(budget_reservations).where(budget_reservations.c.expires_at <= now_ts))
            return result.rowcount or 0


async def settle(conn: AsyncConnection, event_ids: list[str]) -> None:
    """Release the reservations of events being stored (called inside the ledger's ingest transaction)."""
    for start in range(0, len(event_ids), 500):
        await conn.execute(delete(budget_reservations).where(
            budget_reservations.c.event_id.in_(event_ids[start:start + 500])))


__all__ = ["Reservations", "ReservationRequest", "Admission", "Held", "settle"]
