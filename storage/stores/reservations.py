"""Budget reservations: a hard-capped request's estimated cost is held from the moment the gateway admits it until
its usage event arrives (the ledger moves it to settled_reservations in the transaction that stores the event; there it
stays until it would have expired, so a reservation asked again for that id is known as a finished request's).

The admission is one decision in the database, never a per-process cache: on PostgreSQL under transaction-scoped
advisory locks on the person and the team, on SQLite under the database's single write lock (taken by BEGIN IMMEDIATE
before the sums are read). So with any number of replicas the spend admitted past a budget is bounded by the
estimates of the requests in flight."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.sqlite_writer import SqliteWriter, immediate
from storage.tables.ingest import budget_reservations, settled_reservations


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
    reused_id: bool = False  # a request with this id has finished (its event settled a reservation that has not
    # expired yet): a client reusing a call id


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
    """One admission per gateway request, in one round trip to the database: PostgreSQL calls `tokenbot_reserve`
    (a function, migration a7c4e2d91b36); SQLite runs the same steps as one call in the ledger's SQLite writer
    thread (storage/sqlite_writer.py). Through SQLAlchemy's async adapters the same transaction took five to ten
    thread hops or round trips (about 1.5 ms of a 2 ms budget); bench/litellm_gateway.py measures it."""

    def __init__(self, engine: AsyncEngine, writer, sqlite_writer: SqliteWriter | None = None) -> None:  # noqa: ANN001
        self.engine = engine
        self._writer = writer  # the ledger's writer(): this process's queue of SQLite writers
        self._sqlite = sqlite_writer  # the ledger's, on SQLite (housekeeping, which never reserves, may omit it)

    async def reserve(self, r: ReservationRequest) -> Admission:
        """Hold `amount_micros` for `event_id` if every hard budget still covers spent + held + this amount."""
        if self._sqlite is not None:
            async with self._writer():  # this process's writers queue here, not in SQLite's busy back-off
                return await self._sqlite.run(_reserve_sqlite, r)
        try:
            return await self._reserve_postgres(r)
        except DBAPIError as exc:
            if not exc.connection_invalidated:  # a connection that died while pooled (a restarted server): once more
                raise
            return await self._reserve_postgres(r)

    async def _reserve_postgres(self, r: ReservationRequest) -> Admission:
        # One statement, committed on its own (the engine is in autocommit): no BEGIN and COMMIT round trips.
        async with self.engine.connect() as conn:
            row = (await conn.execute(_RESERVE_CALL, {
                "event_id": r.event_id, "person_id": r.person_id, "team_id": r.team_id, "amount": r.amount_micros,
                "person_budget": r.person_budget_micros, "team_budget": r.team_budget_micros,
                "month_start_hour": r.month_start_hour, "now": r.now_ts, "ttl": r.ttl_s})).one()
            await conn.commit()  # no round trip on an autocommit engine; on any other, what makes the hold stick
        return _admission(r, *row)

    async def drop_expired(self, now_ts: int) -> int:
        """Reservations whose event never came (a request refused later in the gateway, a lost event); and settled
        ones, once they would have expired."""
        async with self._writer(), self.engine.begin() as conn:
            await conn.execute(delete(settled_reservations).where(settled_reservations.c.expires_at <= now_ts))
            result = await conn.execute(delete(budget_reservations).where(budget_reservations.c.expires_at <= now_ts))
            return result.rowcount or 0


_RESERVE_CALL = text("SELECT admitted, stored, person_spent, person_held, team_spent, team_held FROM tokenbot_reserve("
                     "CAST(:event_id AS text), CAST(:person_id AS bigint), CAST(:team_id AS bigint), "
                     "CAST(:amount AS bigint), CAST(:person_budget AS bigint), CAST(:team_budget AS bigint), "
                     "CAST(:month_start_hour AS bigint), CAST(:now AS bigint), CAST(:ttl AS bigint))")

_SQLITE_SUMS = """SELECT
    (SELECT coalesce(sum(cost_micros), 0) FROM usage_hourly WHERE person_id = :person AND hour >= :hour),
    (SELECT coalesce(sum(amount_micros), 0) FROM budget_reservations
      WHERE person_id = :person AND expires_at > :now AND event_id <> :event),
    (SELECT coalesce(sum(cost_micros), 0) FROM team_usage_hourly WHERE team_id = :team AND hour >= :hour),
    (SELECT coalesce(sum(amount_micros), 0) FROM budget_reservations
      WHERE team_id = :team AND expires_at > :now AND event_id <> :event),
    EXISTS (SELECT 1 FROM settled_reservations WHERE event_id = :event),
    EXISTS (SELECT 1 FROM budget_reservations WHERE event_id = :event)"""


def _lines(r: ReservationRequest) -> tuple[bool, bool]:
    """Which budget lines this reservation is checked against: a hard personal budget, a hard team budget."""
    return r.person_budget_micros is not None and r.person_id is not None, r.team_budget_micros is not None


def fits(r: ReservationRequest, person_spent: int, person_held: int, team_spent: int, team_held: int) -> bool:
    """The admission rule (tokenbot_reserve applies the same in SQL): every hard line covers spent + held + this."""
    person_line, team_line = _lines(r)
    return ((not person_line or person_spent + person_held + r.amount_micros <= r.person_budget_micros)
            and (not team_line or team_spent + team_held + r.amount_micros <= r.team_budget_micros))


def _admission(r: ReservationRequest, admitted: bool, stored: bool, person_spent: int | None,
               person_held: int | None, team_spent: int | None, team_held: int | None) -> Admission:
    person_line, team_line = _lines(r)
    return Admission(bool(admitted),
                     Held(int(person_spent), int(person_held)) if person_line else None,
                     Held(int(team_spent), int(team_held)) if team_line else None,
                     reused_id=bool(stored))


def _reserve_sqlite(conn: sqlite3.Connection, r: ReservationRequest) -> Admission:
    """The reservation on SQLite, in the writer's thread: BEGIN IMMEDIATE takes the database's write lock first, so
    the sums see every committed reservation and event and no other process admits in between."""
    with immediate(conn):
        person_spent, person_held, team_spent, team_held, stored, retried = conn.execute(_SQLITE_SUMS, {
            "person": r.person_id, "team": r.team_id, "hour": r.month_start_hour, "now": r.now_ts,
            "event": r.event_id}).fetchone()
        if stored:  # a finished request's id: a client reusing a call id
            admitted = False
        elif retried:  # the gateway retrying a reservation that went through
            admitted = True
        else:
            admitted = fits(r, person_spent, person_held, team_spent, team_held)
            if admitted:
                conn.execute("INSERT INTO budget_reservations (event_id, person_id, team_id, amount_micros, "
                             "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (r.event_id, r.person_id, r.team_id, r.amount_micros, r.now_ts, r.now_ts + r.ttl_s))
    return _admission(r, admitted, stored, person_spent, person_held, team_spent, team_held)


__all__ = ["Reservations", "ReservationRequest", "Admission", "Held", "fits"]
