"""The scheduler (APScheduler 3.x, asyncio): digests, warnings, budget-request timers and usage pollers.

"Exactly once" lives in the database, never in the scheduler: digests and warnings claim their own keys (RunLog,
budget_alerts), request timers are compare-and-set columns, and every periodic job also claims its time slot
("job:<name>:<slot>") so that with several replicas each due run happens in one of them. A late, doubled or
caught-up run, another process, or a restart never sends anything twice; the every-minute digest check catches up a
digest missed while the bot was down (once) and follows daylight-saving changes by itself."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.features.warnings import scan
from bot.features.deps import Deps
from bot.features.digests import run_due_digests
from bot.slack.outbox import SlackOutbox
from storage.stores.runs import RunLog

log = logging.getLogger(__name__)

SIGNALS_INTERVAL_S = 120  # loops must be caught within minutes of forming (bench/impact_signals.py)


class Jobs:
    """What the scheduled jobs share within a process: one poster (per-channel spacing) and one RunLog owner."""

    def __init__(self, deps: Deps, poster: SlackOutbox | None = None) -> None:
        self.deps = deps
        self.poster = poster or deps.slack
        self.runs = RunLog(deps.engine)

    async def digests(self) -> None:
        await run_due_digests(self.deps, self.poster, self.runs)

    async def warnings(self) -> None:
        await scan(self.deps, self.poster, self.runs)

    async def signals(self) -> int:
        from bot.features.signals import scan_signals

        return len((await scan_signals(self.deps, self.poster, self.runs)).messages)

    async def steering(self) -> int:
        from bot.features.steering import announce_routes, run_nudges

        return await announce_routes(self.deps, self.poster, self.runs) + await run_nudges(self.deps, self.poster, self.runs)

    async def admin_digest(self) -> int:
        from bot.features.admin_digest import run_admin_digest

        return await run_admin_digest(self.deps, self.runs)

    async def request_timers(self) -> None:
        from bot.features.home import publish_home
        from bot.features.requests import tick

        report = await tick(self.deps)
        for user_id in sorted(report.touched):  # reminders, escalations and expiries change App Home
            await publish_home(self.deps, user_id)

    async def retention(self) -> object:
        from storage.stores.retention import RetentionStore

        return await RetentionStore(self.deps.engine).prune(int(self.deps.clock.now().timestamp()), self.deps.settings.retention_days)

    async def expired_reservations(self) -> int:
        from storage.stores.reservations import Reservations

        reservations = Reservations(self.deps.engine, self.deps.ledger.writer)
        return await reservations.drop_expired(int(self.deps.clock.now().timestamp()))

    async def event_partitions(self) -> int:
        return await self.deps.ledger.partitions_ahead(int(self.deps.clock.now().timestamp()))

    async def fold_rollups(self) -> int:
        """Rollup rows that concurrent PostgreSQL batches wrote to their own shards, for complete hours: into shard 0,
        so a month's read stays a few rows per hour and model."""
        return await self.deps.ledger.fold_shards(int(self.deps.clock.now().timestamp()) // 3600)

    async def run(self, name: str, interval_s: int, job: Callable[[], Awaitable[object]]) -> bool:
        """Run `job` if this process wins its time slot. Failures are logged and counted; the next slot retries."""
        now = int(self.deps.clock.now().timestamp())
        slot_start = now - now % interval_s
        key = f"job:{name}:{slot_start}"
        if not await self.runs.claim(key, now, lease_s=max(interval_s, 60)):
            return False  # another replica has this slot
        self.deps.metrics.job_lag.labels(job=name).set(now - slot_start)
        try:
            result = await job()
        except Exception as exc:  # noqa: BLE001 - a database or network hiccup must not kill the job
            log.exception("scheduled job %s failed", name)
            self.deps.metrics.job_runs.labels(job=name, outcome="error").inc()
            await self.runs.fail(key, int(self.deps.clock.now().timestamp()), f"{type(exc).__name__}: {exc}"[:500])
            return True
        self.deps.metrics.job_runs.labels(job=name, outcome="ok").inc()
        await self.runs.complete(key, int(self.deps.clock.now().timestamp()), str(result)[:500] if result else None)
        return True


def pollers(deps: Deps) -> list[tuple[str, int, Callable[[], Awaitable[object]]]]:
    """The usage and cost pollers whose credentials are set: (name, interval in seconds, job)."""
    from bot.pollers.anthropic_costs import poll_anthropic_costs
    from bot.pollers.anthropic_usage import poll_anthropic_usage
    from bot.pollers.litellm_spend import poll_litellm_spend
    from bot.pollers.openai_costs import poll_openai_costs
    from bot.pollers.openai_usage import poll_openai_usage

    s = deps.settings
    out: list[tuple[str, int, Callable[[], Awaitable[object]]]] = []
    if s.litellm_url and s.litellm_admin_key:
        out.append(("poll-litellm", s.poll_interval_s, lambda: poll_litellm_spend(deps)))
    if s.openai_admin_key:
        out += [("poll-openai-usage", s.poll_interval_s, lambda: poll_openai_usage(deps)),
                ("poll-openai-costs", 6 * 3600, lambda: poll_openai_costs(deps))]
    if s.anthropic_admin_key:
        out += [("poll-anthropic-usage", s.poll_interval_s, lambda: poll_anthropic_usage(deps)),
                ("poll-anthropic-costs", 6 * 3600, lambda: poll_anthropic_costs(deps))]
    return out


def build_scheduler(deps: Deps, jobs: Jobs | None = None) -> AsyncIOScheduler:
    """Not started; call .start() inside the running event loop and .shutdown(wait=False) to stop."""
    jobs = jobs or Jobs(deps)
    scheduler = AsyncIOScheduler(timezone="UTC")
    start = deps.clock.now()  # first runs at start-up (the catch-up), then on APScheduler's interval
    planned: list[tuple[str, int, Callable[[], Awaitable[object]]]] = list(pollers(deps))
    planned += [("retention", 86400, jobs.retention), ("expired-reservations", 600, jobs.expired_reservations),
                ("fold-rollups", 300, jobs.fold_rollups), ("event-partitions", 86400, jobs.event_partitions)]
    if deps.slack is not None:
        planned += [("digests", 60, jobs.digests), ("warnings", deps.settings.scan_interval_s, jobs.warnings),
                    ("signals", SIGNALS_INTERVAL_S, jobs.signals), ("request-timers", 60, jobs.request_timers),
                    ("admin-digest", 300, jobs.admin_digest), ("steering", 300, jobs.steering)]
    for name, interval, job in planned:
        async def tick(name: str = name, interval: int = interval, job=job) -> None:  # noqa: ANN001
            await jobs.run(name, interval, job)

        scheduler.add_job(tick, IntervalTrigger(seconds=interval), id=name, name=name, max_instances=1, coalesce=True,
                          next_run_time=start, misfire_grace_time=None)
    return scheduler
