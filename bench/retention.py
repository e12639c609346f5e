"""Retention on PostgreSQL: a month of raw events removed by dropping its partition (what `tokenbot retention` does)
beside the same number of rows removed by chunked DELETEs (what it did before the table was partitioned, and still
does for the month the cutoff falls in), in the same run and database.

    python bench/retention.py [--events 200000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Prints for each: seconds, events per second and WAL bytes per event. The DELETE's WAL and the dead rows it leaves for
VACUUM are the cost a partition drop avoids.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_postgres  # noqa: E402
from bot.domain.pricing import Pricer  # noqa: E402
from bot.domain.usage_events import parse_events  # noqa: E402
from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.stores.event_partitions import bounds  # noqa: E402
from storage.stores.ledger import Ledger  # noqa: E402
from storage.stores.org import Directory  # noqa: E402
from storage.stores.retention import RetentionStore  # noqa: E402
from storage.tables.core import usage_events  # noqa: E402

BATCH = 2000


async def fill(ledger: Ledger, month: tuple[int, int], n: int, now_ts: int) -> None:
    start, end = bounds(month)
    directory = Directory(1, {}, {})  # nobody in the org file: every event is unattributed, which is still stored
    for b in range(0, n, BATCH):
        items = [{"id": f"{month[0]}-{month[1]}-{i}", "timestamp": start + (i * (end - start - 1)) // n,
                  "user": f"user{i % 1000}@bench.example", "model": "gpt-4o", "provider": "openai",
                  "input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.01} for i in range(b, min(b + BATCH, n))]
        events, _ = parse_events(items, now_ts)
        await ledger.ingest(events, directory, now_ts)
        print(f"\r  filling {month[0]}-{month[1]:02d}: {min(b + BATCH, n):,}/{n:,} events", end="", file=sys.stderr)
    print(file=sys.stderr)


async def wal_lsn(engine) -> int:  # noqa: ANN001
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'"))).scalar_one())


async def run(args: argparse.Namespace, url: str) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    ledger = Ledger(engine, Pricer())
    now_ts = int(datetime(2026, 6, 15, tzinfo=UTC).timestamp())
    # Two old months of the same size: one goes by DELETE, the other by dropping its partition.
    await fill(ledger, (2026, 1), args.events, now_ts)
    await fill(ledger, (2026, 2), args.events, now_ts)
    store = RetentionStore(engine)

    wal, t0 = await wal_lsn(engine), time.perf_counter()
    # The row-by-row path, as on SQLite or for a month whose partition stayed locked.
    deleted = await store._delete_in_chunks(usage_events, (usage_events.c.ts, usage_events.c.id),  # noqa: SLF001
                                            usage_events.c.ts < bounds((2026, 2))[0], 20_000)
    delete_s, delete_wal = time.perf_counter() - t0, await wal_lsn(engine) - wal
    # The deleted rows' space comes back only after VACUUM has read the month again: part of the DELETE's cost.
    wal, t0 = await wal_lsn(engine), time.perf_counter()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM usage_events_y2026m01"))
    vacuum_s, vacuum_wal = time.perf_counter() - t0, await wal_lsn(engine) - wal

    wal, t0 = await wal_lsn(engine), time.perf_counter()
    report = await store.prune(bounds((2026, 3))[0], keep_days=0)
    drop_s, drop_wal = time.perf_counter() - t0, await wal_lsn(engine) - wal
    await engine.dispose()

    print(f"retention of one month of {args.events:,} raw events on PostgreSQL")
    print(f"  chunked DELETE  : {deleted:,} events in {delete_s:6.2f} s = {deleted / delete_s:12,.0f} events/s, "
          f"{delete_wal / deleted:6.1f} WAL bytes per event; then VACUUM {vacuum_s:6.2f} s, "
          f"{vacuum_wal / deleted:6.1f} WAL bytes per event")
    delete_s, delete_wal = delete_s + vacuum_s, delete_wal + vacuum_wal
    print(f"  partition drop  : {report.events:,} events in {drop_s:6.2f} s = {report.events / drop_s:12,.0f} events/s, "
          f"{drop_wal / max(report.events, 1):6.1f} WAL bytes per event (months dropped: {', '.join(report.months_dropped)})")
    print(f"  drop is {delete_s / drop_s:,.0f}x faster than DELETE and VACUUM, and writes "
          f"{delete_wal / max(drop_wal, 1):,.0f}x less WAL")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="events per month")
    ap.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    asyncio.run(run(args, fresh_postgres(args.postgres, "tokenbot_bench_retention")))


if __name__ == "__main__":
    main()
