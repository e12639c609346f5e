"""Snooze and Expected presses on warnings: one row per warning (the first press wins, on every replica), audited in
the same transaction."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.warnings import WarningFeedback
from storage.db import insert_for
from storage.stores.requests import audit
from storage.tables.alerts import warning_feedback


def _row(r) -> WarningFeedback:  # noqa: ANN001
    return WarningFeedback(r.warning_key, r.scope, r.subject_id, r.action, r.actor, r.at, r.until, r.level_micros)


class FeedbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = insert_for(engine)

    async def record(self, f: WarningFeedback) -> tuple[bool, WarningFeedback]:
        """(True, f) when this call stored it; (False, the stored one) when the warning already had feedback."""
        t = warning_feedback
        async with self.engine.begin() as conn:
            result = await conn.execute(self._insert(t).values(
                warning_key=f.warning_key, scope=f.scope, subject_id=f.subject_id, action=f.action, actor=f.actor,
                at=f.at, until=f.until, level_micros=f.level_micros).on_conflict_do_nothing())
            if result.rowcount == 1:
                await audit(conn, f.at, f.actor, f"warning_{f.action}", None,
                            {"warning": f.warning_key, "scope": f.scope, "subject_id": f.subject_id,
                             "until": f.until, "level_micros": f.level_micros})
                return True, f
            row = (await conn.execute(select(t).where(t.c.warning_key == f.warning_key))).one()
            return False, _row(row)

    async def in_force(self, now_ts: int) -> list[WarningFeedback]:
        t = warning_feedback
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t).where(t.c.until > now_ts))
            return [_row(r) for r in rows]
