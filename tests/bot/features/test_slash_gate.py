"""The slash-command gate: workers handed over in arrival order, never more than `workers` at once."""
from __future__ import annotations

import asyncio

from bot.features.slash_gate import SlashGate


async def test_workers_are_claimed_at_once_and_handed_over_in_order() -> None:
    gate = SlashGate(max_in_flight=10, workers=2)
    assert gate.try_claim() and gate.try_claim() and not gate.try_claim()
    order: list[int] = []

    async def wait(i: int) -> None:
        await gate.claim()
        order.append(i)

    waiters = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert order == [] and not gate.try_claim()  # queued commands come first
    gate.release()
    gate.release()
    await asyncio.sleep(0)
    assert order == [0, 1] and gate.busy == 2
    waiters[2].cancel()
    gate.release()
    gate.release()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert gate.busy == 0 and gate.try_claim()


def test_admission_is_bounded() -> None:
    gate = SlashGate(max_in_flight=2)
    assert gate.admit() and gate.admit() and not gate.admit()
    gate.done()
    assert gate.admit()
