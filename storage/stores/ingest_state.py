"""The pollers' cursors: for each source, the end of the last time range read completely (epoch seconds, UTC)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import insert_for
from storage.tables.ingest import ingest_cursors


class CursorStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, source: str) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(ingest_cursors.c.position)
                                       .where(ingest_cursors.c.source == source))).scalar_one_or_none()

    async def set(self, source: str, position: int, now_ts: int) -> None:
        stmt = insert_for(self.engine)(ingest_cursors).values(source=source, position=position, updated_at=now_ts)
        stmt = stmt.on_conflict_do_update(index_elements=["source"],
                                          set_={"position": stmt.excluded.position, "updated_at": now_ts})
        async with self.engine.begin() as conn:
            await conn.execute(stmt)


__all__ = ["CursorStore"]
