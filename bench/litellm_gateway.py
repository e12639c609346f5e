"""tokenbot behind a real LiteLLM proxy, and its pre-call reservation alone.

1. Requests/s, latency and CPU per request through LiteLLM (1.106.2, `.venv-litellm`, one worker, mock gpt-4o) at
   32 concurrent clients: without callbacks; with tokenbot's plugin (integrations/litellm/) sending usage only
   (TOKENBOT_ENFORCE=false); and with the plugin enforcing, in front of a real `tokenbot serve` on a fresh SQLite
   file whose teams are hard-capped, so every request is a real `POST /v1/budget/reserve` (budgets large enough
   never to refuse) besides its usage event spooled and shipped to `/v1/ingest/litellm`; meanwhile the bench times
   a reservation of its own every 0.25 s (the reserve's latency under that load). Then, within a bounded wait, the
   ledger must hold one event per request sent through the plugin; a trigger added to this run's database counts
   the reservations written. CPU per request is read from /proc for the proxy and tokenbot.
2. `POST /v1/budget/reserve` alone, sequential, for hard-capped people drawn at random from 1,000 people x 90 days of
   hourly rollups (bench/tokens_me.py's seeding; teams made hard-capped), beside GET /healthz on the same server;
   then `BudgetChecker.reserve` called in-process on the same database (no HTTP), with its parts timed: the estimate
   and the reservation transaction. Two cases: a model the person used this week (the estimate's typical output is
   cached) and one they did not (the estimate reads their rollups every call). Held reservations are cleared every
   100 requests (untimed), as usage events would settle them. On SQLite and on PostgreSQL (a fresh database,
   dropped after).

    python bench/litellm_gateway.py [--requests 2000] [--reserve-requests 3000] [--postgres URL | --no-postgres]
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, PIDS, bot_process, cpu_seconds, drop_postgres, fresh_postgres, percentiles  # noqa: E402
from bench.tokens_me import DAYS, org_for, seed  # noqa: E402
from tests.support.litellm_proxy import EXAMPLE_CONFIG, MASTER_KEY, PLUGIN, litellm_binary  # noqa: E402
from tests.support.serve import Replica, free_port, stop, wait_healthy  # noqa: E402

TOKEN = "bench-token"
CLIENTS = 32
WARMUP = 100
MODEL = "gpt-4o"  # the mock deployment openai/gpt-4o of examples/litellm/config.yaml
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


# -- 1. through LiteLLM ---------------------------------------------------------------------------------------------

def gateway_org(path: Path, people: int, teams: int = 10) -> None:
    lines = ["teams:"] + [f"  - {{slug: g{t}, name: G{t}, timezone: UTC, monthly_budget_usd: 1000000, "
                          f"enforcement: hard}}" for t in range(teams)]
    lines += ["people:"] + [f"  - {{email: u{i}@bench.example, team: g{i % teams}, gateway_ids: [u{i}], "
                            f"monthly_budget_usd: 10000}}" for i in range(people)]
    path.write_text("\n".join(lines) + "\n")


def proxy_config(directory: Path, plugin: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    if not plugin:
        config["litellm_settings"].pop("callbacks")
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    shutil.copyfile(PLUGIN, directory / "tokenbot_litellm.py")
    return directory / "config.yaml"


@asynccontextmanager
async def litellm_proxy(config: Path, env: dict[str, str]):  # noqa: ANN201
    """tests/support/litellm_proxy.py's proxy, but stopped (killed after 15 s) whatever happens, start-up included."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOKENBOT_")} | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True"} | env
    log = config.parent / "litellm.log"
    with log.open("a") as sink:
        proc = subprocess.Popen([litellm_binary(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                                 "--num_workers", "1"], cwd=config.parent, env=environment, stdout=sink,
                                stderr=subprocess.STDOUT)
    proxy = Replica("litellm", f"http://127.0.0.1:{port}", proc, log, port, environment)
    try:
        await wait_healthy(proxy, "/health/liveliness", tries=1200)  # ~9 s here; 2 minutes at most
        yield proxy
    finally:
        await stop(proxy)


async def drive(url: str, n: int, people: int, rng: random.Random, pids: dict[str, int]
                ) -> tuple[float, list[float], dict[str, float]]:
    """`n` chat completions from CLIENTS concurrent clients, each for a random person; every one must succeed.
    Returns the wall time, each request's latency and the CPU seconds each process in `pids` (and this one) used."""
    left = n
    latencies: list[float] = []
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=CLIENTS)) as http:
        async def client() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                body = {"model": MODEL, "user": f"u{rng.randrange(people)}",
                        "messages": [{"role": "user", "content": "summarise the incident report"}]}
                t0 = time.perf_counter()
                async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
                    text = await resp.text()
                latencies.append(time.perf_counter() - t0)
                if resp.status != 200:
                    failures.append(f"{resp.status}: {text[:200]}")

        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()} | {"load generator": cpu_seconds()}
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - t0
        cpu = {name: cpu_seconds(pids.get(name)) - cpu0[name] for name in cpu0}
    if failures:
        raise RuntimeError(f"{len(failures)} of {n} requests failed, e.g. {failures[0]}")
    return elapsed, latencies, cpu


async def probe_reserves(url: str, done: asyncio.Event, people: int) -> list[float]:
    """A reservation every 0.25 s, timed, until `done`."""
    latencies = []
    async with aiohttp.ClientSession() as http:
        while not done.is_set():
            body = {"event_id": f"bench-probe-{uuid.uuid4()}", "model": "openai/gpt-4o", "input_tokens": 12,
                    "user": f"u{random.randrange(people)}"}
            t0 = time.perf_counter()
            async with http.post(f"{url}/v1/budget/reserve", json=body,
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                answer = await resp.json()
            latencies.append(time.perf_counter() - t0)
            assert answer.get("allowed") and answer["reserved_usd"] > 0, answer
            await asyncio.sleep(0.25)
    return latencies


def ledger_counts(db: Path) -> tuple[int, int, int]:
    """(usage events stored, reservations written, reservations still held) in the bench's SQLite file."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return tuple(conn.execute(sql).fetchone()[0] for sql in (  # type: ignore[return-value]
            "SELECT count(*) FROM usage_events", "SELECT n FROM bench_reservations_written",
            "SELECT count(*) FROM budget_reservations"))
    finally:
        conn.close()


def count_reservations(db: Path) -> None:
    """A trigger in this run's database: every reservation row inserted (admitted, later settled) is counted."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        conn.executescript("""
            CREATE TABLE bench_reservations_written (n INTEGER NOT NULL);
            INSERT INTO bench_reservations_written VALUES (0);
            CREATE TRIGGER bench_count_reservations AFTER INSERT ON budget_reservations
            BEGIN UPDATE bench_reservations_written SET n = n + 1; END;""")
    finally:
        conn.close()


async def gateway(n: int, people: int) -> None:
    rng = random.Random(7)
    runs = [("without the plugin", False, {}), ("plugin, usage only (TOKENBOT_ENFORCE=false)", True,
                                               {"TOKENBOT_ENFORCE": "false"}),
            ("plugin, hard-cap reserve + usage", True, {})]
    results = {}
    with tempfile.TemporaryDirectory(prefix="tokenbot-gw-") as tmp_name:
        tmp = Path(tmp_name)
        gateway_org(tmp / "org.yml", people)
        db = tmp / "tokenbot.db"
        env = {"TOKENBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TOKENBOT_INGEST_TOKENS": TOKEN,
               "TOKENBOT_ORG_FILE": str(tmp / "org.yml")}
        with bot_process(env) as bot_url:  # idle during the run without the plugin
            count_reservations(db)
            async with aiohttp.ClientSession() as http:  # the org's teams are hard-capped: a reserve writes a row
                async with http.post(f"{bot_url}/v1/budget/reserve", headers={"Authorization": f"Bearer {TOKEN}"},
                                     json={"event_id": "bench-probe", "model": "openai/gpt-4o", "user": "u0"}) as r:
                    probe = await r.json()
            assert probe.get("enforcement") == "hard" and probe["allowed"] and probe["reserved_usd"] > 0, probe
            unanswered: list[str] = []  # the plugin's fail-open warnings (one per 10 s at most)
            for i, (label, plugin, extra) in enumerate(runs):
                proxy_env = {"TOKENBOT_URL": bot_url, "TOKENBOT_TOKEN": TOKEN,
                             "TOKENBOT_SPOOL_DIR": str(tmp / "spool")} | extra
                async with litellm_proxy(proxy_config(tmp / f"proxy{i}", plugin), proxy_env) as proxy:
                    pids = {"LiteLLM": proxy.proc.pid, "tokenbot": PIDS[bot_url]}
                    await drive(proxy.url, WARMUP, people, rng, pids)
                    done = asyncio.Event()

                    async def measured() -> tuple[float, list[float], dict[str, float]]:
                        try:
                            return await drive(proxy.url, n, people, rng, pids)  # noqa: B023
                        finally:
                            done.set()  # noqa: B023

                    if plugin and not extra:  # the reserve's latency as the plugin sees it, under this load
                        results[label], probes = await asyncio.gather(measured(), probe_reserves(bot_url, done, people))
                    else:
                        results[label] = await measured()
                    loaded = time.monotonic()
                    if plugin:  # every event of this proxy delivered before it stops (bounded wait)
                        requests = (WARMUP + n) * i
                        while (counts := ledger_counts(db))[0] < requests and time.monotonic() < loaded + 60:
                            await asyncio.sleep(0.1)
                        delivered_after = time.monotonic() - loaded
                    unanswered += [line.strip()[-160:] for line in proxy.log.read_text(errors="replace").splitlines()
                                   if "budget check unavailable" in line]
    base_rate = None
    for label, (elapsed, latencies, cpu) in results.items():
        rate = len(latencies) / elapsed
        base_rate = base_rate or rate
        extra = "" if rate == base_rate else f" ({rate / base_rate:.0%} of the rate without)"
        print(f"LiteLLM, {CLIENTS} clients, {label + ':':<45} {len(latencies):,} requests in {elapsed:5.2f} s = "
              f"{rate:4,.0f} requests/s{extra}")
        print(f"  latency per request (client side):{'':<36}{percentiles(latencies)}")
        print("  CPU per request: " + ", ".join(f"{name} {seconds / len(latencies) * 1000:.1f} ms"
                                               for name, seconds in cpu.items())
              + f" ({sum(cpu.values()) / elapsed:.2f} of {len(os.sched_getaffinity(0))} cores busy)")
    print(f"  POST /v1/budget/reserve under this load (the bench's probes, 4/s):{'':<5}{percentiles(probes)}")
    events, written, held = counts
    mine = 1 + len(probes)  # the bench's own reservations: never settled (no event), counted by the trigger too
    print(f"  ledger: {events:,} usage events stored of {requests:,} requests sent through the plugin (warm-ups "
          f"included; {'all' if events == requests else 'NOT all'} there {delivered_after:.1f} s after the last "
          f"answer); {written - mine:,} reservations written for {WARMUP + n:,} hard-cap requests, {held - mine} "
          f"still held (besides the bench's {mine}); {len(unanswered)} fail-open warnings in LiteLLM's logs")
    if written - mine < WARMUP + n:
        print(f"    {WARMUP + n - (written - mine):,} hard-cap requests were admitted without a reservation: the "
              f"plugin had no answer within TOKENBOT_CHECK_TIMEOUT_S (0.5 s) and failed open; its warnings, "
              f"1 per 10 s:")
    for line in unanswered[:3]:
        print(f"    {line}")


# -- 2. the reserve call alone --------------------------------------------------------------------------------------

# (label, model): the seeded rollups name models "gpt-4o" etc.; the plugin sends the deployment's model and the ledger
# stores it under that same name, so a person who used the model this week is the first case. The second is a model
# without 7 days of history for the person: the estimate then reads the rollups on every call (nothing to cache).
CASES = (("model used this week", "gpt-4o"), ("model new to the person", "openai/gpt-4o"))
SETTLE_EVERY = 100  # held reservations cleared (untimed) as their usage events would settle them


def reserve_body(person: int, model: str) -> dict:
    """What the plugin sends for a master-key request with `user` set and no max_tokens."""
    return {"call_id": str(uuid.uuid4()), "model": model, "provider": "openai",
            "input_tokens": random.randint(200, 4000), "max_tokens": None, "end_user": f"p{person}",
            "request_tags": [], "estimate_usd": 0.01,
            "metadata": {"user_api_key_user_id": "default_user_id", "user_api_key_user_email": None,
                         "user_api_key_alias": None, "user_api_key_team_id": None, "user_api_key_team_alias": None,
                         "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
                         "spend_logs_metadata": None}}


def plan(people: int, n: int, model: str) -> list[int]:
    """Warm-up, then n people at random: every person once where the estimate is cacheable, else 200 requests."""
    cacheable = model == CASES[0][1]
    warm = random.sample(range(people), people) if cacheable else [random.randrange(people) for _ in range(200)]
    return warm + [random.randrange(people) for _ in range(n)]


async def harden(url: str, people: int) -> None:
    """The seeded org (tokens_me.org_for, same random draw) with every team's budget made a hard cap."""
    from storage.db import make_engine
    from storage.stores.org import OrgStore

    random.seed(people)  # as tokens_me.seed: the same teams (time zones) and people
    org = org_for(people)
    org = dataclasses.replace(org, teams=tuple(dataclasses.replace(t, enforcement="hard") for t in org.teams))
    engine = make_engine(url)
    try:
        await OrgStore(engine).sync(org, int(time.time()))
    finally:
        await engine.dispose()


async def settle_all(engine) -> None:  # noqa: ANN001
    from sqlalchemy import delete

    from storage.tables.ingest import budget_reservations

    async with engine.begin() as conn:
        await conn.execute(delete(budget_reservations))


async def over_http(url: str, database: str, people: int, n: int, model: str) -> tuple[list[float], list[float]]:
    from storage.db import make_engine

    reserve, floor = [], []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    people_ids = plan(people, n, model)
    measured_from = len(people_ids) - n
    engine = make_engine(database)
    try:
        async with aiohttp.ClientSession() as session:
            for i, person in enumerate(people_ids):
                if i % SETTLE_EVERY == 0:
                    await settle_all(engine)
                body = reserve_body(person, model)
                t0 = time.perf_counter()
                async with session.post(f"{url}/v1/budget/reserve", json=body, headers=headers) as resp:
                    answer = await resp.json()
                elapsed = time.perf_counter() - t0
                assert resp.status == 200 and answer["allowed"] and answer["reserved_usd"] > 0, answer
                t0 = time.perf_counter()
                async with session.get(f"{url}/healthz") as resp:
                    await resp.read()
                if i >= measured_from:
                    reserve.append(elapsed)
                    floor.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return reserve, floor


async def in_process(database: str, people: int, n: int, model: str) -> dict[str, list[float]]:
    """BudgetChecker.reserve on deps built as `tokenbot serve` builds them; its parts timed by wrapping them, and the
    SQL statements of the reservation transaction counted."""
    from sqlalchemy import event

    from bot.app import build_deps
    from bot.features.budget_check import BudgetChecker, parse_reserve
    from bot.settings import load_settings

    settings = load_settings(TOKENBOT_DATABASE_URL=database, TOKENBOT_INGEST_TOKENS=TOKEN)
    deps = await build_deps(settings, migrate=False)
    times: dict[str, list[float]] = {"total": [], "estimate": [], "transaction": []}
    checker = BudgetChecker(deps, settings.check_cache_seconds)
    statements = [0, 0]  # all, in the transaction

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        async def wrapper(*args):  # noqa: ANN002, ANN202
            before = statements[0]
            t0 = time.perf_counter()
            try:
                return await fn(*args)
            finally:
                times[name].append(time.perf_counter() - t0)
                if name == "transaction":
                    statements[1] += statements[0] - before
        return wrapper

    checker.estimate_micros = timed("estimate", checker.estimate_micros)
    checker.reservations.reserve = timed("transaction", checker.reservations.reserve)

    def _count(*_args) -> None:  # noqa: ANN002
        statements[0] += 1

    for engine in {deps.engine, checker.reservations.engine}:  # PostgreSQL: the reservation has its own pool
        event.listen(engine.sync_engine, "before_cursor_execute", _count)

    people_ids = plan(people, n, model)
    measured_from = len(people_ids) - n
    try:
        for i, person in enumerate(people_ids):
            if i % SETTLE_EVERY == 0:
                await settle_all(deps.engine)
            if i == measured_from:
                for values in times.values():
                    values.clear()
                statements[:] = [0, 0]
            ask = parse_reserve(reserve_body(person, model))
            t0 = time.perf_counter()
            answer = await checker.reserve(ask)
            times["total"].append(time.perf_counter() - t0)
            assert answer["allowed"] and answer["reserved_usd"] > 0, answer
    finally:
        await checker.close()
        await deps.engine.dispose()
    settles = -(-n // SETTLE_EVERY)  # the clearing DELETEs, counted above but not the checker's
    times["statements"] = [(statements[0] - settles) / n, statements[1] / n]
    return times


def reserve_alone(people: int, n: int, postgres: str | None) -> None:
    backend = "PostgreSQL" if postgres else "SQLite"
    name = "tokenbot_bench_gateway"
    results = []
    with tempfile.TemporaryDirectory(prefix="tokenbot-reserve-") as tmp:
        try:
            if postgres:
                url = fresh_postgres(postgres, name)
                seed(url, people)
            else:
                cached = OUT / f"tokens_me_{people}.db"  # shared with bench/tokens_me.py and budget_check.py
                OUT.mkdir(parents=True, exist_ok=True)
                if not cached.exists() or cached.stat().st_mtime < time.time() - 12 * 3600:
                    cached.unlink(missing_ok=True)
                    seed(cached, people)
                shutil.copyfile(cached, Path(tmp) / "reserve.db")  # this run writes reservations: its own copy
                url = f"sqlite+aiosqlite:///{tmp}/reserve.db"
            asyncio.run(harden(url, people))
            for label, model in CASES:
                with bot_process({"TOKENBOT_DATABASE_URL": url, "TOKENBOT_INGEST_TOKENS": TOKEN}) as bot_url:
                    http = asyncio.run(over_http(bot_url, url, people, n, model))
                results.append((label, *http, asyncio.run(in_process(url, people, n, model))))
        finally:
            if postgres:
                drop_postgres(postgres, name)
    for label, reserve, floor, parts in results:
        all_sql, in_tx = parts["statements"]
        all_sql += 0 if postgres else 1  # SQLite's reservation runs outside SQLAlchemy: one thread hop, uncounted
        lines = [(f"POST /v1/budget/reserve, {backend}, {people:,} people x {DAYS} days, hard caps, {label}", reserve),
                 ("  floor (GET /healthz, same server: HTTP and one SELECT 1)", floor),
                 (f"  in-process BudgetChecker.reserve, no HTTP ({all_sql:.0f} round trips)", parts["total"]),
                 ("    of which the estimate (the person's typical output for the model)", parts["estimate"]),
                 (f"    of which the reservation ({in_tx:.0f} statement: tokenbot_reserve(), autocommit)" if postgres
                  else "    of which the reservation (1 call to the SQLite writer: BEGIN IMMEDIATE, SELECT, INSERT, COMMIT)",
                  parts["transaction"])]
        for text, samples in lines:
            print(f"{text + ':':<104}{percentiles(samples)}")


def litellm_version() -> str:
    found = sorted((Path(litellm_binary()).parents[1] / "lib").glob("python*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="through LiteLLM, after a warm-up of 100")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--reserve-requests", type=int, default=3000, help="sequential reserves, after 200")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL server URL: a database is "
                        f"created on it for the run and dropped after (default {DEFAULT_POSTGRES})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--skip-gateway", action="store_true", help="only the reserve figures")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed bench still stops what it started
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores ({os.cpu_count()} on the machine): LiteLLM {litellm_version()} (1 worker), tokenbot serve "
          f"(1 process){'' if args.no_postgres else ', PostgreSQL'} and this load generator share them")
    if not args.skip_gateway:
        asyncio.run(gateway(args.requests, args.people))
    reserve_alone(args.people, args.reserve_requests, None)
    if not args.no_postgres:
        reserve_alone(args.people, args.reserve_requests, args.postgres)


if __name__ == "__main__":
    main()
