"""The APScheduler wiring: started in the bot's loop, its first digest check runs at once (the catch-up)."""
from __future__ import annotations

import asyncio

from bot.scheduler import build_scheduler


async def test_scheduler_runs_the_due_digests_at_start(bot) -> None:
    scheduler = build_scheduler(bot.deps)
    assert {j.id for j in scheduler.get_jobs()} == {"digests", "warnings"}
    scheduler.start()
    try:
        for _ in range(200):  # wait for the first run (not a timing assertion: the content is what is checked)
            if len(bot.slack.posted) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    assert sorted(c.params["channel"] for c in bot.slack.posted) == ["C0PLAT", "C0RES"]  # 15:30 UTC: both due
