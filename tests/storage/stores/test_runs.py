"""RunLog: exactly one claimant per key, on a real SQLite file shared by two engines (two processes' view)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from storage.db import create_schema, make_engine
from storage.stores.runs import RunLog


async def _engines(tmp_path: Path, n: int = 2):  # noqa: ANN202
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    engines = [make_engine(url) for _ in range(n)]
    await create_schema(engines[0])
    return engines


async def test_first_claim_wins_and_done_is_never_claimed_again(tmp_path: Path) -> None:
    e1, e2 = await _engines(tmp_path)
    a, b = RunLog(e1), RunLog(e2)
    assert await a.claim("digest:1:2026-11-18", 1000, 600)
    assert not await b.claim("digest:1:2026-11-18", 1001, 600)  # held
    assert not await b.complete("digest:1:2026-11-18", 1002)  # only the holder finishes it
    assert await a.complete("digest:1:2026-11-18", 1003, "ts=1")
    assert not await b.claim("digest:1:2026-11-18", 99999, 600)  # done, whatever the time
    run = await a.get("digest:1:2026-11-18")
    assert (run.status, run.kind, run.attempts, run.done_at, run.detail) == ("done", "digest", 1, 1003, "ts=1")
    assert await a.done_keys(["digest:1:2026-11-18", "digest:2:2026-11-18"]) == {"digest:1:2026-11-18"}
    for e in (e1, e2):
        await e.dispose()


async def test_failed_is_retried_and_expired_lease_is_taken_over(tmp_path: Path) -> None:
    e1, e2 = await _engines(tmp_path)
    a, b = RunLog(e1), RunLog(e2)
    assert await a.claim("k:fail", 1000, 600)
    assert await a.fail("k:fail", 1001, "boom")
    assert await b.claim("k:fail", 1002, 600)  # a failed run is retried by whoever comes next
    assert (await b.get("k:fail")).attempts == 2
    assert await a.claim("k:crash", 1000, 60)  # a's process "dies" here
    assert not await b.claim("k:crash", 1059, 60)  # lease still running
    assert await b.claim("k:crash", 1061, 60)  # lease over: taken over
    assert not await a.complete("k:crash", 1062)  # the old holder cannot finish it any more
    assert await b.complete("k:crash", 1062)
    for e in (e1, e2):
        await e.dispose()


async def test_concurrent_claims_from_two_engines_have_one_winner(tmp_path: Path) -> None:
    engines = await _engines(tmp_path, 2)
    logs = [RunLog(e) for e in engines for _ in range(4)]  # 8 claimants over 2 connection pools
    for round_ in range(5):
        wins = await asyncio.gather(*(r.claim(f"k:{round_}", 1000, 600) for r in logs))
        assert sum(wins) == 1
    for e in engines:
        await e.dispose()
