"""Fault injection against real `tokenbot serve` processes: prints what was sent, stored and lost for each fault.

Run: python bench/faults.py [--quick] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test]

  1. SIGKILL mid-ingestion: 200 batches of 500 events; the bot is SIGKILLed partway and restarted; the sender
     retries every batch that failed (connection error / 5xx) until it is accepted.
  2. SIGKILL mid-digest: many teams due; the bot is killed while its digest run posts; restarted; posts per channel.
  3. Slack outage: the fake Slack answers 429 (Retry-After) then 500 while budget requests are made; Slack recovers;
     the request-timers tick (request_flow.tick, what the scheduler runs every minute) retries the failed cards.
  4. PostgreSQL restarted while ingestion runs (only with --postgres; restarts this machine's cluster).
  5. SQLite busy: two bot processes on one SQLite file ingesting concurrently.

Everything talks to 127.0.0.1 only: the bots, the fake Slack (tests/support/fake_slack.py, in this script's event
loop) and the database. Every loop is bounded; the script stops by itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.slack_requests import slash_command_body, sign  # noqa: E402

TOKEN = "bench-ingest-token"
SECRET = "bench-signing-secret"
DIGEST_EVENT = "tokenbot_digest"


# ---------------------------------------------------------------- plumbing
class Bot:
    """One `tokenbot serve` subprocess on a fixed port (a restart keeps the port, as a service would)."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
        self.env = base | {"TOKENBOT_PORT": str(self.port), "TOKENBOT_HOST": "127.0.0.1",
                           "TOKENBOT_LOG_FORMAT": "text", "TOKENBOT_INGEST_TOKENS": TOKEN} | env
        self.logdir = logdir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.logdir / f"{self.name}.log"

    async def start(self) -> None:
        self.starts += 1
        with self.log.open("a") as sink:
            sink.write(f"\n===== start {self.starts} =====\n")
            sink.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=self.env,
                                         stdout=sink, stderr=subprocess.STDOUT)
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # bounded: 60 s
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start-up:\n{self.log.read_text()[-3000:]}")
                try:
                    async with http.get(f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} never became healthy")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            for _ in range(200):
                if self.proc.poll() is not None:
                    return
                await asyncio.sleep(0.1)
            self.kill()

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback") if self.log.exists() else 0


def events(prefix: str, batch: int, size: int, now: int) -> list[dict]:
    models = ("gpt-4o", "claude-sonnet-4-5", "gpt-4o-mini")
    return [{"id": f"{prefix}-{batch}-{i}", "timestamp": now - 60 - ((batch + i) % 6) * 3600,
             "user": f"user-{(batch * 7 + i) % 40}", "model": models[(batch + i) % 3], "input_tokens": 1000 + i,
             "output_tokens": 100, "cost_usd": ((batch * size + i) % 997 + 1) / 10000} for i in range(size)]


class Sender:
    """Posts batches; a batch that fails (connection error, 5xx) is retried until accepted (bounded)."""

    def __init__(self, urls: list[str], prefix: str, batches: int, size: int, workers: int = 4) -> None:
        self.urls, self.prefix, self.batches, self.size, self.workers = urls, prefix, batches, size, workers
        self.now = int(time.time())
        self.accepted = self.duplicates = 0
        self.failures: Counter[str] = Counter()
        self.retried_batches: set[int] = set()
        self.done_batches = 0
        self.unaccepted: list[int] = []

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for k in range(self.batches):
            queue.put_nowait(k)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await asyncio.gather(*(self._worker(http, queue) for _ in range(self.workers)))

    async def _worker(self, http: aiohttp.ClientSession, queue: asyncio.Queue[int]) -> None:
        while not queue.empty():
            k = queue.get_nowait()
            body = json.dumps(events(self.prefix, k, self.size, self.now))
            for attempt in range(600):  # bounded: ~2 minutes of retries per batch
                url = self.urls[(k + attempt) % len(self.urls)]
                try:
                    async with http.post(f"{url}/v1/usage", data=body,
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                        text = await resp.text()
                        if resp.status == 200:
                            answer = json.loads(text)
                            self.accepted += answer["accepted"]
                            self.duplicates += answer["duplicates"]
                            self.done_batches += 1
                            break
                        self.failures[f"HTTP {resp.status}"] += 1
                        if resp.status < 500:
                            self.unaccepted.append(k)  # a 4xx is not retried: it would be a bug
                            break
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    self.failures[type(exc).__name__] += 1
                self.retried_batches.add(k)
                await asyncio.sleep(0.2)
            else:
                self.unaccepted.append(k)

    @property
    def sent(self) -> int:
        return self.batches * self.size


async def db_scalar(url: str, sql: str) -> int:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one() or 0)
    finally:
        await engine.dispose()


async def stored_ids(url: str, prefix: str) -> int:
    return await db_scalar(url, f"SELECT count(DISTINCT id) FROM usage_events WHERE id LIKE '{prefix}-%'")


def print_ingest(title: str, sender: Sender, stored: int, bots: list[Bot], extra: str = "") -> None:
    fails = ", ".join(f"{n} {k}" for k, n in sender.failures.most_common()) or "none"
    print(f"  sent {sender.sent:,} events ({sender.batches} batches of {sender.size}); stored {stored:,} distinct; "
          f"lost {sender.sent - stored:,}; extra {max(0, stored - sender.sent):,}")
    print(f"  answers: accepted {sender.accepted:,}, duplicates reported {sender.duplicates:,} "
          f"(accepted + duplicates - sent = {sender.accepted + sender.duplicates - sender.sent:,})")
    print(f"  failed attempts (retried): {sum(sender.failures.values())} [{fails}] over "
          f"{len(sender.retried_batches)} batches; never accepted: {len(sender.unaccepted)}")
    print("  bot tracebacks in logs: " + ", ".join(f"{b.name} {b.tracebacks()}" for b in bots) + extra)


async def new_postgres_db(base_url: str) -> tuple[str, str]:
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"tokenbot_faults_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(user=base.username, host=base.host or "127.0.0.1", port=base.port or 5432,
                                  database=base.database or "postgres", password=base.password)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return base.set(database=name).render_as_string(hide_password=False), name


async def drop_postgres_db(base_url: str, name: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    for _ in range(20):
        try:
            admin = await asyncpg.connect(user=base.username, host=base.host or "127.0.0.1", port=base.port or 5432,
                                          database=base.database or "postgres", password=base.password)
            break
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.5)
    else:
        return
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


# ---------------------------------------------------------------- 1. SIGKILL mid-ingestion
async def sigkill_ingestion(db_url: str, tmp: Path, batches: int, label: str) -> None:
    print(f"\n[1] SIGKILL mid-ingestion ({label}): one bot, 4 senders, killed after ~1/3 of the batches, restarted")
    bot = Bot("ingest", {"TOKENBOT_DATABASE_URL": db_url, "TOKENBOT_SCHEDULER_ENABLED": "false"}, tmp)
    await bot.start()
    sender = Sender([bot.url], "kill", batches, 500)
    task = asyncio.create_task(sender.run())
    for _ in range(1200):  # bounded: 120 s
        if sender.done_batches >= batches // 3 or task.done():
            break
        await asyncio.sleep(0.05)
    killed_at = sender.done_batches
    bot.kill()
    await asyncio.sleep(1.0)
    await bot.start()
    await asyncio.wait_for(task, timeout=300)
    await bot.stop()
    stored = await stored_ids(db_url, "kill")
    print(f"  killed after {killed_at} accepted batches; restarted")
    print_ingest("kill", sender, stored, [bot])


# ---------------------------------------------------------------- 2. SIGKILL mid-digest
def digest_org(teams: int) -> str:
    lines = ["org: {name: Faults}", "teams:"]
    for i in range(teams):
        lines.append(f'  - {{slug: d{i:03d}, name: Team {i}, channel: C0D{i:03d}, timezone: UTC, digest_time: "00:00", '
                     f"monthly_budget_usd: 1000}}")
    lines.append("people:")
    lines += [f"  - {{email: p{i}@faults.example, name: P{i}, team: d{i:03d}, slack_id: U0P{i:03d}}}" for i in range(teams)]
    return "\n".join(lines) + "\n"


def digest_posts(slack: FakeSlack) -> list[tuple[str, str]]:
    out = []
    for call in slack.posted:
        meta = call.params.get("metadata")
        if isinstance(meta, str):
            meta = json.loads(meta)
        if isinstance(meta, dict) and meta.get("event_type") == DIGEST_EVENT:
            out.append((str(call.params.get("channel")), str(meta["event_payload"]["key"])))
    return out


async def sigkill_digest(db_url: str, tmp: Path, teams: int) -> None:
    from sqlalchemy import text

    from bot.app import build_deps
    from bot.features.digests import run_due_digests
    from bot.settings import load_settings
    from storage.db import make_engine

    print(f"\n[2] SIGKILL mid-digest (SQLite): {teams} teams due now (UTC, 00:00), scheduler on, killed while posting")
    slack = FakeSlack()
    await slack.start()
    org = tmp / "digest-org.yml"
    org.write_text(digest_org(teams))
    env = {"TOKENBOT_DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
           "TOKENBOT_SLACK_API_URL": slack.api_url, "TOKENBOT_ORG_FILE": str(org),
           "TOKENBOT_SLACK_MIN_POST_INTERVAL_S": "0"}
    bot = Bot("digest", env, tmp)
    try:
        await bot.start()
        for _ in range(1200):  # bounded: 120 s
            if len(digest_posts(slack)) >= teams // 3:
                break
            await asyncio.sleep(0.02)
        before_kill = len(digest_posts(slack))
        bot.kill()
        engine = make_engine(db_url)
        async with engine.connect() as conn:
            held = (await conn.execute(text("SELECT count(*) FROM job_runs WHERE kind = 'digest' AND status = 'running'")
                                       )).scalar_one()
        print(f"  killed with {before_kill} digests posted; {held} digest claims left 'running' by the dead process "
              "(lease 10 min, DIGEST_LEASE_S; there is no setting to shorten it)")
        await bot.start()
        # The restarted bot's start-up tick may find this minute's job slot still held by the dead process (the slot
        # lease is 60 s), so run the same job (run_due_digests) here too rather than wait for the next minute: a
        # second replica, in effect. Both are safe together.
        settings = load_settings(**{k: v for k, v in env.items()})
        deps = await build_deps(settings, migrate=False)
        await run_due_digests(deps)
        for _ in range(300):  # bounded: 30 s for the restarted bot's own run to settle
            async with engine.connect() as conn:
                open_ = (await conn.execute(text("SELECT count(*) FROM job_runs WHERE kind = 'digest' AND status <> 'done'")
                                            )).scalar_one()
            if open_ <= held:
                break
            await asyncio.sleep(0.1)
        report_digests(slack, teams, "after restart (within the lease)")
        # What happens when the lease runs out: fast-forward it in the database (= waiting 10 minutes), run again.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE job_runs SET lease_until = :t WHERE kind = 'digest' AND status = 'running'"),
                               {"t": int(time.time()) - 1})
        result = await run_due_digests(deps)
        print(f"  leases of the dead claims expired (fast-forwarded in job_runs): next run posted {len(result.posted)}, "
              f"skipped {result.skipped} (done, or found already posted by the dead process), "
              f"failed {len(result.failed)}")
        report_digests(slack, teams, "after the lease ran out")
        await deps.engine.dispose()
        await engine.dispose()
        history = len(slack.calls_to("conversations.history"))
        print(f"  conversations.history reads (takeover checks for a post the dead process made): {history}")
        print(f"  bot tracebacks in logs: {bot.tracebacks()}")
    finally:
        await bot.stop()
        await slack.stop()


def report_digests(slack: FakeSlack, teams: int, when: str) -> None:
    per = Counter(ch for ch, _ in digest_posts(slack))
    channels = [f"C0D{i:03d}" for i in range(teams)]
    once = sum(per[c] == 1 for c in channels)
    twice = sum(per[c] >= 2 for c in channels)
    missing = sum(per[c] == 0 for c in channels)
    print(f"  {when}: teams {teams}, posted once {once}, posted twice {twice}, missing {missing}")


# ---------------------------------------------------------------- 3. Slack outage
def requests_org(n: int) -> str:
    lines = ["org: {name: Outage, max_pending_requests: 5}", "teams:"]
    for t in range(4):
        lines.append(f"  - {{slug: o{t}, name: Outage {t}, channel: C0O{t}, timezone: UTC, monthly_budget_usd: 10000, "
                     f"approvers: [U0BOSS{t}]}}")
    lines.append("people:")
    lines += [f"  - {{email: r{i}@outage.example, name: R{i}, team: o{i % 4}, slack_id: U0R{i:03d}, "
              f"monthly_budget_usd: 100}}" for i in range(n)]
    return "\n".join(lines) + "\n"


async def slack_outage(db_url: str, tmp: Path, n: int) -> None:
    from bot.app import build_deps
    from bot.clock import ManualClock
    from bot.features.requests import tick
    from bot.settings import load_settings

    print(f"\n[3] Slack outage (SQLite): {n} budget requests while chat.postMessage answers 429 (Retry-After 1) "
          "then 500; Slack recovers; the request-timers tick runs (two processes at once)")
    slack = FakeSlack()
    await slack.start()
    org = tmp / "outage-org.yml"
    org.write_text(requests_org(n))
    env = {"TOKENBOT_DATABASE_URL": db_url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
           "TOKENBOT_SLACK_API_URL": slack.api_url, "TOKENBOT_ORG_FILE": str(org),
           "TOKENBOT_SLACK_MIN_POST_INTERVAL_S": "0", "TOKENBOT_SCHEDULER_ENABLED": "false"}
    bot = Bot("outage", env, tmp)
    try:
        await bot.start()
        slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=1, times=4)
        slack.fail("chat.postMessage", status=500, error="internal_error", times=100_000)
        answers: list[str] = []
        async with aiohttp.ClientSession() as http:
            async def request(i: int) -> None:
                body = slash_command_body("request 50 load tests during the outage", f"U0R{i:03d}",
                                          slack.response_url(f"r{i}"))
                async with http.post(f"{bot.url}/slack/events", data=body.encode(), headers=sign(SECRET, body)) as r:
                    answers.append(f"{r.status} " + (await r.text())[:80])

            gate = asyncio.Semaphore(4)

            async def one(i: int) -> None:
                async with gate:
                    await request(i)

            await asyncio.gather(*(one(i) for i in range(n)))
        ok = sum(a.startswith("200") and "sent to" in a for a in answers)
        failed_during = len([c for c in slack.calls_to("chat.postMessage")])
        slack.faults.clear()  # Slack recovers
        print(f"  requests answered 200 'sent to …': {ok} of {n}; chat.postMessage attempts during the outage: "
              f"{failed_during}; cards delivered during the outage: {len(slack.posted)}")
        for a in answers:
            if not (a.startswith("200") and "sent to" in a):
                print(f"  other answer: {a}")
        settings = load_settings(**env)
        later = ManualClock(datetime.now(UTC) + timedelta(seconds=61))  # failed cards are due again after 60 s
        deps1 = await build_deps(settings, later, migrate=False)
        deps2 = await build_deps(settings, later, migrate=False)
        counts = await asyncio.gather(tick(deps1), tick(deps2))
        print(f"  tick in two processes: retried {counts[0]['retried']} + {counts[1]['retried']}")
        from sqlalchemy import text

        async with deps1.engine.connect() as conn:
            statuses = dict((await conn.execute(text(
                "SELECT status, count(*) FROM request_messages WHERE kind = 'card' GROUP BY status"))).all())
            expected = (await conn.execute(text("SELECT count(*) FROM budget_requests"))).scalar_one()
        await deps1.engine.dispose()
        await deps2.engine.dispose()
        per_request: Counter[str] = Counter()
        for call in slack.posted:
            blocks = call.params.get("blocks") or []
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            for b in blocks:
                t = (b.get("text") or {}).get("text", "") if isinstance(b.get("text"), dict) else ""
                if t.startswith("*Budget request #") or "Budget request #" in t:
                    per_request[t.split("#", 1)[1].split(":", 1)[0]] += 1
                    break
        once = sum(v == 1 for v in per_request.values())
        twice = sum(v >= 2 for v in per_request.values())
        print(f"  cards expected {expected} (one approver each), delivered once {once}, delivered twice {twice}, "
              f"missing {expected - once - twice}; request_messages cards by status: {statuses}")
        print(f"  bot tracebacks in logs: {bot.tracebacks()}")
    finally:
        await bot.stop()
        await slack.stop()


# ---------------------------------------------------------------- 4. PostgreSQL restart
async def postgres_restart(base_url: str, tmp: Path, batches: int) -> None:
    print("\n[4] PostgreSQL restarted while ingestion runs (pg_ctlcluster … restart), 4 senders")
    url, name = await new_postgres_db(base_url)
    bot = Bot("pg-restart", {"TOKENBOT_DATABASE_URL": url, "TOKENBOT_SCHEDULER_ENABLED": "false"}, tmp)
    try:
        await bot.start()
        sender = Sender([bot.url], "pgr", batches, 500)
        task = asyncio.create_task(sender.run())
        for _ in range(1200):
            if sender.done_batches >= batches // 3 or task.done():
                break
            await asyncio.sleep(0.05)
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        restarted_at = sender.done_batches
        proc = await asyncio.create_subprocess_exec("pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                                                    "restart", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
        print(f"  restarted PostgreSQL {version} after {restarted_at} accepted batches (rc {proc.returncode}"
              f"{', ' + out.decode().strip() if out.strip() else ''})")
        await asyncio.wait_for(task, timeout=300)
        stored = await stored_ids(url, "pgr")
        print_ingest("pg", sender, stored, [bot])
    finally:
        await bot.stop()
        await drop_postgres_db(base_url, name)


# ---------------------------------------------------------------- 5. SQLite busy
async def sqlite_two_writers(db_url: str, tmp: Path, batches: int) -> None:
    print("\n[5] SQLite busy: two bot processes on one SQLite file, 6 senders spread over both")
    a = Bot("sqlite-a", {"TOKENBOT_DATABASE_URL": db_url, "TOKENBOT_SCHEDULER_ENABLED": "false"}, tmp)
    b = Bot("sqlite-b", {"TOKENBOT_DATABASE_URL": db_url, "TOKENBOT_SCHEDULER_ENABLED": "false"}, tmp)
    try:
        await a.start()
        await b.start()
        sender = Sender([a.url, b.url], "busy", batches, 500, workers=6)
        started = time.monotonic()
        await asyncio.wait_for(sender.run(), timeout=300)
        took = time.monotonic() - started
        stored = await stored_ids(db_url, "busy")
        print_ingest("busy", sender, stored, [a, b], f" (took {took:.1f} s)")
    finally:
        await a.stop()
        await b.stop()


async def main(args: argparse.Namespace) -> None:
    quick = args.quick
    with tempfile.TemporaryDirectory(prefix="tokenbot-faults-") as tmp_s:
        tmp = Path(tmp_s)
        print(f"tokenbot fault injection ({'quick' if quick else 'full'}); bot logs under {tmp} while it runs")
        await sigkill_ingestion(f"sqlite+aiosqlite:///{tmp / 'kill.db'}", tmp, 60 if quick else 200, "SQLite")
        if args.postgres:
            url, name = await new_postgres_db(args.postgres)
            try:
                await sigkill_ingestion(url, tmp, 60 if quick else 200, "PostgreSQL")
            finally:
                await drop_postgres_db(args.postgres, name)
        await sigkill_digest(f"sqlite+aiosqlite:///{tmp / 'digest.db'}", tmp, 30 if quick else 80)
        await slack_outage(f"sqlite+aiosqlite:///{tmp / 'outage.db'}", tmp, 12 if quick else 40)
        if args.postgres:
            await postgres_restart(args.postgres, tmp, 60 if quick else 200)
        else:
            print("\n[4] PostgreSQL restart: skipped (give --postgres URL)")
        await sqlite_two_writers(f"sqlite+aiosqlite:///{tmp / 'busy.db'}", tmp, 60 if quick else 200)
        if args.keep_logs:
            import shutil

            dest = ROOT / "bench" / "out" / "faults-logs"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(tmp, dest, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
            print(f"\nbot logs copied to {dest}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (postgresql+asyncpg://user@127.0.0.1:5432/db); "
                                           "scenario 4 restarts this machine's cluster")
    parser.add_argument("--quick", action="store_true", help="fewer batches, teams and requests")
    parser.add_argument("--keep-logs", action="store_true", help="copy the bots' logs to bench/out/faults-logs")
    a = parser.parse_args()
    if a.postgres and not a.postgres.startswith("postgresql+asyncpg://127.0.0.1") and "@127.0.0.1" not in a.postgres:
        parser.error("--postgres must point at 127.0.0.1")
    asyncio.run(main(a))
