"""RunLog: "this happens once" kept in the database, so it holds across restarts and across processes.

    runs = RunLog(engine)
    if await runs.claim("digest:3:2026-11-18", now_ts, lease_s=600):
        try:
            ...do the work (post the message)...
        except Exception as exc:
            await runs.fail("digest:3:2026-11-18", now_ts, str(exc))   # retried by the next claim
        else:
            await runs.complete("digest:3:2026-11-18", now_ts, "ts=1700000000.000100")  # never claimed again

`claim(key, now_ts, lease_s) -> bool` is True for exactly one caller at a time: the first INSERT of the key wins; a
later caller can take the key over only if it is `failed`, or still `running` with its lease ended (the process that
held it died), by a compare-and-set UPDATE … WHERE status/lease condition. A `done` key is never claimed again.
`complete` and `fail` only act on a claim this RunLog still holds (same `owner`, status running) and return whether
they did. Works the same on SQLite and PostgreSQL (INSERT … ON CONFLICT DO NOTHING, then a conditional UPDATE).

Pick `lease_s` longer than the work can take: a live holder whose lease ends may be overtaken, and its work done twice.
"""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import insert_for
from storage.tables.alerts import job_runs


@dataclass(frozen=True)
class Run:
    key: str
    kind: str
    claimed_by: str
    claimed_at: int
    lease_until: int
    status: str
    attempts: int
    done_at: int | None
    detail: str | None


class RunLog:
    def __init__(self, engine: AsyncEngine, owner: str | None = None) -> None:
        self.engine = engine
        # Unique per RunLog: two processes (or two RunLogs in one test) never mistake each other's claims.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._insert = insert_for(engine)

    async def claim(self, key: str, now_ts: int, lease_s: int) -> bool:
        """Take `key` for `lease_s` seconds. True for exactly one caller; False if it is done or held by someone."""
        t = job_runs
        values = {"claimed_by": self.owner, "claimed_at": now_ts, "lease_until": now_ts + lease_s, "status": "running"}
        async with self.engine.begin() as conn:
            inserted = await conn.execute(self._insert(t).values(key=key, kind=key.split(":", 1)[0], attempts=1,
                                                                 **values).on_conflict_do_nothing(index_elements=["key"]))
            if inserted.rowcount == 1:
                return True
            taken = await conn.execute(
                update(t).where(t.c.key == key, or_(t.c.status == "failed",
                                                    and_(t.c.status == "running", t.c.lease_until < now_ts)))
                .values(attempts=t.c.attempts + 1, **values))
            return taken.rowcount == 1

    async def complete(self, key: str, now_ts: int, detail: str | None = None) -> bool:
        """Mark the claimed `key` done: it is never claimed again."""
        return await self._finish(key, {"status": "done", "done_at": now_ts, "detail": detail})

    async def fail(self, key: str, now_ts: int, error: str) -> bool:
        """Mark the claimed `key` failed: the next `claim` takes it over (and retries the work)."""
        return await self._finish(key, {"status": "failed", "lease_until": now_ts, "detail": error[:2000]})

    async def get(self, key: str) -> Run | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(job_runs).where(job_runs.c.key == key))).mappings().first()
        return Run(**row) if row else None

    async def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` are done (one query per 500 keys)."""
        keys = list(keys)
        out: set[str] = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                out.update((await conn.execute(select(job_runs.c.key).where(
                    job_runs.c.key.in_(keys[start:start + 500]), job_runs.c.status == "done"))).scalars())
        return out

    async def _finish(self, key: str, values: dict) -> bool:
        t = job_runs
        async with self.engine.begin() as conn:
            result = await conn.execute(update(t).where(t.c.key == key, t.c.claimed_by == self.owner,
                                                        t.c.status == "running").values(**values))
            return result.rowcount == 1
