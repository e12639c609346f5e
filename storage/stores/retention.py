"""Retention: raw events older than the configured age are pruned (their rollups stay), and a check proves the
rollups still equal the raw sums for every hour whose raw events are kept."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import is_sqlite
from storage.stores.event_partitions import bounds, drop_partition, existing_partitions, is_lock_timeout
from storage.tables.core import dead_letters, team_usage_hourly, usage_events, usage_hourly

_CHUNK = 20_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneReport:
    events: int  # rows deleted, plus PostgreSQL's row estimate of each month partition dropped whole
    dead_letters: int
    job_runs: int
    cutoff_hour: int
    months_dropped: tuple[str, ...] = ()  # PostgreSQL: the month partitions dropped, "2026-03"


class RetentionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def prune(self, now_ts: int, keep_days: int, batch: int = _CHUNK) -> PruneReport:
        """Delete raw events before a whole-hour cutoff, in small transactions (writers are never blocked for long).
        Rollups are written in the same transaction as their events, so everything pruned is already rolled up."""
        cutoff_hour = (now_ts - keep_days * 86400) // 3600
        cutoff_ts = cutoff_hour * 3600
        dropped, estimate = ((), 0) if is_sqlite(self.engine) else await self._drop_whole_months(cutoff_ts)
        events = estimate + await self._delete_in_chunks(usage_events, (usage_events.c.ts, usage_events.c.id),
                                                         usage_events.c.ts < cutoff_ts, batch)
        letters = await self._delete_in_chunks(dead_letters, (dead_letters.c.id,),
                                               dead_letters.c.received_at < cutoff_ts, batch)
        runs = 0
        from storage.tables.core import metadata

        job_runs = metadata.tables.get("job_runs")
        if job_runs is not None:  # finished claims of periodic jobs: only recent ones matter
            async with self.engine.begin() as conn:
                result = await conn.execute(delete(job_runs).where(job_runs.c.status == "done",
                                                                   job_runs.c.done_at < now_ts - 30 * 86400))
                runs = result.rowcount or 0
        return PruneReport(events, letters, runs, cutoff_hour, dropped)

    async def _drop_whole_months(self, cutoff_ts: int) -> tuple[tuple[str, ...], int]:
        """PostgreSQL: drop every month partition that ends at or before the cutoff, one statement each, instead of
        deleting its rows (storage/stores/event_partitions.py). Rows counted by PostgreSQL's estimate."""
        dropped: list[str] = []
        rows = 0
        async with self.engine.connect() as conn:
            months = await existing_partitions(conn)
        for month in sorted(m for m in months if bounds(m)[1] <= cutoff_ts):
            try:
                async with self.engine.begin() as conn:
                    estimate = await drop_partition(conn, month)
            except DBAPIError as exc:
                if not is_lock_timeout(exc):
                    raise
                log.warning("retention: the %04d-%02d partition stayed locked; its rows are deleted one by one instead",
                            *month)
                continue
            if estimate is not None:  # else another replica's retention dropped it first
                rows += estimate
                dropped.append(f"{month[0]:04d}-{month[1]:02d}")
        return tuple(dropped), rows

    async def _delete_in_chunks(self, table, key: tuple, where, batch: int) -> int:  # noqa: ANN001
        """Rows matching `where`, `batch` at a time, each chunk chosen by `key` (its unique columns) in the
        statement that deletes it: no keys travel to the client and back."""
        chunk = select(*key).where(where).limit(batch)
        total = 0
        while True:
            async with self.engine.begin() as conn:
                deleted = (await conn.execute(delete(table).where(tuple_(*key).in_(chunk)))).rowcount or 0
            total += deleted
            if deleted < batch:
                return total

    async def check_rollups(self) -> RollupCheck:
        """Per hour and per (hour, team): raw sums == person rollups == team rollups, for the hours raw events cover."""
        e = usage_events
        hour = e.c.ts // 3600  # integer division on both backends
        async with self.engine.connect() as conn:
            first_ts = (await conn.execute(select(func.min(e.c.ts)))).scalar()
            if first_ts is None:
                return RollupCheck(None, 0, [], 0, 0)
            # Pruning cuts at a whole hour, so the hour of the oldest kept event is complete.
            from_hour = first_ts // 3600
            raw = {(int(h), t): (int(n), int(c or 0), int(tok or 0)) for h, t, n, c, tok in await conn.execute(
                select(hour, e.c.team_id, func.sum(e.c.requests), func.sum(e.c.cost_micros),
                       func.sum(e.c.input_tokens + e.c.output_tokens))
                .where(e.c.ts >= from_hour * 3600).group_by(hour, e.c.team_id))}
            people = {(int(h), t): (int(n), int(c), int(tok)) for h, t, n, c, tok in await conn.execute(
                select(usage_hourly.c.hour, usage_hourly.c.team_id, func.sum(usage_hourly.c.requests),
                       func.sum(usage_hourly.c.cost_micros),
                       func.sum(usage_hourly.c.input_tokens + usage_hourly.c.output_tokens))
                .where(usage_hourly.c.hour >= from_hour).group_by(usage_hourly.c.hour, usage_hourly.c.team_id))}
            teams = {(int(h), t): (int(n), int(c), int(tok)) for h, t, n, c, tok in await conn.execute(
                select(team_usage_hourly.c.hour, team_usage_hourly.c.team_id, func.sum(team_usage_hourly.c.requests),
                       func.sum(team_usage_hourly.c.cost_micros),
                       func.sum(team_usage_hourly.c.input_tokens + team_usage_hourly.c.output_tokens))
                .where(team_usage_hourly.c.hour >= from_hour).group_by(team_usage_hourly.c.hour, team_usage_hourly.c.team_id))}
        mismatches = []
        for key in sorted(set(raw) | set(people) | set(teams)):
            r, p, t = raw.get(key, (0, 0, 0)), people.get(key, (0, 0, 0)), teams.get(key, (0, 0, 0))
            if not (r == p == t):
                mismatches.append(f"hour {key[0]} team {key[1]}: raw (requests, cost, tokens) {r}, person rollups {p}, "
                                  f"team rollups {t}")
        return RollupCheck(from_hour, len({k[0] for k in raw}), mismatches, sum(v[1] for v in raw.values()),
                           sum(v[1] for v in people.values()))


@dataclass(frozen=True)
class RollupCheck:
    from_hour: int | None  # first hour with raw events (older hours: rollups only)
    hours_checked: int
    mismatches: list[str]
    raw_cost_micros: int
    rollup_cost_micros: int

    @property
    def ok(self) -> bool:
        return not self.mismatches
