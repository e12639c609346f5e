"""unclaimed_spend on the real database: only unclaimed events of the window, exact sums, and the ids' order."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from storage.db import is_sqlite, make_engine
from storage.stores.event_partitions import MonthPartitions
from storage.tables.core import usage_events
from bot.domain.unclaimed import Unclaimed, UnclaimedId
from storage.stores.insights import InsightStore

NOV = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
DEC = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())


def event(n: int, ts: int, user_ref: str, cost_micros: int | None, person_id: int | None = None) -> dict:
    return {"id": f"e{n}", "ts": ts, "user_ref": user_ref, "person_id": person_id, "team_id": 0, "model": "gpt-4o",
            "provider": "openai", "input_tokens": 10, "output_tokens": 5, "cached_input_tokens": 0,
            "cost_micros": cost_micros, "cost_source": "event" if cost_micros is not None else "unknown",
            "metadata": None, "received_at": ts}


async def test_unclaimed_spend_sums_the_window_and_orders_the_ids(database_url: str) -> None:
    big = 3_000_000_000_000  # beyond 32 bits: PostgreSQL sums BIGINT as NUMERIC, which must come back as int
    rows = [
        event(1, NOV, "key:abc", 2_500_000),                # first second of the month counts
        event(2, NOV + 3600, "key:abc", 1_500_000),
        event(3, NOV + 7200, "default-team-key", big),
        event(4, NOV + 7300, "bob", 4_000_000),             # ties key:abc on cost, fewer requests
        event(5, NOV + 7400, "carol", 1_000_000),
        event(6, NOV + 7500, "carol", None),                # unpriced: counted, costs 0
        event(7, NOV + 7600, "dave", 1_000_000),            # ties carol on cost, fewer requests
        event(8, NOV + 7700, "ann", 1_000_000),             # ties dave on cost and requests: by id
        event(9, NOV + 100, "ada", 9_000_000, person_id=1),  # claimed
        event(10, NOV - 1, "key:abc", 7_000_000),            # October
        event(11, DEC, "key:abc", 7_000_000),                # December: the window is [from, to)
    ]
    engine = make_engine(database_url)
    try:
        if not is_sqlite(engine):  # rows written here, not through the ledger: their months need partitions
            await MonthPartitions(engine).ensure(r["ts"] for r in rows)
        async with engine.begin() as conn:
            await conn.execute(insert(usage_events), rows)
        result = await InsightStore(engine).unclaimed_spend(NOV, DEC)
        assert result == Unclaimed(
            cost_micros=big + 11_000_000, requests=8, unpriced=1,
            top=[UnclaimedId("default-team-key", big, 1, NOV + 7200),
                 UnclaimedId("key:abc", 4_000_000, 2, NOV + 3600),
                 UnclaimedId("bob", 4_000_000, 1, NOV + 7300),
                 UnclaimedId("carol", 1_000_000, 2, NOV + 7500),
                 UnclaimedId("ann", 1_000_000, 1, NOV + 7700),
                 UnclaimedId("dave", 1_000_000, 1, NOV + 7600)])
        assert all(type(v) is int for v in (result.cost_micros, result.requests, result.unpriced,
                                            *(x for i in result.top for x in (i.cost_micros, i.requests, i.last_ts))))
        two = await InsightStore(engine).unclaimed_spend(NOV, DEC, top=2)
        assert [i.user_ref for i in two.top] == ["default-team-key", "key:abc"] and two.requests == 8
        assert await InsightStore(engine).unclaimed_spend(DEC + 1, DEC + 86_400) == Unclaimed(0, 0, 0, [])
    finally:
        await engine.dispose()
