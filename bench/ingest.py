"""Ingestion over HTTP: batches of 500 events into a fresh SQLite file, sustained; beside it the parse-and-validate-only
rate of the same bodies (the ceiling the database and HTTP work is measured against).

    python bench/ingest.py [--events 200000] [--concurrency 4] [--runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PIDS, bot_processes, fresh_postgres  # noqa: E402
from bot.domain.usage_events import parse_events, split_body  # noqa: E402

TOKEN = "bench-token"
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic"),
          ("claude-haiku-4-5", "anthropic"), ("gemini-2.5-flash", "google"), ("in-house-llm", None)]


def make_bodies(n_events: int, batch: int, people: int, seed: int = 1, random_ids: bool = True) -> list[bytes]:
    """A live stream: timestamps move forward through the last hours, as a gateway would send them. Ids are random
    hex, as gateways send them (LiteLLM's call ids are UUIDs), or `bench-<seed>-<n>` (each a little above the last)
    without `random_ids`: until events were unique on (ts, id), ordered ids flattered SQLite 2.5x."""
    rng = random.Random(seed)
    now = int(time.time())
    start = now - 6 * 3600
    bodies = []
    for b in range(0, n_events, batch):
        items = []
        for i in range(b, min(b + batch, n_events)):
            model, provider = rng.choice(MODELS)
            inp = rng.randint(200, 20000)
            event_id = f"{rng.getrandbits(128):032x}" if random_ids else f"bench-{seed}-{i}"
            item = {"id": event_id, "timestamp": start + (i * 6 * 3600) // n_events,
                    "user": f"user{rng.randrange(people)}@bench.example", "model": model, "provider": provider,
                    "input_tokens": inp, "output_tokens": rng.randint(10, 2000),
                    "cached_input_tokens": rng.randint(0, inp // 2)}
            if rng.random() < 0.5:
                item["cost_usd"] = round(rng.uniform(0.0001, 0.2), 6)
            items.append(item)
        bodies.append(orjson.dumps(items))
    return bodies


def parse_only_rate(bodies: list[bytes], passes: int = 3) -> float:
    """The best of `passes` passes: on a shared machine one pass moved by a third from run to run while the HTTP+DB
    rate beside it stayed within a tenth, so a single pass made the ratio mostly noise. The best pass is the ceiling
    the ratio is meant to compare with (and the conservative choice)."""
    now = int(time.time())
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        n = 0
        for body in bodies:
            events, _ = parse_events(split_body(body), now)
            n += len(events)
        best = max(best, n / (time.perf_counter() - t0))
    return best


async def post_all(urls: list[str], bodies: list[bytes], concurrency: int, path: str = "/v1/usage"
                   ) -> tuple[float, int]:
    """`concurrency` senders per replica, each posting to its replica, all taking batches from one queue."""
    queue = list(reversed(bodies))
    accepted = 0

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal accepted
        while queue:
            body = queue.pop()
            async with session.post(f"{url}{path}", data=body, headers={
                    "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}) as resp:
                result = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"{resp.status}: {result}")
                accepted += result["accepted"]

    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session, url) for url in urls for _ in range(concurrency)))
        return time.perf_counter() - t0, accepted


async def scrape_statements(urls: list[str]) -> float:
    """tokenbot_db_statements_total summed over the replicas' /metrics."""
    total = 0.0
    async with aiohttp.ClientSession() as session:
        for url in urls:
            async with session.get(f"{url}/metrics") as resp:
                for line in (await resp.text()).splitlines():
                    if line.startswith("tokenbot_db_statements_total "):
                        total += float(line.split()[1])
    return total


class PostgresProbe:
    """Machine-independent figures of a run on PostgreSQL: rows written and WAL bytes (server counters before and
    after), and lock waits (a backend of this database waiting on a lock, sampled every 20 ms during the run)."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self.samples = 0
        self.waiting = 0

    async def counters(self) -> tuple[int, int]:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetchval("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
                                       "FROM pg_stat_user_tables")
            wal = await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
            return int(rows), int(wal)
        finally:
            await conn.close()

    async def sample_locks(self, done: asyncio.Event) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            while not done.is_set():
                self.waiting += await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")
                self.samples += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()


async def measured_run(urls: list[str], bodies: list[bytes], concurrency: int, probe: PostgresProbe | None
                       ) -> tuple[float, int, dict[str, float]]:
    cpu = CpuProbe([PIDS[u] for u in urls])
    if probe is None:
        before = cpu.sample()
        elapsed, accepted = await post_all(urls, bodies, concurrency)
        after = cpu.sample()
        return elapsed, accepted, {f"cpu_{k}": (after[k] - before[k]) / accepted for k in after}
    (rows0, wal0), stmts0 = await probe.counters(), await scrape_statements(urls)
    await asyncio.sleep(1)  # pg_stat_user_tables counters are flushed by each backend at most once a second
    done = asyncio.Event()
    sampler = asyncio.create_task(probe.sample_locks(done))
    before = cpu.sample()
    elapsed, accepted = await post_all(urls, bodies, concurrency)
    after = cpu.sample()
    done.set()
    await sampler
    await asyncio.sleep(1.5)
    (rows1, wal1), stmts1 = await probe.counters(), await scrape_statements(urls)
    return elapsed, accepted, {"rows": (rows1 - rows0) / accepted, "wal": (wal1 - wal0) / accepted,
                               "statements": (stmts1 - stmts0) / accepted,
                               "lock_waits": probe.waiting / max(probe.samples, 1), "samples": probe.samples,
                               **{f"cpu_{k}": (after[k] - before[k]) / accepted for k in after}}


class CpuProbe:
    """CPU seconds (user + system, from /proc) of the replicas with their children (the SQLite writer process), of
    every PostgreSQL process on this machine, and of this load generator: where the cores went, per event."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, replica_pids: list[int]) -> None:
        self.replica_pids = set(replica_pids)

    @classmethod
    def _stats(cls) -> list[tuple[int, int, str, float]]:
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            out.append((int(entry), int(fields[1]), name, (int(fields[11]) + int(fields[12])) / cls.TICK))
        return out

    def sample(self) -> dict[str, float]:
        stats = self._stats()
        children = {pid for pid, ppid, _, _ in stats if ppid in self.replica_pids}
        totals = {"replicas": 0.0, "writer": 0.0, "postgres": 0.0, "load": 0.0}
        for pid, _, name, cpu in stats:
            if pid in self.replica_pids:
                totals["replicas"] += cpu
            elif pid in children:
                totals["writer"] += cpu
            elif name.startswith("postgres"):
                totals["postgres"] += cpu
            elif pid == os.getpid():
                totals["load"] += cpu
        return totals


def write_org(path: Path, people: int) -> None:
    """Most gateway users are in the org file, as in production; 2% are not (kept, attributed later)."""
    lines = ["teams:"] + [f"  - {{slug: t{t}, monthly_budget_usd: 10000}}" for t in range(people // 50)]
    lines += ["people:"] + [f"  - {{email: user{i}@bench.example, team: t{i % (people // 50)}}}"
                            for i in range(people * 98 // 100)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4, help="senders per replica")
    parser.add_argument("--replicas", type=int, default=1, help="`tokenbot serve` processes on the one database")
    parser.add_argument("--postgres", help="a PostgreSQL server URL: a fresh database is created on it")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat on a fresh database and print the median ratio: a shared machine's noise moves "
                             "single runs by 10 points and more")
    parser.add_argument("--ordered-ids", action="store_true",
                        help="ids each a little above the last, not random as gateways send them (see make_bodies)")
    args = parser.parse_args()
    bodies = make_bodies(args.events, args.batch, args.people, random_ids=not args.ordered_ids)
    warmup = make_bodies(5_000, args.batch, args.people, seed=2, random_ids=not args.ordered_ids)
    ratios = [one_run(args, bodies, warmup) for _ in range(args.runs)]
    if args.runs > 1:
        print(f"{args.runs} runs: HTTP+DB rate {min(ratios):.0%} to {max(ratios):.0%} of the parse rate, "
              f"median {statistics.median(ratios):.0%}")


def one_run(args: argparse.Namespace, bodies: list[bytes], warmup: list[bytes]) -> float:
    """One measured run on a fresh database, its figures printed; returns its rate over the parse-only rate."""
    parse_rate = parse_only_rate(bodies)
    with tempfile.TemporaryDirectory() as tmp:
        write_org(Path(tmp) / "org.yml", args.people)
        database = (fresh_postgres(args.postgres, "tokenbot_bench_ingest") if args.postgres
                    else f"sqlite+aiosqlite:///{tmp}/bench.db")
        env = {"TOKENBOT_DATABASE_URL": database, "TOKENBOT_INGEST_TOKENS": TOKEN, "TOKENBOT_ORG_FILE": f"{tmp}/org.yml"}
        with bot_processes(env, args.replicas) as urls:
            asyncio.run(post_all(urls, warmup, args.concurrency))
            probe = PostgresProbe(database) if args.postgres else None
            elapsed, accepted, figures = asyncio.run(measured_run(urls, bodies, args.concurrency, probe))
    rate = accepted / elapsed
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"ingest over HTTP, {backend}, {args.replicas} replica(s), batches of {args.batch}, "
          f"{args.concurrency * args.replicas} senders: {accepted:,} events in {elapsed:.2f} s = {rate:,.0f} events/s")
    print(f"parse-and-validate only (same bodies, one core, best of 3): {parse_rate:,.0f} events/s "
          f"(HTTP+DB rate is {rate / parse_rate:.0%} of it)")
    cpu_us = {k: figures[f"cpu_{k}"] * 1e6 for k in ("replicas", "writer", "postgres", "load")}
    busy = sum(cpu_us.values()) * rate / 1e6
    served = cpu_us["replicas"] + cpu_us["writer"] + cpu_us["postgres"]
    print(f"CPU per event: replicas {cpu_us['replicas']:.1f} us, their SQLite writer processes {cpu_us['writer']:.1f} us, "
          f"PostgreSQL {cpu_us['postgres']:.1f} us, load generator {cpu_us['load']:.1f} us (parse-and-validate alone "
          f"{1e6 / parse_rate:.1f} us); {busy:.2f} of {os.cpu_count()} cores busy; "
          f"{1e6 / served:,.0f} events per CPU-second of tokenbot and its database")
    if "rows" in figures:
        print(f"per event: {figures['statements']:.4f} statements, {figures['rows']:.2f} rows written, "
              f"{figures['wal']:,.0f} WAL bytes; backends waiting on a lock: {figures['lock_waits']:.2f} on average "
              f"({figures['samples']:,} samples every 20 ms)")
    return rate / parse_rate


if __name__ == "__main__":
    main()
