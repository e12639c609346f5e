"""Rollup shards (storage/tables/core.py, ROLLUP_SHARDS): on PostgreSQL concurrent batches add to rows of their own
connection's shard, every reader sums the shards, and the fold job moves complete hours back into shard 0 without
changing any figure a user sees. SQLite writes shard 0 only."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from storage.tables.core import team_usage_hourly, usage_hourly
from tests.conftest import NOW

HOUR = int(NOW.timestamp()) // 3600


def event(i: int, hour: int, cost: float, user: str = "ada") -> dict[str, object]:
    return {"id": f"shard-{i}", "timestamp": hour * 3600 + i % 60, "user": user, "model": "gpt-4o",
            "provider": "openai", "input_tokens": 100, "output_tokens": 10, "cost_usd": cost}


async def shard_rows(bot, table) -> dict[int, int]:  # noqa: ANN001
    """hour -> rows outside shard 0."""
    async with bot.deps.engine.connect() as conn:
        rows = await conn.execute(select(table.c.hour, func.count()).where(table.c.shard != 0).group_by(table.c.hour))
        return {int(h): int(n) for h, n in rows}


async def figures(bot, person_id: int, team_id: int) -> tuple[int, int, list]:  # noqa: ANN001
    ledger = bot.deps.ledger
    person = await ledger.person_hours(person_id, HOUR - 5, HOUR)
    team = await ledger.team_hours(team_id, HOUR - 5, HOUR)
    return sum(h.cost_micros for h in person), sum(h.cost_micros for h in team), sorted(
        (h.hour, h.model, h.requests, h.cost_micros) for h in person)


async def test_concurrent_batches_then_a_fold_keep_every_sum(bot, database_url: str) -> None:  # noqa: ANN001
    # Two hours ago and this hour, from concurrent senders (on PostgreSQL: several pooled connections, so shards).
    batches = [[event(b * 50 + i, HOUR - 2 if b % 2 else HOUR, 0.01 * (b + 1), user=("ada", "alan")[i % 2])
                for i in range(50)] for b in range(8)]
    results = await asyncio.gather(*(bot.ingest(b) for b in batches))
    assert all(status == 200 and body["accepted"] == 50 for status, body in results)
    directory = await bot.deps.ingestion.directory()
    ada, platform = directory.person_by_alias["ada"]
    before = await figures(bot, ada, platform)
    # Ada: 25 events in each of the 8 batches; batch b costs 0.01 x (b + 1) per event.
    assert before[0] == sum(25 * 10_000 * (b + 1) for b in range(8))
    assert before[1] == sum(50 * 10_000 * (b + 1) for b in range(8))  # Ada and Alan are both on platform
    postgres = database_url.startswith("postgresql")
    person_shards = await shard_rows(bot, usage_hourly)
    assert bool(person_shards) == postgres  # SQLite writes shard 0 only

    folded = await bot.deps.ledger.fold_shards(HOUR)  # hours before this one
    assert (folded > 0) == postgres
    assert await figures(bot, ada, platform) == before  # nothing a user sees changes
    for table in (usage_hourly, team_usage_hourly):
        left = await shard_rows(bot, table)
        assert HOUR - 2 not in left  # the complete hour is folded ...
        assert set(left) == ({HOUR} if postgres else set())  # ... the running one is not
    assert await bot.deps.ledger.fold_shards(HOUR) == 0  # a second fold finds nothing to move


async def test_a_fold_running_twice_at_once_moves_each_amount_once(bot) -> None:  # noqa: ANN001
    results = await asyncio.gather(*(bot.ingest([event(b * 10 + i, HOUR - 1, 0.02) for i in range(10)])
                                     for b in range(6)))
    assert all(status == 200 for status, _ in results)
    directory = await bot.deps.ingestion.directory()
    ada, platform = directory.person_by_alias["ada"]
    before = await figures(bot, ada, platform)
    await asyncio.gather(bot.deps.ledger.fold_shards(HOUR), bot.deps.ledger.fold_shards(HOUR))
    assert await figures(bot, ada, platform) == before
    assert before[0] == 60 * 20_000
