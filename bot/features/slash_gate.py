"""How much slash-command work one process takes on. At most `workers` commands are computed at once: more only
contend for the database and the interpreter lock with the event loop, which then acknowledges late (bench/
slash_load.py, 500 commands at once on 2 cores: 4 workers gave the earliest acknowledgements and the most answers
within 3 s; 2, 8 and 16 did worse, 16 acknowledging only 90% in time).
Up to `max_in_flight` are accepted (computing, or acknowledged and waiting for a worker, first come first served);
beyond that a command is told "busy, try again" at once."""
from __future__ import annotations

import asyncio
from collections import deque


class SlashGate:
    def __init__(self, max_in_flight: int, workers: int = 4) -> None:
        self.max_in_flight = max_in_flight
        self.workers = max(1, min(workers, max_in_flight))
        self.accepted = 0
        self.busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    def admit(self) -> bool:
        """Accept one more command (False: too many in flight). No await: check and count are one step."""
        if self.accepted >= self.max_in_flight:
            return False
        self.accepted += 1
        return True

    def done(self) -> None:
        self.accepted -= 1

    def try_claim(self) -> bool:
        """Take a worker now if one is free (and nobody queued first). Decided at once, so a burst of commands
        arriving in one loop turn cannot all believe the same worker is free."""
        if self.busy < self.workers and not self._waiting:
            self.busy += 1
            return True
        return False

    async def claim(self) -> None:
        """Wait for a worker, in arrival order."""
        if self.try_claim():
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the worker was handed over just as we gave up: pass it on
                self.release()
            raise

    def release(self) -> None:
        """Hand the worker to the next command waiting, or free it."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.busy -= 1
