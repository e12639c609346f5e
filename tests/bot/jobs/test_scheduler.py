"""The APScheduler wiring: started in the bot's loop, its first digest check runs at once (the catch-up)."""
from __future__ import annotations

import asyncio

from bot.jobs.scheduler import build_scheduler


async def test_scheduler_runs_the_due_digests_at_start(bot) -> None:
    scheduler = build_scheduler(bot.deps)
    assert {j.id for j in scheduler.get_jobs()} == {"digests", "warnings", "signals", "request-timers", "admin-digest", "steering", "retention",
                                                     "expired-reservations", "fold-rollups",
                                                     "event-partitions"}  # no poller configured
    scheduler.start()
    try:
        for _ in range(200):  # wait for the first run (not a timing assertion: the content is what is checked)
            if len([c for c in bot.slack.posted if c.params["channel"].startswith("C")]) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    channels = sorted(c.params["channel"] for c in bot.slack.posted)
    assert [c for c in channels if c.startswith("C")] == ["C0PLAT", "C0RES"]  # 15:30 UTC: both due


async def test_each_slot_runs_in_one_replica_and_is_counted(bot) -> None:
    from bot.app import build_deps
    from bot.jobs.scheduler import Jobs

    other = await build_deps(bot.deps.settings, bot.clock, migrate=False)  # a second replica, same database
    ran: list[str] = []

    async def job(who: str) -> str:
        ran.append(who)
        return "ok"

    try:
        a, b = Jobs(bot.deps), Jobs(other)
        results = await asyncio.gather(a.run("demo", 60, lambda: job("a")), b.run("demo", 60, lambda: job("b")))
        assert sorted(results) == [False, True] and len(ran) == 1
        assert not await a.run("demo", 60, lambda: job("a"))  # the same slot never runs again
        from datetime import timedelta

        bot.clock.advance(timedelta(seconds=60))
        assert await b.run("demo", 60, lambda: job("b"))  # the next slot runs
    finally:
        await other.close()
    assert len(ran) == 2
    text = (bot.deps.metrics.render() + other.metrics.render()).decode()
    assert 'tokenbot_job_runs_total{job="demo",outcome="ok"} 1.0' in text
