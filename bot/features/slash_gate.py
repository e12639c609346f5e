"""How many slash commands one process works on at once: beyond the bound a command is told "busy, try again"
rather than queued behind work that would make every answer miss Slack's 3 seconds."""
from __future__ import annotations

import asyncio


class SlashGate:
    def __init__(self, max_in_flight: int, wait_s: float) -> None:
        self.max_in_flight = max_in_flight
        self.wait_s = wait_s  # how long a command may wait for a free slot before it is told to retry
        self._slots = asyncio.Semaphore(max_in_flight)
        self.in_flight = 0

    async def enter(self) -> bool:
        """Take a slot (waiting at most `wait_s`); False when none came free."""
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_s)
        except TimeoutError:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
        self._slots.release()
