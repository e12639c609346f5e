"""Raw events on PostgreSQL live in one partition per month (storage/stores/event_partitions.py): any month's events
land (a backfill included), replays stay no-ops (also with another time in the same month), retention drops whole months and keeps every rollup, and a late event
of a dropped month is stored again. SQLite keeps one table; the same figures hold there."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from bot.domain.pricing import Pricer
from bot.domain.usage_events import parse_events
from storage.stores.event_partitions import bounds, month_of, months_of
from storage.stores.ledger import Ledger
from storage.stores.retention import RetentionStore
from storage.tables.core import usage_events, usage_hourly
from tests.conftest import NOW

NOW_TS = int(NOW.timestamp())  # 2026-11-18


def at(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, 12, tzinfo=UTC).timestamp())


def event(id_: str, ts: int, cost: float, user: str = "ada") -> dict[str, object]:
    return {"id": id_, "timestamp": ts, "user": user, "model": "gpt-4o", "provider": "openai",
            "input_tokens": 100, "output_tokens": 10, "cost_usd": cost}


async def partitions(bot) -> list[str]:  # noqa: ANN001
    async with bot.deps.engine.connect() as conn:
        return sorted(name for (name,) in await conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST('usage_events' AS regclass)")))


async def stored(bot) -> tuple[int, int]:  # noqa: ANN001
    """(raw events, cost in the person rollups)."""
    async with bot.deps.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        rolled = (await conn.execute(select(func.coalesce(func.sum(usage_hourly.c.cost_micros), 0)))).scalar_one()
    return int(events), int(rolled)


def postgres_only(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("SQLite has no partitions")


def test_months_and_bounds() -> None:
    assert month_of(at(2026, 12, 31)) == (2026, 12) and month_of(bounds((2026, 12))[1]) == (2027, 1)
    assert bounds((2026, 2)) == (int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()),
                                 int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()))
    assert months_of([bounds((2026, 3))[1] - 1, bounds((2026, 3))[1], at(2025, 1, 9)]) == {(2026, 3), (2026, 4), (2025, 1)}


async def test_a_backfilled_month_is_stored_once_and_counted(bot, database_url: str) -> None:  # noqa: ANN001
    backfill = [event(f"old-{i}", at(2026, 6, 10) + i, 0.25) for i in range(4)]
    assert (await bot.ingest(backfill + [event("now-1", NOW_TS - 60, 1.0)]))[1]["accepted"] == 5
    status, body = await bot.ingest(backfill)  # the gateway sends it again
    assert status == 200 and body["accepted"] == 0 and body["duplicates"] == 4
    # An event is its id and time: the same ids at other times are other requests (a client reusing its ids), kept.
    reused = [event("old-0", at(2026, 6, 12), 0.25), event("now-1", NOW_TS - 30, 1.0)]
    assert (await bot.ingest(reused))[1]["accepted"] == 2
    assert (await bot.ingest(reused + backfill))[1]["duplicates"] == 6
    assert await stored(bot) == (7, 3_250_000)
    directory = await bot.deps.ingestion.directory()
    ada = directory.person_by_alias["ada"][0]
    june = await bot.deps.ledger.person_hours(ada, at(2026, 6, 10) // 3600 - 1, at(2026, 6, 10) // 3600 + 1)
    assert sum(h.cost_micros for h in june) == 1_000_000
    if database_url.startswith("postgresql"):
        assert "usage_events_y2026m06" in await partitions(bot)


async def test_retention_drops_whole_months_and_keeps_the_rollups(bot, database_url: str) -> None:  # noqa: ANN001
    postgres_only(database_url)
    # Two events in each month from July to November 2026, on the 3rd and the 13th; 1 dollar each.
    events = [event(f"m{m}-{i}", at(2026, m, 3 + 10 * i), 1.0) for m in range(7, 12) for i in range(2)]
    assert (await bot.ingest(events))[1]["accepted"] == 10
    # Keep 60 days from 18 November: the cutoff is 19 September, so July and August go whole and September's two
    # events row by row (its partition stays); October and November stay.
    report = await RetentionStore(bot.deps.engine).prune(NOW_TS, keep_days=60)
    assert report.months_dropped == ("2026-07", "2026-08")
    assert report.events == 6
    names = await partitions(bot)
    assert "usage_events_y2026m07" not in names and "usage_events_y2026m08" not in names
    assert {"usage_events_y2026m09", "usage_events_y2026m10", "usage_events_y2026m11"} <= set(names)
    assert await stored(bot) == (4, 10_000_000)  # history stays in the rollups
    # Two prunes at once (the daily job on one replica, `tokenbot retention` on another): each month goes once.
    again = await asyncio.gather(*(RetentionStore(bot.deps.engine).prune(NOW_TS, keep_days=30) for _ in range(2)))
    assert sorted(r.months_dropped for r in again) == [(), ("2026-09",)]
    assert await stored(bot) == (2, 10_000_000)  # November's two events
    check = await RetentionStore(bot.deps.engine).check_rollups()
    assert check.ok, check.mismatches
    # A late event of July: this replica had seen July's partition, which retention has dropped since.
    assert (await bot.ingest([event("late-july", at(2026, 7, 30), 2.0)]))[1]["accepted"] == 1
    assert await stored(bot) == (3, 12_000_000)


async def test_replicas_opening_the_same_new_month_at_once_both_store(bot, database_url: str) -> None:  # noqa: ANN001
    postgres_only(database_url)
    directory = await bot.deps.ingestion.directory()
    replicas = [Ledger(bot.deps.engine, Pricer()) for _ in range(4)]  # each with its own, empty, partition cache
    batches = [parse_events([event(f"r{r}-{i}", at(2025, 2, 1 + i), 0.5) for i in range(20)], NOW_TS)[0]
               for r in range(4)]
    results = await asyncio.gather(*(ledger.ingest(b, directory, NOW_TS) for ledger, b in zip(replicas, batches)))
    assert [r.accepted for r in results] == [20, 20, 20, 20]
    assert "usage_events_y2025m02" in await partitions(bot)
    assert await stored(bot) == (80, 40_000_000)


async def test_the_daily_job_makes_next_month_before_its_first_event(bot, database_url: str) -> None:  # noqa: ANN001
    from bot.jobs.scheduler import Jobs

    bot.clock.set(datetime(2026, 12, 20, 9, tzinfo=UTC))
    assert await Jobs(bot.deps).run("event-partitions", 86400, Jobs(bot.deps).event_partitions)
    if database_url.startswith("postgresql"):
        assert {"usage_events_y2026m12", "usage_events_y2027m01"} <= set(await partitions(bot))
    # Claimed once per day across replicas, like every job: the same slot does not run again.
    assert not await Jobs(bot.deps).run("event-partitions", 86400, Jobs(bot.deps).event_partitions)


async def test_a_month_a_long_reader_holds_is_deleted_row_by_row_instead(bot, database_url: str,  # noqa: ANN001
                                                                       monkeypatch) -> None:  # noqa: ANN001
    postgres_only(database_url)
    from storage.stores import event_partitions

    monkeypatch.setattr(event_partitions, "DROP_LOCK_TIMEOUT", "200ms")  # the product waits 3 s
    assert (await bot.ingest([event(f"jul-{i}", at(2026, 7, 3 + i), 1.0) for i in range(3)]))[1]["accepted"] == 3
    async with bot.deps.engine.connect() as reader:  # a report that keeps its transaction open on the table
        await reader.execute(select(func.count()).select_from(usage_events))
        report = await RetentionStore(bot.deps.engine).prune(NOW_TS, keep_days=60)
    # Ingestion never queued behind the drop for longer than the timeout; July's rows went anyway.
    assert report.months_dropped == () and report.events == 3
    assert "usage_events_y2026m07" in await partitions(bot)
    assert await stored(bot) == (0, 3_000_000)
