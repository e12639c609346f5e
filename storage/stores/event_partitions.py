"""Raw usage events on PostgreSQL: one partition per calendar month (UTC) of `ts`, so retention drops whole months
instead of deleting rows one by one, and a month's indexes stay the size of a month.

Deduplication is on (ts, id), the parent's unique index (storage/tables/core.py): a unique index of a partitioned
table must include the partition key, which this one does, so every partition has its part of it and
`INSERT … ON CONFLICT DO NOTHING` checks the partition a row goes to. There is no index on id alone (until migration
c4e8a1f0b9d2 each month had a unique one); every source tokenbot ships takes an event's time from the request
itself, so a replay carries the time it carried first.

Partitions are created before rows need them: the current and next month by the migration and then daily (the
`event-partitions` job, Ledger.partitions_ahead), any other month (a backfill) by the first batch that holds it
(`MonthPartitions.ensure`), under an advisory lock so that replicas creating the same month at once do not collide.
No DEFAULT partition: rows of a month in it would stop that month's partition from ever being created.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

PARENT = "usage_events"
_NAME = re.compile(r"^usage_events_y(\d{4})m(\d{2})$")
_LOCK_KEY = 0x746F6B656E  # pg_advisory_xact_lock key of partition changes ("token")

Month = tuple[int, int]  # (year, month)


def month_of(ts: int) -> Month:
    d = datetime.fromtimestamp(ts, UTC)
    return d.year, d.month


def months_of(timestamps: Iterable[int]) -> set[Month]:
    """The months of many timestamps: one datetime per distinct day, not per event."""
    return {month_of(day * 86400) for day in {t // 86400 for t in timestamps}}


def next_month(m: Month) -> Month:
    return (m[0] + 1, 1) if m[1] == 12 else (m[0], m[1] + 1)


def bounds(m: Month) -> tuple[int, int]:
    """[start, end) of a month in epoch seconds."""
    start = datetime(m[0], m[1], 1, tzinfo=UTC)
    n = next_month(m)
    return int(start.timestamp()), int(datetime(n[0], n[1], 1, tzinfo=UTC).timestamp())


def partition_name(m: Month) -> str:
    return f"{PARENT}_y{m[0]:04d}m{m[1]:02d}"


def month_of_partition(name: str) -> Month | None:
    """The month a partition's name stands for, or None for any other table."""
    match = _NAME.match(name)
    return (int(match[1]), int(match[2])) if match else None


def include_name(name: str | None, kind: str, _parents: object) -> bool:
    """Alembic's `include_name`: what comparing the models with the database looks at. Not the partitions, which are
    made at run time and declared nowhere (migrations' env.py and tests/storage/test_migrations.py)."""
    return kind != "table" or month_of_partition(name or "") is None


def create_sql(m: Month) -> str:
    start, end = bounds(m)
    return f"CREATE TABLE IF NOT EXISTS {partition_name(m)} PARTITION OF {PARENT} FOR VALUES FROM ({start}) TO ({end})"


async def _lock(conn: AsyncConnection) -> None:
    """Partition changes take turns, until the caller's transaction ends: CREATE TABLE IF NOT EXISTS alone can still
    fail when two create the same name at once, and a drop must not meet a drop of the same month."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


async def create_partitions(conn: AsyncConnection, months: Iterable[Month]) -> None:
    """Create the months' partitions that do not exist yet, in the caller's transaction."""
    await _lock(conn)
    for m in sorted(months):
        await conn.execute(text(create_sql(m)))


DROP_LOCK_TIMEOUT = "3s"


async def drop_partition(conn: AsyncConnection, m: Month) -> int | None:
    """Drop a month's partition in the caller's transaction; its rows by PostgreSQL's estimate (ANALYZE samples a
    fixed number of pages: counting a month of events exactly would read all of it), or None if it was gone.

    Dropping a partition locks the whole table; while it waits for a long reader, every ingest queues behind it. So it
    waits at most DROP_LOCK_TIMEOUT, then fails (lock_not_available, `is_lock_timeout`) and the month is left for the
    caller to delete row by row."""
    await conn.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
    await _lock(conn)
    name = partition_name(m)
    if (await conn.execute(text("SELECT to_regclass(:name)"), {"name": name})).scalar_one() is None:
        return None
    await conn.execute(text(f"ANALYZE {name}"))
    rows = (await conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
                               {"name": name})).scalar_one()
    await conn.execute(text(f"DROP TABLE {name}"))
    return max(0, int(rows))


async def existing_partitions(conn: AsyncConnection) -> set[Month]:
    rows = await conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:parent AS regclass)"), {"parent": PARENT})
    return {m for (name,) in rows if (m := month_of_partition(name)) is not None}


def is_lock_timeout(exc: BaseException) -> bool:
    """PostgreSQL gave up waiting for a lock (SQLSTATE 55P03, under `lock_timeout`)."""
    return "lock timeout" in str(exc) or "55P03" in str(getattr(getattr(exc, "orig", None), "sqlstate", ""))


def is_missing_partition(exc: BaseException) -> bool:
    """A row whose month has no partition (check_violation "no partition of relation … found for row")."""
    return "no partition of relation" in str(exc)


class MonthPartitions:
    """The months this process knows to have a partition: a set lookup per batch on the hot path, a round trip only
    for a month it has not seen (once per month per process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.known: set[Month] = set()

    async def ensure(self, timestamps: Iterable[int]) -> None:
        await self.ensure_months(months_of(timestamps))

    async def ensure_months(self, months: Iterable[Month]) -> None:
        missing = set(months) - self.known
        if not missing:
            return
        async with self.engine.begin() as conn:
            await create_partitions(conn, missing)
        self.known |= missing
