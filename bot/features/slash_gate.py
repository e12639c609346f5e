"""How much slash-command work one process takes on. At most `workers` commands are computed at once: more only
contend for the database and the interpreter lock with the event loop, which then acknowledges late (bench/
slash_load.py: 16 workers acknowledged 90% of a 500-command burst within 3 s, 4 workers 100% and answered faster).
Up to `max_in_flight` are accepted (computing, or acknowledged and waiting for a worker); beyond that a command is
told "busy, try again" at once."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SlashGate:
    def __init__(self, max_in_flight: int, workers: int = 4) -> None:
        self.max_in_flight = max_in_flight
        self.accepted = 0
        self._workers = asyncio.Semaphore(max(1, min(workers, max_in_flight)))

    def admit(self) -> bool:
        """Accept one more command (False: too many in flight). No await: check and count are one step."""
        if self.accepted >= self.max_in_flight:
            return False
        self.accepted += 1
        return True

    def done(self) -> None:
        self.accepted -= 1

    def worker_free(self) -> bool:
        return not self._workers.locked()

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        async with self._workers:
            yield
