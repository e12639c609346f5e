"""Shared bench plumbing: run `tokenbot serve` as its own process, as in production, and wait for it."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PIDS: dict[str, int] = {}  # url -> pid of each running bot_process (for benches that read its CPU time)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bot_process(env: dict[str, str]):  # noqa: ANN201
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TOKENBOT_"))}
    full |= {"TOKENBOT_PORT": str(port), "TOKENBOT_LOG_LEVEL": "WARNING"} | env
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=ROOT, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    PIDS[url] = proc.pid
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"tokenbot serve exited: {proc.stderr.read() if proc.stderr else ''}") from None
                time.sleep(0.1)
        yield url
    finally:
        PIDS.pop(url, None)
        proc.terminate()
        proc.wait(timeout=30)


def percentiles(samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:6.2f} ms  p99 {q[98]:6.2f} ms  max {ms[-1]:6.2f} ms  (n={len(ms)})"


def fresh_postgres(base_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `base_url`; returns its SQLAlchemy URL."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(base_url)

    async def recreate() -> None:
        admin = await asyncpg.connect(user=base.username, host=base.host or "127.0.0.1", port=base.port or 5432,
                                      database=base.database or "postgres", password=base.password)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()

    asyncio.run(recreate())
    return base.set(database=name).render_as_string(hide_password=False)


@contextmanager
def bot_processes(env: dict[str, str], count: int):  # noqa: ANN201
    """`count` replicas on one database, started one after another (each migrates and syncs, then the next)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield [stack.enter_context(bot_process(env)) for _ in range(count)]


def drop_postgres(base_url: str, name: str) -> None:
    """Drop database `name` (made by fresh_postgres) from the server of `base_url`."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(base_url)

    async def drop() -> None:
        admin = await asyncpg.connect(user=base.username, host=base.host or "127.0.0.1", port=base.port or 5432,
                                      database=base.database or "postgres", password=base.password)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    asyncio.run(drop())


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (all its threads) so far; None: this process."""
    if pid is None:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
