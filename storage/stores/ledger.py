"""The usage ledger: raw events (idempotent on their id and time) and the hourly rollups every query reads."""
from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.pricing import MICROS_PER_USD, Pricer
from bot.domain.usage_events import Rejection, UsageEvent, dead_letter_text
from storage.db import database_error, insert_for, is_sqlite
from storage.sqlite_writer import SqliteWriter, immediate
from storage.stores.event_partitions import MonthPartitions, is_missing_partition, month_of, next_month
from storage.stores.org import Directory
from storage.stores.reports import window_sums, window_values
from storage.tables.core import ROLLUP_MEASURES, ROLLUP_SHARDS, dead_letters, team_usage_hourly, usage_events, usage_hourly
from storage.tables.ingest import failed_requests_hourly

# (requests, input, output, cached, cost_micros, unpriced)
Measures = list[int]

_EVENT_COLUMNS = tuple(c.name for c in usage_events.columns)

# A batch's new events are summed into the rollups by the database itself, in one statement per rollup (SQLite,
# _ingest_sqlite) or in the one statement that stores the batch (PostgreSQL, _PG_INGEST); the Python side only
# builds the rows. (_rollup_deltas does the same sums in Python, for moving events between people.)
_SUMS = ("sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), "
         "coalesce(sum(cost_micros), 0), coalesce(sum(CASE WHEN cost_micros IS NULL THEN requests END), 0)")
_ONE_EVENT = ("requests, input_tokens, output_tokens, cached_input_tokens, "
              "coalesce(cost_micros, 0), CASE WHEN cost_micros IS NULL THEN requests ELSE 0 END")
_PERSON_KEYS = ("person_id, hour, team_id, model", "coalesce(person_id, 0), ts / 3600, team_id, model")
_TEAM_KEYS = ("team_id, hour, model", "team_id, ts / 3600, model")


def _rollup_from(table: str, keys: tuple[str, str], source: str, shard: str | None = None, grouped: bool = True) -> str:
    """INSERT … SELECT sums FROM `source` GROUP BY the keys, adding to rows that exist. In key order: concurrent
    batches then lock shared rollup rows in one order (PostgreSQL would otherwise abort one with a deadlock).
    `shard`: the expression of the rows' shard (PostgreSQL; storage/tables/core.py, ROLLUP_SHARDS).
    `grouped=False`: each source row added on its own, unsorted (SQLite, one writer: no lock order to keep). Where a
    batch holds about one row per key, as a person's rollup does, SQLite's sort for GROUP BY costs more than the extra
    upserts (figures at _SQLITE_ADD_PERSON_ROLLUPS)."""
    names, expressions = keys
    if shard is not None:
        names, expressions = f"{names}, shard", f"{expressions}, {shard}"
    positions = ", ".join(str(i + 1) for i in range(len(names.split(", "))))
    select = (f"SELECT {expressions}, {_SUMS} FROM {source} GROUP BY {positions} ORDER BY {positions}" if grouped
              else f"SELECT {expressions}, {_ONE_EVENT} FROM {source} WHERE true")  # WHERE: SQLite's upsert syntax
    return (f"INSERT INTO {table} ({names}, {', '.join(ROLLUP_MEASURES)}) {select} "
            f"ON CONFLICT ({names}) DO UPDATE SET " + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in ROLLUP_MEASURES))


# This connection's shard: connections of one replica and of several differ, so their batches add to different rows.
_PG_SHARD = f"1 + pg_backend_pid() % {ROLLUP_SHARDS}"


def _fold_shards_sql(table: str, keys: str) -> str:
    """Move complete hours' shard rows into shard 0, in one statement (a concurrent fold finds the rows gone)."""
    sums = ", ".join(f"sum({m})" for m in ROLLUP_MEASURES)
    positions = ", ".join(str(i + 1) for i in range(len(keys.split(", "))))
    return (f"WITH moved AS (DELETE FROM {table} WHERE shard <> 0 AND hour < :before "
            f"RETURNING {keys}, {', '.join(ROLLUP_MEASURES)}) "
            f"INSERT INTO {table} ({keys}, shard, {', '.join(ROLLUP_MEASURES)}) "
            f"SELECT {keys}, 0, {sums} FROM moved GROUP BY {positions} ORDER BY {positions} "
            f"ON CONFLICT ({keys}, shard) DO UPDATE SET "
            + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in ROLLUP_MEASURES))


_FOLD_SHARDS = [text(_fold_shards_sql("usage_hourly", "person_id, hour, team_id, model")),
                text(_fold_shards_sql("team_usage_hourly", "team_id, hour, model"))]


def _failures_from(source: str) -> str:
    return ("INSERT INTO failed_requests_hourly (person_id, hour, team_id, model, failures) "
            f"SELECT coalesce(person_id, 0), ts / 3600, team_id, model, count(*) FROM {source} "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 ON CONFLICT (person_id, hour, team_id, model) "
            "DO UPDATE SET failures = failed_requests_hourly.failures + excluded.failures")


# SQLite: one transaction for every batch that queued while the previous one was written (group commit, in the
# writer: storage/sqlite_writer.py): multi-row INSERTs that skip stored ids, then the rollups summed from the rows
# this transaction added. Under BEGIN IMMEDIATE nothing else writes, and SQLite gives a new row the largest rowid
# plus one, so "added here" is "rowid above the largest before": no copy of the batch in a temporary table.
_SQLITE_CHUNK = 100  # rows per INSERT: 1,500 parameters, under SQLite's limit of 32,766
_ORG_REVISION = "SELECT coalesce((SELECT revision FROM main.org_state WHERE id = 1), 0)"
_LAST_ROWID = "SELECT coalesce(max(rowid), 0) FROM main.usage_events"
_SQLITE_ADDED = "(SELECT * FROM main.usage_events WHERE rowid > :before)"  # bound: the statements stay cached
# A group of batches holds about one event per (person, hour, team, model) and many per (team, hour, model). Summed
# per person first, the sort for GROUP BY was 2.5 us an event; added row by row, the whole person rollup is 1.7-2.0
# us against 3.1-3.2 (2,000 events on 200,000, best of 20). The team rollup stays grouped: row by row it also
# rewrites its spend index once per event (1.7 us against 0.9-1.0).
_SQLITE_ADD_PERSON_ROLLUPS = _rollup_from("usage_hourly", _PERSON_KEYS, _SQLITE_ADDED, grouped=False)
_SQLITE_ADD_TEAM_ROLLUPS = _rollup_from("team_usage_hourly", _TEAM_KEYS, _SQLITE_ADDED)
_SQLITE_COUNT_FAILURES = _failures_from(
    f"(SELECT * FROM {_SQLITE_ADDED} WHERE id IN (SELECT value FROM json_each(:failed)))")
# Settled reservations move to settled_reservations (storage/tables/ingest.py), as _PG_INGEST's `settled` and `kept`.
_SQLITE_SETTLE = (f"DELETE FROM main.budget_reservations WHERE event_id IN (SELECT id FROM {_SQLITE_ADDED}) "
                  "RETURNING event_id, expires_at")
_SQLITE_KEEP_SETTLED = ("INSERT INTO main.settled_reservations (event_id, expires_at) VALUES (?, ?) "
                        "ON CONFLICT (event_id) DO NOTHING")
# Settling builds a set of every new id (~0.35 us an event); without a hard budget there is never a reservation.
_SQLITE_ANY_RESERVATION = "SELECT EXISTS (SELECT 1 FROM main.budget_reservations)"


@functools.lru_cache(maxsize=_SQLITE_CHUNK)
def _sqlite_insert(rows: int) -> str:
    one = f"({', '.join('?' * len(_EVENT_COLUMNS))})"
    return (f"INSERT INTO main.usage_events ({', '.join(_EVENT_COLUMNS)}) VALUES {', '.join([one] * rows)} "
            "ON CONFLICT (ts, id) DO NOTHING")  # an event is its (ts, id): storage/tables/core.py


# PostgreSQL: the whole batch in one statement (one round trip, so row locks on shared rollup rows are held for the
# shortest time; concurrent replicas then rarely wait on each other): the rows arrive as one array per column.
_PG_TYPES = {"id": "text", "ts": "bigint", "user_ref": "text", "person_id": "integer", "team_id": "integer",
             "model": "text", "provider": "text", "input_tokens": "bigint", "output_tokens": "bigint",
             "cached_input_tokens": "bigint", "cost_micros": "bigint", "cost_source": "text", "metadata": "text",
             "received_at": "bigint", "requests": "bigint"}
_PG_FRESH_COLUMNS = "id, ts, person_id, team_id, model, input_tokens, output_tokens, cached_input_tokens, cost_micros, requests"
# The batch is stored only if the org file's revision is the one its people were looked up in: the check costs no
# round trip of its own (Ledger.ingest, StaleDirectory).
_ORG_REVISION_PG = "SELECT coalesce(max(revision), 0) FROM org_state WHERE id = 1"
_PG_INGEST = text(
    "WITH batch AS (SELECT * FROM unnest("
    + ", ".join(f"CAST(:{c} AS {_PG_TYPES[c]}[])" for c in _EVENT_COLUMNS) + ", CAST(:failed AS boolean[])) "
    f"AS b({', '.join(_EVENT_COLUMNS)}, failed) WHERE ({_ORG_REVISION_PG}) = :revision), "
    f"fresh AS (INSERT INTO usage_events ({', '.join(_EVENT_COLUMNS)}) "
    f"SELECT {', '.join('CAST(metadata AS json)' if c == 'metadata' else c for c in _EVENT_COLUMNS)} FROM batch "
    f"ORDER BY id ON CONFLICT (ts, id) DO NOTHING RETURNING {_PG_FRESH_COLUMNS}), "
    f"person AS ({_rollup_from('usage_hourly', _PERSON_KEYS, 'fresh', _PG_SHARD)}), "
    f"team AS ({_rollup_from('team_usage_hourly', _TEAM_KEYS, 'fresh', _PG_SHARD)}), "
    f"failures AS ({_failures_from('(SELECT fresh.* FROM fresh JOIN batch USING (id) WHERE batch.failed) AS f')}), "
    "settled AS (DELETE FROM budget_reservations WHERE event_id IN (SELECT id FROM batch) "
    "RETURNING event_id, expires_at), "
    "kept AS (INSERT INTO settled_reservations SELECT * FROM settled ON CONFLICT (event_id) DO NOTHING) "
    f"SELECT count(*), ({_ORG_REVISION_PG}) FROM fresh")


class StaleDirectory(Exception):
    """The org file changed since the directory a batch was attributed with was loaded: nothing was stored."""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


@dataclass(frozen=True)
class HourlyRow:
    hour: int  # epoch hours, UTC
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micros: int
    unpriced_requests: int


class Ledger:
    def __init__(self, engine: AsyncEngine, pricer: Pricer, sqlite_writer: str = "thread") -> None:
        self.engine = engine
        self.pricer = pricer
        self._insert = insert_for(engine)
        # SQLite has one writer; queueing writers here is cheaper than SQLite's busy-wait back-off.
        self._write_lock = asyncio.Lock() if is_sqlite(engine) else None
        self.sqlite_writer: SqliteWriter | None = None
        self.partitions: MonthPartitions | None = None  # PostgreSQL: usage_events has a partition per month
        if is_sqlite(engine):
            self.sqlite_writer = SqliteWriter(engine.url.database or "", mode=sqlite_writer)
        else:
            self.partitions = MonthPartitions(engine)

    def close(self) -> None:
        if self.sqlite_writer is not None:
            self.sqlite_writer.close()

    async def ingest(self, events: Sequence[UsageEvent], directory: Directory, now_ts: int,
                     source: str = "api", check_revision: bool = False) -> IngestResult:
        """Store new events, add them to the rollups and settle their reservations (a request's cost moves from held
        to spent atomically), in one transaction. Replayed ids change nothing. A new event whose metadata says
        `status: "failure"` (a failed gateway request: cost 0, no tokens) is also counted in failed_requests_hourly,
        so failures are counted, not spent.

        `check_revision`: store nothing and raise StaleDirectory if the org file has changed since `directory` was
        loaded (checked inside the transaction, so a caller can hold its directory without asking first)."""
        if not events:
            return IngestResult(0, 0)
        rows = [self._event_values(e, directory, now_ts) for e in events]
        failed = [_is_failure(e) for e in events]
        revision = directory.revision if check_revision else None
        if self.sqlite_writer is not None:
            # Flattened here, not in the writer: the writer process is the bottleneck of SQLite ingestion, and one
            # flat list also pickles and unpickles faster than a list of tuples.
            batch = (list(chain.from_iterable(rows)), [r[0] for r, f in zip(rows, failed) if f], revision)
            accepted = await self.sqlite_writer.run_grouped(_ingest_sqlite, batch)
        else:
            params: dict[str, Any] = dict(zip(_EVENT_COLUMNS, map(list, zip(*rows))))
            params["failed"] = failed
            params["revision"] = directory.revision
            accepted, current = await self._ingest_postgres(params)
            if current != directory.revision:
                accepted = None if check_revision else await self._ingest_postgres_unchecked(params, current)
        if accepted is None:
            raise StaleDirectory(directory.revision)
        return IngestResult(accepted=accepted, duplicates=len(rows) - accepted)

    async def partitions_ahead(self, now_ts: int) -> int:
        """PostgreSQL: this month's and next month's partitions of raw events, made before any event needs them (the
        first event of a month then never waits for DDL, which queues behind every open transaction on the table).
        Returns the months ensured (0 on SQLite)."""
        if self.partitions is None:
            return 0
        months = {month_of(now_ts), next_month(month_of(now_ts))}
        await self.partitions.ensure_months(months)
        return len(months)

    async def _ingest_postgres(self, params: dict[str, Any]) -> tuple[int, int]:
        """(events stored, the org revision), once the months of the batch have their partitions."""
        assert self.partitions is not None
        for attempt in (1, 2):
            await self.partitions.ensure(params["ts"])
            try:
                async with self.engine.begin() as conn:
                    stored, revision = (await conn.execute(_PG_INGEST, params)).one()
                    return stored, revision
            except DBAPIError as exc:
                if attempt == 2 or not is_missing_partition(exc):
                    raise
                # Another process's retention dropped a month this one had seen: late rows, not bad ones.
                self.partitions.known.clear()
        raise AssertionError("unreachable")

    async def _ingest_postgres_unchecked(self, params: dict[str, Any], current: int) -> int:
        return (await self._ingest_postgres(params | {"revision": current}))[0]

    async def failed_requests(self, from_hour: int, to_hour: int, person_id: int | None = None) -> int:
        """Failed gateway requests in hours [from_hour, to_hour], of one person or of everyone."""
        t = failed_requests_hourly
        stmt = select(func.coalesce(func.sum(t.c.failures), 0)).where(t.c.hour.between(from_hour, to_hour))
        if person_id is not None:
            stmt = stmt.where(t.c.person_id == person_id)
        async with self.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    def _event_values(self, e: UsageEvent, directory: Directory, now_ts: int) -> tuple:
        """The event's row in _EVENT_COLUMNS order (metadata as JSON text)."""
        person_id, team_id = directory.attribute(e.user, e.team)
        if e.cost_usd is not None:
            cost, cost_source = round(e.cost_usd * MICROS_PER_USD), "event"
        else:
            cost = self.pricer.cost_micros(e.model, e.provider, e.input_tokens, e.output_tokens,
                                           e.cached_input_tokens, e.ts)
            cost_source = "price" if cost is not None else "unknown"
        meta = e.metadata
        return (e.id, e.ts, e.user, person_id, team_id, e.model, e.provider, e.input_tokens, e.output_tokens,
                e.cached_input_tokens, cost, cost_source, None if meta is None else orjson.dumps(meta).decode(),
                now_ts, e.requests)

    async def _add_to_rollups(self, conn: AsyncConnection,
                              deltas: tuple[dict[tuple, Measures], dict[tuple, Measures]]) -> None:
        person_deltas, team_deltas = deltas
        for table, keys, batch in ((usage_hourly, ("person_id", "hour", "team_id", "model"), person_deltas),
                                   (team_usage_hourly, ("team_id", "hour", "model"), team_deltas)):
            if not batch:
                continue
            if self._write_lock is not None:  # SQLite: executemany through the driver, as for events
                sql = (f"INSERT INTO {table.name} ({', '.join(keys + ROLLUP_MEASURES)}) "
                       f"VALUES ({', '.join('?' * (len(keys) + len(ROLLUP_MEASURES)))}) "
                       f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
                       + ", ".join(f"{m} = {m} + excluded.{m}" for m in ROLLUP_MEASURES))
                await conn.exec_driver_sql(sql, [(*key, *m) for key, m in batch.items()])
                continue
            stmt = self._insert(table)
            stmt = stmt.on_conflict_do_update(index_elements=[*keys, "shard"],
                                              set_={m: table.c[m] + stmt.excluded[m] for m in ROLLUP_MEASURES})
            # In key order: concurrent transactions then lock shared rollup rows in one order (PostgreSQL would
            # otherwise abort one of them with a deadlock, a 500 for that batch). Into shard 0: readers sum the
            # shards, so taking an amount off shard 0 that was added to another shard keeps every sum right.
            await conn.execute(stmt, [dict(zip(keys, key)) | {"shard": 0} | dict(zip(ROLLUP_MEASURES, m))
                                      for key, m in sorted(batch.items())])

    async def reattribute(self, directory: Directory) -> int:
        """Give events of users who were unknown when they arrived to the people the org file now names.

        Moves their rollup amounts from the 'unmapped' rows to the person's (and, if it had none, team's) rows, so
        history is never recomputed from raw events (which retention may have pruned)."""
        columns = [usage_events.c[c] for c in ("ts", "team_id", "model", "input_tokens", "output_tokens",
                                                "cached_input_tokens", "cost_micros", "requests")]
        async with self.writer(), self.engine.begin() as conn:
            refs = [r for r in (await conn.execute(select(usage_events.c.user_ref).distinct()
                                                   .where(usage_events.c.person_id.is_(None)))).scalars()
                    if r in directory.person_by_alias]
            moved = 0
            for ref in refs:
                person_id, team_id = directory.person_by_alias[ref]
                # The UPDATE decides which rows move (RETURNING them): a second process running this at the same
                # time finds them no longer unmapped and moves nothing, so amounts are never moved twice.
                unteamed = (await conn.execute(update(usage_events).where(
                    usage_events.c.person_id.is_(None), usage_events.c.user_ref == ref, usage_events.c.team_id == 0)
                    .values(person_id=person_id, team_id=team_id).returning(*columns))).mappings().all()
                teamed = (await conn.execute(update(usage_events).where(
                    usage_events.c.person_id.is_(None), usage_events.c.user_ref == ref)
                    .values(person_id=person_id).returning(*columns))).mappings().all()
                before = [dict(r) | {"person_id": 0, "team_id": 0} for r in unteamed] + [
                    dict(r) | {"person_id": 0} for r in teamed]
                after = [dict(r) | {"person_id": person_id} for r in (*unteamed, *teamed)]
                if not after:
                    continue
                await self._add_to_rollups(conn, _rollup_deltas(before, sign=-1))
                await self._add_to_rollups(conn, _rollup_deltas(after))
                moved += len(after)
        return moved

    async def fold_shards(self, before_hour: int) -> int:
        """Fold the rollup rows of hours before `before_hour` that concurrent batches wrote to their own shards into
        shard 0 (PostgreSQL; SQLite writes shard 0 only). Returns the rows folded. Sums do not change."""
        if self.sqlite_writer is not None:
            return 0
        folded = 0
        async with self.engine.begin() as conn:
            for stmt in _FOLD_SHARDS:
                folded += (await conn.execute(stmt, {"before": before_hour})).rowcount
        return folded

    async def dead_letter(self, rejections: Iterable[Rejection], source: str, now_ts: int) -> None:
        rows = [{"received_at": now_ts, "source": source[:64], "item_index": r.index,
                 "reason": dead_letter_text(r.reason)[:2000], "raw": dead_letter_text(r.raw)} for r in rejections]
        if rows:
            async with self.writer(), self.engine.begin() as conn:
                await conn.execute(insert(dead_letters), rows)

    async def dead_letter_body(self, body: bytes, reason: str, source: str, now_ts: int) -> None:
        """A body that could not be read at all; kept (up to 64 KiB) so an admin can see what the sender sent."""
        raw = body[:65536].decode("utf-8", "replace")
        await self.dead_letter([Rejection(-1, reason, raw)], source, now_ts)

    async def recent_dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit))
            return [dict(r) for r in rows.mappings()]

    async def person_hours(self, person_id: int, from_hour: int, to_hour: int) -> list[HourlyRow]:
        """Rollup rows of one person, hours in [from_hour, to_hour], summed over teams."""
        return await self._hours(usage_hourly, usage_hourly.c.person_id == person_id, from_hour, to_hour)

    async def team_hours(self, team_id: int, from_hour: int, to_hour: int) -> list[HourlyRow]:
        return await self._hours(team_usage_hourly, team_usage_hourly.c.team_id == team_id, from_hour, to_hour)

    async def _hours(self, table, where, from_hour: int, to_hour: int) -> list[HourlyRow]:  # noqa: ANN001
        stmt = (select(table.c.hour, table.c.model, *(func.sum(table.c[m]) for m in ROLLUP_MEASURES))
                .where(where, table.c.hour.between(from_hour, to_hour))
                .group_by(table.c.hour, table.c.model))
        async with self.engine.connect() as conn:
            # PostgreSQL sums BIGINT as NUMERIC (Decimal): integers here, as on SQLite.
            return [HourlyRow(r[0], r[1], *(int(v) for v in r[2:])) for r in await conn.execute(stmt)]

    async def window_totals(self, scope: str, key: int, starts: Sequence[int], to_hour: int
                            ) -> dict[str, list[tuple[int, int, int, int]]]:
        """Per model, (cost, tokens, requests, unpriced) summed from each start hour to `to_hour`, in one indexed
        range scan: SQLite adds up a team's thousands of rows faster than Python can receive them."""
        table, where = ((usage_hourly, usage_hourly.c.person_id == key) if scope == "person"
                        else (team_usage_hourly, team_usage_hourly.c.team_id == key))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(window_sums(table, where, starts, to_hour))).all()
        return {r[0]: window_values(r[1:], len(starts)) for r in rows}

    async def raw_totals(self, where_sql: Any = None) -> dict[str, int]:
        """Straight sums over raw events (for checks and the CLI)."""
        stmt = select(func.count(), func.coalesce(func.sum(usage_events.c.cost_micros), 0),
                      func.coalesce(func.sum(usage_events.c.input_tokens + usage_events.c.output_tokens), 0))
        if where_sql is not None:
            stmt = stmt.where(where_sql)
        async with self.engine.connect() as conn:
            count, cost, tokens = (await conn.execute(stmt)).one()
        return {"events": count, "cost_micros": int(cost), "tokens": int(tokens)}

    async def reachable(self) -> bool:
        """Whether the database answers at all: tells "this item cannot be stored" from "nothing can be"."""
        return await database_error(self.engine) is None

    def writer(self):  # noqa: ANN202
        """The in-process queue of SQLite writers (a no-op on PostgreSQL), for stores sharing this engine."""
        return self._write_lock if self._write_lock is not None else _NullLock()


class _NullLock:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _ingest_sqlite(conn: sqlite3.Connection, batches: list[tuple[list, list[str], int | None]]) -> list[int | None]:
    """Batches in one SQLite transaction (in the writer): their new events, rollups and failures, their reservations
    settled. A batch is (its rows' values in _EVENT_COLUMNS order, one flat list; the ids of failed requests; the org
    revision it was built for, or None). Per batch: how many events were new, or None if it was built for another org
    revision than the stored one (nothing of it stored)."""
    with immediate(conn):  # a failure rolls the whole group back; SqliteWriter.run_grouped then retries each batch
        revision = conn.execute(_ORG_REVISION).fetchone()[0]
        before = conn.execute(_LAST_ROWID).fetchone()[0]
        accepted: list[int | None] = []
        failed_ids: list[str] = []
        width = len(_EVENT_COLUMNS)
        for values, failed, expected in batches:
            if expected is not None and expected != revision:
                accepted.append(None)
                continue
            added = 0
            for start in range(0, len(values), _SQLITE_CHUNK * width):
                chunk = values[start:start + _SQLITE_CHUNK * width]
                added += conn.execute(_sqlite_insert(len(chunk) // width), chunk).rowcount
            failed_ids += failed
            accepted.append(added)
        if any(accepted):
            since = {"before": before}
            conn.execute(_SQLITE_ADD_PERSON_ROLLUPS, since)
            conn.execute(_SQLITE_ADD_TEAM_ROLLUPS, since)
            if failed_ids:
                conn.execute(_SQLITE_COUNT_FAILURES, since | {"failed": orjson.dumps(failed_ids).decode()})
            if conn.execute(_SQLITE_ANY_RESERVATION).fetchone()[0]:
                conn.executemany(_SQLITE_KEEP_SETTLED, conn.execute(_SQLITE_SETTLE, since).fetchall())
    return accepted


def _is_failure(e: UsageEvent) -> bool:
    """A failed gateway request (its metadata says `status: "failure"`): counted in failed_requests_hourly, not spent."""
    return isinstance(e.metadata, dict) and e.metadata.get("status") == "failure"


def _rollup_deltas(rows: Iterable[dict[str, Any]], sign: int = 1) -> tuple[dict[tuple, Measures], dict[tuple, Measures]]:
    """Aggregate event rows into per-person and per-team hourly deltas (pure)."""
    person: dict[tuple, Measures] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    team: dict[tuple, Measures] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for r in rows:
        hour = r["ts"] // 3600
        cost = r["cost_micros"]
        n = sign * r.get("requests", 1)  # the provider's own request count for a usage-report bucket
        values = (n, sign * r["input_tokens"], sign * r["output_tokens"], sign * r["cached_input_tokens"],
                  sign * (cost or 0), n if cost is None else 0)
        for acc in (person[(r["person_id"] or 0, hour, r["team_id"], r["model"])], team[(r["team_id"], hour, r["model"])]):
            for i, v in enumerate(values):
                acc[i] += v
    return person, team


__all__ = ["Ledger", "IngestResult", "HourlyRow", "StaleDirectory"]
