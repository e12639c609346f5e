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
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, bot_process, fresh_postgres, percentiles  # noqa: E402
from bot.domain.org import OrgFile, PersonSpec, TeamSpec  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sqlalchemy import text  # noqa: E402

from storage.db import make_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.stores.org import OrgStore  # noqa: E402
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


def seed(path: Path | str, people: int) -> None:
    """Seed a SQLite file (a Path) or a PostgreSQL database (a postgresql+asyncpg:// URL string)."""
    random.seed(people)
    url = path if isinstance(path, str) else f"sqlite+aiosqlite:///{path}"
    asyncio.run(_seed(url, people))


async def _seed(url: str, people: int) -> None:
    engine = make_engine(url)
    await upgrade(engine)  # the real migrations, as `tokenbot serve` expects
    await OrgStore(engine).sync(org_for(people), 0)
    async with engine.connect() as conn:
        team_of = dict((await conn.execute(text("SELECT id, team_id FROM people"))).all())
    await engine.dispose()
    writer = _SqliteWriter(url) if url.startswith("sqlite") else await _PostgresWriter.open(url)
    now_hour = int(time.time()) // 3600
    first_hour = now_hour - DAYS * 24
    team_rows: dict[tuple[int, int, str], list[int]] = {}
    t0 = time.perf_counter()
    rows = 0
    for pid in sorted(team_of):
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
        await writer.write("usage_hourly", ["person_id", "hour", "team_id", "model"], batch)
        rows += len(batch)
    await writer.write("team_usage_hourly", ["team_id", "hour", "model"], [(*k, *v) for k, v in team_rows.items()])
    await writer.close()
    print(f"  seeded {people:,} people x {DAYS} days: {rows:,} person-hour rows, {len(team_rows):,} team-hour rows "
          f"in {time.perf_counter() - t0:.0f} s")


class _SqliteWriter:
    def __init__(self, url: str) -> None:
        self.db = sqlite3.connect(url.split(":///", 1)[1])

    async def write(self, table: str, keys: list[str], rows: list[tuple]) -> None:
        marks = ",".join("?" * (len(keys) + 6))
        self.db.executemany(f"INSERT INTO {table} ({', '.join(keys)}, {MEASURES}) VALUES ({marks})", rows)

    async def close(self) -> None:
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.close()


class _PostgresWriter:
    @classmethod
    async def open(cls, url: str) -> "_PostgresWriter":
        import asyncpg

        self = cls()
        self.conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        return self

    async def write(self, table: str, keys: list[str], rows: list[tuple]) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=keys + MEASURES.split(", "))

    async def close(self) -> None:
        await self.conn.execute("ANALYZE")
        await self.conn.close()


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


async def round_trips(database: str, people: int, answers: int = 50) -> tuple[float, float]:
    """In-process: statements and connection checkouts per `/tokens me` answer, counted by SQLAlchemy's events on the
    same code path the handler runs (machine-independent). On PostgreSQL each checkout of the autocommit read pool
    adds one ping (`;`); nothing else goes over the wire."""
    from sqlalchemy import event

    from bot.app import build_deps
    from bot.features.me import me_for

    deps = await build_deps(load_settings(TOKENBOT_DATABASE_URL=database), migrate=False)
    counts = {"statements": 0, "checkouts": 0}

    def on_statement(*_args) -> None:  # noqa: ANN002
        counts["statements"] += 1

    def on_checkout(*_args) -> None:  # noqa: ANN002
        counts["checkouts"] += 1

    engines = {id(e): e for e in (deps.engine, deps.read_engine)}.values()
    try:
        for e in engines:
            event.listen(e.sync_engine, "before_cursor_execute", on_statement)
            event.listen(e.sync_engine.pool, "checkout", on_checkout)
        for _ in range(answers):
            report, _email = await me_for(deps, f"U{random.randrange(people):08d}")
            assert report is not None
    finally:
        await deps.close()
    return counts["statements"] / answers, counts["checkouts"] / answers


async def run_size(people: int, n: int, postgres: str | None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if postgres:
        database = await asyncio.to_thread(fresh_postgres, postgres, f"tokenbot_bench_me_{people}")
        await asyncio.to_thread(seed, database, people)
    else:
        path = OUT / f"tokens_me_{people}.db"
        if not path.exists() or path.stat().st_mtime < time.time() - 12 * 3600:  # rollups are relative to "now"
            path.unlink(missing_ok=True)
            await asyncio.to_thread(seed, path, people)
        database = f"sqlite+aiosqlite:///{path}"
    slack = FakeSlack()
    await slack.start()
    try:
        env = {"TOKENBOT_DATABASE_URL": database, "SLACK_BOT_TOKEN": "xoxb-bench",
               "SLACK_SIGNING_SECRET": SECRET, "TOKENBOT_SLACK_API_URL": slack.api_url}
        with bot_process(env) as url:
            me, floor = await measure(url, people, n)
    finally:
        await slack.stop()
    statements, checkouts = await round_trips(database, people)
    backend = "PostgreSQL" if postgres else "SQLite"
    print(f"/tokens me, {backend}, {people:>6,} people x {DAYS} days: {percentiles(me)}")
    print(f"  floor (GET /healthz, same server):    {percentiles(floor)}")
    trips = statements + (checkouts if postgres else 0)
    print(f"  database round trips per answer: {trips:.1f} ({statements:.1f} statements, {checkouts:.1f} connection "
          f"checkouts{', each one ping' if postgres else ''}); goal at most 3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (postgresql+asyncpg://user@host/db): a fresh "
                                           "database is created on it; default: SQLite files in bench/out/")
    args = parser.parse_args()
    load_settings()  # fail early on a bad environment
    for size in (int(s) for s in args.sizes.split(",")):
        asyncio.run(run_size(size, args.requests, args.postgres))


if __name__ == "__main__":
    main()
