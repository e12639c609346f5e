"""Warning state: threshold lines already crossed (once per line per period), spike episode state, and each team's
threshold ladder from the org file."""
from __future__ import annotations

import json

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.domain.warnings import SentWarning
from storage.db import insert_for
from storage.tables.alerts import budget_alerts, job_runs, spike_state, team_alert_settings
from storage.tables.core import people, teams

DEFAULT_THRESHOLDS: tuple[int, ...] = (50, 80, 100)


async def sync_alert_thresholds(conn: AsyncConnection, specs: Iterable[Any], team_ids: dict[str, int]) -> None:
    """Called by the org sync, in its transaction: store every team's `alert_thresholds` ladder."""
    rows = [{"team_id": team_ids[s.slug], "thresholds": list(getattr(s, "alert_thresholds", DEFAULT_THRESHOLDS))}
            for s in specs if s.slug in team_ids]
    await conn.execute(delete(team_alert_settings))
    if rows:
        await conn.execute(team_alert_settings.insert(), rows)


class AlertStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = insert_for(engine)

    async def thresholds(self) -> dict[int, tuple[int, ...]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(team_alert_settings.c.team_id, team_alert_settings.c.thresholds))
            return {tid: tuple(sorted(int(x) for x in ladder)) for tid, ladder in rows}

    async def fired(self, scope: str, subject_id: int, period: str) -> set[int]:
        t = budget_alerts
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(t.c.threshold_pct).where(
                t.c.scope == scope, t.c.subject_id == subject_id, t.c.period == period))).scalars())

    async def record(self, scope: str, subject_id: int, period: str, thresholds: Iterable[int], now_ts: int,
                     budget_micros: int) -> list[int]:
        """Record crossed lines; returns those this call recorded (a line another process recorded is not returned)."""
        t = budget_alerts
        new = []
        async with self.engine.begin() as conn:
            for pct in sorted(thresholds):
                result = await conn.execute(self._insert(t).values(
                    scope=scope, subject_id=subject_id, period=period, threshold_pct=pct, fired_at=now_ts,
                    budget_micros=budget_micros).on_conflict_do_nothing())
                if result.rowcount == 1:
                    new.append(pct)
        return new

    async def forget(self, scope: str, subject_id: int, period: str, thresholds: Iterable[int]) -> int:
        """Re-arm lines: delete them (after a budget raise, or when their warning could not be posted)."""
        thresholds = list(thresholds)
        if not thresholds:
            return 0
        t = budget_alerts
        async with self.engine.begin() as conn:
            return (await conn.execute(delete(t).where(t.c.scope == scope, t.c.subject_id == subject_id,
                                                       t.c.period == period, t.c.threshold_pct.in_(thresholds)))).rowcount

    async def spike_states(self, scope: str) -> dict[int, dict[str, Any]]:
        t = spike_state
        async with self.engine.connect() as conn:
            return {sid: state for sid, state in await conn.execute(
                select(t.c.subject_id, t.c.state).where(t.c.scope == scope))}

    async def save_spike_state(self, scope: str, subject_id: int, state: dict[str, Any], now_ts: int) -> None:
        t = spike_state
        stmt = self._insert(t).values(scope=scope, subject_id=subject_id, state=state, updated_at=now_ts)
        stmt = stmt.on_conflict_do_update(index_elements=["scope", "subject_id"],
                                          set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at})
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def latest_warnings(self, limit: int = 10) -> list[SentWarning]:
        """The most recent spike warnings and budget lines crossed, newest first, naming their person or team."""
        async with self.engine.connect() as conn:
            spikes = (await conn.execute(select(job_runs.c.done_at, job_runs.c.key, job_runs.c.detail).where(
                job_runs.c.kind.in_(("spike", "signal")), job_runs.c.status == "done")
                .order_by(job_runs.c.done_at.desc()).limit(limit))).all()
            lines = (await conn.execute(select(budget_alerts).order_by(budget_alerts.c.fired_at.desc()).limit(limit))
                     ).mappings().all()
            names = {("team", tid): name for tid, name in await conn.execute(select(teams.c.id, teams.c.name))}
            names |= {("person", pid): name or email
                      for pid, name, email in await conn.execute(select(people.c.id, people.c.name, people.c.email))}
        out = []
        for at, key, detail in spikes:
            if key.startswith("signal:"):  # signal:<kind>:person:<id>:<episode>, its headline in a JSON detail
                parts = key.split(":")
                sid = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0
                try:
                    headline = json.loads(detail or "{}").get("headline")
                except (ValueError, AttributeError):
                    headline = None
                out.append(SentWarning(at, "signal", "person", names.get(("person", sid), "?"), detail=headline))
                continue
            parts = key.split(":")  # spike:<scope>:<id>:<hour>
            scope, sid = (parts[1], int(parts[2])) if len(parts) >= 3 and parts[2].isdigit() else ("team", 0)
            out.append(SentWarning(at, "spike", scope, names.get((scope, sid), "?"), detail=detail))
        for a in lines:
            out.append(SentWarning(a["fired_at"], "line", a["scope"], names.get((a["scope"], a["subject_id"]), "?"),
                                   threshold_pct=a["threshold_pct"], period=a["period"]))
        return sorted(out, key=lambda w: -w.at)[:limit]
