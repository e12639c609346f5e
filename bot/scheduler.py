"""The scheduler (APScheduler 3.x, asyncio): a digest check every minute and the warning scan every few minutes.

Both jobs are idempotent and keep "exactly once" in the database (RunLog, budget_alerts), not in the scheduler: a
late, doubled or caught-up run, another process, or a restart never sends anything twice, and the every-minute digest
check catches up a digest missed while the bot was down (once) and follows daylight-saving changes by itself."""
from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.alerts import scan
from bot.deps import Deps
from bot.digest import run_due_digests
from bot.slack_post import SlackPoster
from storage.runs import RunLog

log = logging.getLogger(__name__)


class Jobs:
    """What the scheduled jobs share within a process: one poster (per-channel spacing) and one RunLog owner."""

    def __init__(self, deps: Deps, poster: SlackPoster | None = None) -> None:
        self.deps = deps
        self.poster = poster or (SlackPoster.from_settings(deps.settings) if deps.slack is not None else None)
        self.runs = RunLog(deps.engine)

    async def digests(self) -> None:
        try:
            await run_due_digests(self.deps, self.poster, self.runs)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the job; the next minute retries
            log.exception("digest run failed")

    async def warnings(self) -> None:
        try:
            await scan(self.deps, self.poster, self.runs)
        except Exception:  # noqa: BLE001
            log.exception("warning scan failed")


def build_scheduler(deps: Deps, jobs: Jobs | None = None) -> AsyncIOScheduler:
    """Not started; call .start() inside the running event loop and .shutdown(wait=False) to stop."""
    jobs = jobs or Jobs(deps)
    scheduler = AsyncIOScheduler(timezone="UTC")
    # First runs at start-up (the catch-up), then on APScheduler's wall-clock interval.
    start = deps.clock.now()
    scheduler.add_job(jobs.digests, IntervalTrigger(minutes=1), id="digests", max_instances=1, coalesce=True,
                      next_run_time=start, misfire_grace_time=None)
    scheduler.add_job(jobs.warnings, IntervalTrigger(seconds=deps.settings.scan_interval_s), id="warnings",
                      max_instances=1, coalesce=True, next_run_time=start, misfire_grace_time=None)
    return scheduler
