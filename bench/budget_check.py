"""GET /v1/budget/check latency over HTTP, on the 10,000-people x 90-days database of bench/tokens_me.py.

Two figures: with the default 5 s spend cache (what a gateway sees), and with the cache off (every answer reads the
person's and the team's month from the rollups: the one-indexed-read path). Beside them, GET /healthz as the floor.

    python bench/budget_check.py [--people 10000] [--requests 5000]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, bot_process, percentiles  # noqa: E402
from bench.tokens_me import seed  # noqa: E402

TOKEN = "bench-token"


async def measure(url: str, people: int, n: int, users: int) -> tuple[list[float], list[float]]:
    check, floor = [], []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for i in range(n + 100):
            user = f"p{random.randrange(min(users, people))}"
            t0 = time.perf_counter()
            async with session.get(f"{url}/v1/budget/check", params={"user": user}, headers=headers) as resp:
                body = await resp.json()
            elapsed = time.perf_counter() - t0
            assert resp.status == 200 and "allowed" in body, body
            t0 = time.perf_counter()
            async with session.get(f"{url}/healthz") as resp:
                await resp.read()
            if i >= 100:
                check.append(elapsed)
                floor.append(time.perf_counter() - t0)
    return check, floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"tokens_me_{args.people}.db"
    if not path.exists() or path.stat().st_mtime < time.time() - 12 * 3600:
        path.unlink(missing_ok=True)
        seed(path, args.people)
    for label, cache, users in (("cache 5 s, 2,000 active users", "5", 2000), ("cache off (a read per answer)", "0", args.people)):
        env = {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}", "TOKENBOT_INGEST_TOKENS": TOKEN,
               "TOKENBOT_CHECK_CACHE_SECONDS": cache}
        with bot_process(env) as url:
            check, floor = asyncio.run(measure(url, args.people, args.requests, users))
        print(f"/v1/budget/check, {args.people:,} people, {label}: {percentiles(check)}")
        print(f"  floor (GET /healthz, same server):                 {percentiles(floor)}")


if __name__ == "__main__":
    main()
