"""500 concurrent signed `/tokens` commands of mixed kinds against a month of usage, as Slack sends them at a
stand-up: how many are acknowledged within Slack's 3 seconds (goal: all), how many carry the answer itself, how many
get it through response_url and when, how many are told "busy", and what /healthz answers meanwhile. Printed beside
the same server's single-request figures from the same run.

    python bench/slash_load.py [--concurrent 500] [--people 1000] [--postgres URL]
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

import bench.tokens_me as tokens_me  # noqa: E402
from bench.common import OUT, bot_process, fresh_postgres, percentiles  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers.slack.tokens import BUSY, WORKING  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.slack_requests import sign, slash_command_body  # noqa: E402

SECRET = tokens_me.SECRET
DAYS = 31  # a month of usage
KINDS = ["me", "me", "me", "team", "top", "models", "help", "requests", "pending"]
SLACK_LIMIT_S = 3.0


async def command(session: aiohttp.ClientSession, url: str, slack: FakeSlack, people: int, key: str,
                  kind: str) -> tuple[float, str, float | None]:
    """(seconds to the acknowledgement, what it said, seconds to the full answer or None when none came)."""
    user = f"U{random.randrange(people):08d}"
    body = slash_command_body(kind, user, slack.response_url(key))
    t0 = time.monotonic()
    async with session.post(f"{url}/slack/events", data=body.encode(), headers=sign(SECRET, body)) as resp:
        text = (await resp.json())["text"] if resp.status == 200 else f"HTTP {resp.status}"
    acked = time.monotonic() - t0
    if text == WORKING:
        for _ in range(600):  # up to 30 s for the answer through response_url
            if key in slack.response_times:
                return acked, "working", slack.response_times[key] - t0
            await asyncio.sleep(0.05)
        return acked, "working", None
    if text == BUSY:
        return acked, "busy", None
    return acked, ("answer" if not text.startswith("HTTP") else text), acked


async def healthz_loop(session: aiohttp.ClientSession, url: str, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        async with session.get(f"{url}/healthz") as resp:
            await resp.read()
        out.append(time.monotonic() - t0)
        await asyncio.sleep(0.05)


async def measure(url: str, slack: FakeSlack, people: int, concurrent: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        single, idle = [], []
        for i in range(60):  # one at a time: the figure the burst is compared with (the first 10 warm up)
            acked, said, _ = await command(session, url, slack, people, f"s{i}", KINDS[i % len(KINDS)])
            assert said == "answer", said
            t0 = time.monotonic()
            async with session.get(f"{url}/healthz") as resp:
                await resp.read()
            if i >= 10:
                single.append(acked)
                idle.append(time.monotonic() - t0)
        stop, during = asyncio.Event(), []
        poller = asyncio.create_task(healthz_loop(session, url, stop, during))
        t0 = time.monotonic()
        results = await asyncio.gather(*(command(session, url, slack, people, f"b{i}", random.choice(KINDS))
                                         for i in range(concurrent)))
        wall = time.monotonic() - t0
        stop.set()
        await poller
    acks = [r[0] for r in results]
    kinds = {k: sum(1 for r in results if r[1] == k) for k in ("answer", "working", "busy")}
    errors = concurrent - sum(kinds.values())
    answered = [r[2] for r in results if r[2] is not None]
    within = sum(1 for a in acks if a <= SLACK_LIMIT_S)
    full_within = sum(1 for a in answered if a <= SLACK_LIMIT_S)
    print(f"  {concurrent} concurrent, mixed ({', '.join(sorted(set(KINDS)))}), all sent at once, done in {wall:.1f} s:")
    print(f"  acknowledged within 3 s: {within / concurrent:.1%} ({within}/{concurrent}); "
          f"acknowledgement {percentiles(acks)}")
    print(f"    with the answer itself: {kinds['answer']}, 'working on it' then response_url: {kinds['working']}, "
          f"'busy, try again': {kinds['busy']}, errors: {errors}")
    print(f"  full answer within 3 s: {full_within / concurrent:.1%} ({full_within}/{concurrent}); "
          f"full answer {percentiles(answered)}")
    print(f"  /healthz during the burst: {percentiles(during)}")
    print(f"  same run, one command at a time:  {percentiles(single)}")
    print(f"  same run, /healthz idle:          {percentiles(idle)}")


async def run(people: int, concurrent: int, postgres: str | None, env_extra: dict[str, str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tokens_me.DAYS = DAYS
    if postgres:
        database = await asyncio.to_thread(fresh_postgres, postgres, f"tokenbot_bench_slash_{people}")
        await asyncio.to_thread(tokens_me.seed, database, people)
    else:
        path = OUT / f"slash_load_{people}.db"
        if not path.exists() or path.stat().st_mtime < time.time() - 12 * 3600:  # rollups are relative to "now"
            path.unlink(missing_ok=True)
            await asyncio.to_thread(tokens_me.seed, path, people)
        database = f"sqlite+aiosqlite:///{path}"
    slack = FakeSlack()
    await slack.start()
    try:
        env = {"TOKENBOT_DATABASE_URL": database, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
               "TOKENBOT_SLACK_API_URL": slack.api_url, "TOKENBOT_SCHEDULER_ENABLED": "false"} | env_extra
        print(f"/tokens under load, {'PostgreSQL' if postgres else 'SQLite'}, {people:,} people x {DAYS} days"
              + (f" ({', '.join(f'{k}={v}' for k, v in env_extra.items())})" if env_extra else ""))
        with bot_process(env) as url:
            await measure(url, slack, people, concurrent)
    finally:
        await slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL: a fresh database is created on it")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        help="an extra setting for the server, e.g. TOKENBOT_SLASH_MAX_IN_FLIGHT=64")
    args = parser.parse_args()
    load_settings()
    random.seed(16)
    asyncio.run(run(args.people, args.concurrent, args.postgres, dict(s.split("=", 1) for s in args.set)))


if __name__ == "__main__":
    main()
