"""`/tokens me` latency, from a signed Slack request to the answer, at 1,000 and 10,000 people x 90 days of usage.

The database is seeded straight into the hourly rollups (what `/tokens me` reads; ingestion has its own bench), with
business-hours usage on 1-3 models per person per active hour. Seeded files are kept in bench/out/ for reruns.
Beside each figure: the same HTTP round trip to /healthz, the floor for any answer.

    python bench/tokens_me.py [--sizes 1000,10000] [--requests 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, bot_process, percentiles  # noqa: E402
from bot.org import OrgFile, PersonSpec, TeamSpec  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage.db import create_schema, make_engine  # noqa: E402
from storage.org_store import OrgStore  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.slack_requests import sign, slash_command_body  # noqa: E402

SECRET = "bench-signing-secret"
DAYS = 90
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash"]
MEASURES = "requests, input_tokens, output_tokens, cached_input_tokens, cost_micros, unpriced_requests"


def org_for(people: int) -> OrgFile:
    n_teams = max(1, people // 100)
    teams = tuple(TeamSpec(slug=f"team{t}", name=f"Team {t}", channel=None, timezone=random.choice(
        ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]), digest_time="09:00", monthly_budget_usd=50_000,
        approvers=(), digest_names_top_spenders=False) for t in range(n_teams))
    persons = tuple(PersonSpec(email=f"p{i}@bench.example", team=f"team{i % n_teams}", slack_id=f"U{i:08d}", name=None,
                               gateway_ids=(f"p{i}",), monthly_budget_usd=500) for i in range(people))
    return OrgFile(name="Bench", admins=(), help_contact=None, teams=teams, people=persons)


def seed(path: Path, people: int) -> None:
    random.seed(people)
    url = f"sqlite+aiosqlite:///{path}"

    async def org() -> None:
        engine = make_engine(url)
        await create_schema(engine)
        await OrgStore(engine).sync(org_for(people), 0)
        await engine.dispose()

    asyncio.run(org())
    db = sqlite3.connect(path)
    ids = dict(db.execute("SELECT email, id FROM people"))
    team_of = dict(db.execute("SELECT id, team_id FROM people"))
    now_hour = int(time.time()) // 3600
    first_hour = now_hour - DAYS * 24
    team_rows: dict[tuple[int, int, str], list[int]] = {}
    t0 = time.perf_counter()
    rows = 0
    for email, pid in ids.items():
        batch = []
        for hour in range(first_hour, now_hour + 1):
            dt = datetime.fromtimestamp(hour * 3600, UTC)
            busy = dt.weekday() < 5 and 8 <= dt.hour < 18
            if random.random() > (0.8 if busy else 0.03):
                continue
            for model in random.sample(MODELS, random.randint(1, 3)):
                req = random.randint(1, 30)
                inp, out = req * random.randint(500, 5000), req * random.randint(50, 500)
                cost = inp * 3 + out * 10
                batch.append((pid, hour, team_of[pid], model, req, inp, out, inp // 4, cost, 0))
                acc = team_rows.setdefault((team_of[pid], hour, model), [0, 0, 0, 0, 0, 0])
                for i, v in enumerate((req, inp, out, inp // 4, cost, 0)):
                    acc[i] += v
        db.executemany(f"INSERT INTO usage_hourly (person_id, hour, team_id, model, {MEASURES}) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
        rows += len(batch)
    db.executemany(f"INSERT INTO team_usage_hourly (team_id, hour, model, {MEASURES}) VALUES (?,?,?,?,?,?,?,?,?)",
                   [(*k, *v) for k, v in team_rows.items()])
    db.commit()
    db.execute("ANALYZE")
    db.close()
    print(f"  seeded {people:,} people x {DAYS} days: {rows:,} person-hour rows, {len(team_rows):,} team-hour rows "
          f"in {time.perf_counter() - t0:.0f} s")


async def measure(url: str, people: int, n: int) -> tuple[list[float], list[float]]:
    me, floor = [], []
    async with aiohttp.ClientSession() as session:
        for i in range(n + 50):
            user = f"U{random.randrange(people):08d}"
            body = slash_command_body("me", user, "http://127.0.0.1:9/unused")
            t0 = time.perf_counter()
            async with session.post(f"{url}/slack/events", data=body.encode(), headers=sign(SECRET, body)) as resp:
                answer = await resp.json()
            elapsed = time.perf_counter() - t0
            assert resp.status == 200 and "Month to date" in answer["text"], answer
            t0 = time.perf_counter()
            async with session.get(f"{url}/healthz") as resp:
                await resp.read()
            if i >= 50:  # the first requests warm caches and bolt's lazy auth.test
                me.append(elapsed)
                floor.append(time.perf_counter() - t0)
    return me, floor


async def run_size(people: int, n: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"tokens_me_{people}.db"
    if not path.exists() or path.stat().st_mtime < time.time() - 12 * 3600:  # rollups are relative to "now"
        path.unlink(missing_ok=True)
        await asyncio.to_thread(seed, path, people)
    slack = FakeSlack()
    await slack.start()
    try:
        env = {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}", "SLACK_BOT_TOKEN": "xoxb-bench",
               "SLACK_SIGNING_SECRET": SECRET, "TOKENBOT_SLACK_API_URL": slack.api_url}
        with bot_process(env) as url:
            me, floor = await measure(url, people, n)
    finally:
        await slack.stop()
    print(f"/tokens me, {people:>6,} people x {DAYS} days: {percentiles(me)}")
    print(f"  floor (GET /healthz, same server):    {percentiles(floor)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    load_settings()  # fail early on a bad environment
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(run_size(size, args.requests))


if __name__ == "__main__":
    main()
