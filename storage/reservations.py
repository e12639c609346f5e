"""Budget reservations: a hard-capped request's estimated cost is held from the moment the gateway admits it until
its usage event arrives (the ledger deletes the reservation in the transaction that stores the event).

The admission is one decision in the database, never a per-process cache: on PostgreSQL under transaction-scoped
advisory locks on the person and the team, on SQLite under the database's single write lock (the reservation row is
written first, which takes it). So with any number of replicas the spend admitted past a budget is bounded by the
estimates of the requests in flight."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, exists, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import insert_for, is_sqlite
from storage.schema import team_usage_hourly, usage_events, usage_hourly
from storage.schema_ingest import budget_reservations

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
        async with self._writer(), self.engine.begin() as conn:
            if not self._sqlite:
                await self._lock(conn, r)
            row = {"event_id": r.event_id, "person_id": r.person_id, "team_id": r.team_id,
                   "amount_micros": r.amount_micros, "created_at": r.now_ts, "expires_at": r.now_ts + r.ttl_s}
            # On SQLite this first write takes the database's write lock: the reads below then see every committed
            # reservation and event, and no other process can admit in between.
            new = (await conn.execute(self._insert(budget_reservations).on_conflict_do_nothing(
                index_elements=["event_id"]).returning(budget_reservations.c.event_id), row)).first()
            person, team, stored = await self._held(conn, r)
            if stored:  # a request with this id already finished: a client reusing a call id
                await conn.rollback()
                return Admission(False, person, team, reused_id=True)
            if new is None:  # reserved before: the gateway retrying a reservation that went through
                return Admission(True, person, team)
            fits = all(budget is None or held.spent_micros + held.reserved_micros + r.amount_micros <= budget
                       for budget, held in ((r.person_budget_micros, person), (r.team_budget_micros, team))
                       if held is not None)
            if not fits:
                await conn.rollback()
            return Admission(fits, person, team)

    async def _lock(self, conn: AsyncConnection, r: ReservationRequest) -> None:
        # Always person before team: two people of one team never wait on each other in opposite orders.
        if r.person_budget_micros is not None and r.person_id is not None:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_PERSON, "key": r.person_id})
        if r.team_budget_micros is not None:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_TEAM, "key": r.team_id})

    async def _held(self, conn: AsyncConnection, r: ReservationRequest) -> tuple[Held | None, Held | None, bool]:
        """Spent and held per budget line, and whether an event with this id was already stored: one statement."""
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
        values = (await conn.execute(select(literal(1), *columns))).one()[1:]
        held = {name: Held(int(values[2 * i]), int(values[2 * i + 1])) for i, name in enumerate(lines)}
        return held.get("person"), held.get("team"), bool(values[-1])

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
