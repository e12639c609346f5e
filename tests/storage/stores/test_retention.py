"""Retention prunes raw events, keeps rollups, and the check proves rollups equal the raw sums."""
from __future__ import annotations

from sqlalchemy import func, select, update

from storage.stores.retention import RetentionStore
from storage.tables.core import usage_events, usage_hourly
from tests.conftest import NOW


async def test_prune_keeps_rollups_and_the_check_holds(bot) -> None:
    now = int(NOW.timestamp())
    events = [{"id": f"r{d}", "timestamp": now - d * 86400 - 60, "user": "ada" if d % 2 else "zed",
               "model": "gpt-4o", "input_tokens": 10, "output_tokens": 5, "cost_usd": 1.0 + d} for d in range(0, 40, 3)]
    assert (await bot.ingest(events))[0] == 200
    before = await RetentionStore(bot.deps.engine).check_rollups()
    assert before.ok and before.raw_cost_micros == sum(1_000_000 + d * 1_000_000 for d in range(0, 40, 3))
    report = await RetentionStore(bot.deps.engine).prune(now, keep_days=20, batch=3)  # chunks of 3, 3 and 1
    assert report.events == len([d for d in range(0, 40, 3) if d * 86400 + 60 > 20 * 86400])
    async with bot.deps.engine.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        rolled = (await conn.execute(select(func.sum(usage_hourly.c.cost_micros)))).scalar_one()
    assert kept == len(events) - report.events
    assert rolled == before.raw_cost_micros  # history stays in the rollups
    after = await RetentionStore(bot.deps.engine).check_rollups()
    assert after.ok and after.hours_checked == kept


async def test_check_finds_a_tampered_rollup(bot) -> None:
    await bot.ingest([{"id": "t1", "timestamp": int(NOW.timestamp()) - 60, "user": "ada", "model": "gpt-4o",
                       "input_tokens": 1, "output_tokens": 1, "cost_usd": 2.0}])
    async with bot.deps.engine.begin() as conn:
        await conn.execute(update(usage_hourly).values(cost_micros=usage_hourly.c.cost_micros + 1))
    result = await RetentionStore(bot.deps.engine).check_rollups()
    assert not result.ok and "person rollups (1, 2000001, 2)" in result.mismatches[0]
