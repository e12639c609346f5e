"""Keys of signed Slack requests already handled, so a replay has its side effect once (in any replica)."""
from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import insert_for
from storage.stores.ledger import Ledger
from storage.tables.slack import slack_replays

# Slack refuses timestamps older than 5 minutes, so a key older than this can never be replayed: it is pruned.
KEEP_S = 600


class ReplayStore:
    def __init__(self, engine: AsyncEngine, ledger: Ledger) -> None:
        self.engine = engine
        self.ledger = ledger  # its writer queue (SQLite has one writer)

    async def first_time(self, key: str, now_ts: int) -> bool:
        """Record `key`; False when it was already recorded (a replay). One compare-and-set: two replicas receiving
        the same request at once cannot both see it first."""
        stmt = (insert_for(self.engine)(slack_replays).values(key=key, received_at=now_ts)
                .on_conflict_do_nothing(index_elements=["key"]).returning(slack_replays.c.key))
        async with self.ledger.writer(), self.engine.begin() as conn:
            inserted = (await conn.execute(stmt)).first() is not None
            await conn.execute(delete(slack_replays).where(slack_replays.c.received_at < now_ts - KEEP_S))
        return inserted
