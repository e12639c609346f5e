"""Budget reservations: a hard-capped request's estimated cost is held from the moment the gateway admits it until
its usage event arrives (the ledger deletes the reservation in the transaction that stores the event).

The admission is one decision in the database, never a per-process cache: on PostgreSQL under transaction-scoped
advisory locks on the person and the team, on SQLite under the database's single write lock (taken by BEGIN IMMEDIATE
before the sums are read). So with any number of replicas the spend admitted past a budget is bounded by the
estimates of the requests in flight."""
from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import is_sqlite
from storage.tables.ingest import budget_reservations


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
    """One admission per gateway request, in one round trip to the database: PostgreSQL calls `tokenbot_reserve`
    (a function, migration a7c4e2d91b36); SQLite runs the same steps as one function on a connection of its own in
    a thread of its own. Through SQLAlchemy's async adapters the same transaction took five to ten thread hops or
    round trips (about 1.5 ms of a 2 ms budget); bench/litellm_gateway.py measures it."""

    def __init__(self, engine: AsyncEngine, writer) -> None:  # noqa: ANN001 - the ledger's writer() (SQLite queue)
        self.engine = engine
        self._writer = writer
        self._sqlite_path = engine.url.database if is_sqlite(engine) else None
        self._sqlite: SqliteReserver | None = None  # made on the first reservation (housekeeping never needs it)

    async def reserve(self, r: ReservationRequest) -> Admission:
        """Hold `amount_micros` for `event_id` if every hard budget still covers spent + held + this amount."""
        if self._sqlite_path is not None:
            if self._sqlite is None:
                self._sqlite = SqliteReserver(self._sqlite_path)
            async with self._writer():  # this process's writers queue here, not in SQLite's busy back-off
                return await self._sqlite.reserve(r)
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

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    async def drop_expired(self, now_ts: int) -> int:
        """Reservations whose event never came (a request refused later in the gateway, a lost event)."""
        async with self._writer(), self.engine.begin() as conn:
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
    EXISTS (SELECT 1 FROM usage_events WHERE id = :event),
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


class SqliteReserver:
    """The reservation on SQLite: a plain sqlite3 connection owned by one thread, the whole transaction one call.
    BEGIN IMMEDIATE takes the database's write lock first, so the sums see every committed reservation and event and
    no other process admits in between."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenbot-reserve")
        self._conn: sqlite3.Connection | None = None

    async def reserve(self, r: ReservationRequest) -> Admission:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._reserve, r)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        return self._conn

    def _reserve(self, r: ReservationRequest) -> Admission:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
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
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return _admission(r, admitted, stored, person_spent, person_held, team_spent, team_held)

    def close(self) -> None:
        def close_conn() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(close_conn).result()
        self._executor.shutdown()



async def settle(conn: AsyncConnection, event_ids: list[str]) -> None:
    """Release the reservations of events being stored (called inside the ledger's ingest transaction)."""
    for start in range(0, len(event_ids), 500):
        await conn.execute(delete(budget_reservations).where(
            budget_reservations.c.event_id.in_(event_ids[start:start + 500])))


__all__ = ["Reservations", "ReservationRequest", "Admission", "Held", "fits", "settle"]
